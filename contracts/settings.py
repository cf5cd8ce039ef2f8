"""One settings object for every process: defaults < stack file < config file < environment.

* Environment: ``FRAUDSTREAM_`` prefix, ``__`` between levels, e.g.
  ``FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS=broker:9092``,
  ``FRAUDSTREAM_REDIS__URL=redis://redis:6379/0``.
* Config file: TOML at ``$FRAUDSTREAM_CONFIG``, else ``./fraudstream.toml`` if present
  (same structure: ``[kafka]``, ``[redis]``, ...).
* Stack file: ``<state_dir>/stack.toml``, written by ``fraudstream stack up`` with the
  loopback addresses of the embedded broker and Redis it started, so that every
  other command finds them with no configuration. A real deployment simply has
  no stack file and sets the addresses by file or environment.

Constructing settings never connects to anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from contracts.errors import ConfigError

__all__ = [
    "DEFAULT_STATE_DIR",
    "KafkaSettings",
    "MlflowSettings",
    "RedisSettings",
    "Settings",
    "TopicNames",
    "load_settings",
    "stack_file",
]

DEFAULT_STATE_DIR = Path(".fraudstream")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicNames(_Section):
    """Kafka topic names. Transactions and decisions are keyed by card id."""

    transactions: str = "transactions"
    user_messages: str = "user-messages"
    decisions: str = "decisions"
    cases: str = "cases"
    explanations: str = "explanations"
    message_analyses: str = "message-analyses"
    labels: str = "labels"
    dead_letter: str = "transactions.dlq"

    def all(self) -> list[str]:
        return list(self.model_dump().values())


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:19092"
    #: Extra librdkafka settings for every client (security.protocol, sasl.mechanism, ...).
    client: dict[str, str] = Field(default_factory=dict)
    sasl_password: SecretStr | None = None
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    #: Kept explicit at topic creation: some brokers only report configs that were set.
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=60_000)
    topics: TopicNames = Field(default_factory=TopicNames)

    def client_config(self) -> dict[str, str]:
        """The base librdkafka configuration every producer, consumer and admin shares."""
        config = {"bootstrap.servers": self.bootstrap_servers, **self.client}
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:16379/0"
    password: SecretStr | None = None
    socket_timeout_s: float = Field(default=2.0, gt=0)
    #: Prefix of every key, carrying the layout version (see feature_store.online.keys).
    key_prefix: str = "fs1"


class MlflowSettings(_Section):
    #: Local SQLite store by default; any tracking server URI in production.
    tracking_uri: str = "sqlite:///.fraudstream/mlflow.db"
    artifact_location: str | None = None
    registered_model: str = "fraudstream-scorer"
    cold_start_model: str = "fraudstream-cold-start"


class StackSettings(_Section):
    #: Ports the local stack prefers; it falls back to a free port when one is taken.
    kafka_port: int = 19092
    redis_port: int = 16379


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRAUDSTREAM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = DEFAULT_STATE_DIR
    data_dir: Path = Path("data")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = _config_file()
        if config is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        state = stack_file()
        if state.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=state))
        return tuple(sources)


def stack_file(state_dir: Path | None = None) -> Path:
    """Where ``fraudstream stack up`` records the addresses of what it started."""
    base = state_dir or Path(os.environ.get("FRAUDSTREAM_STATE_DIR", DEFAULT_STATE_DIR))
    return base / "stack.toml"


def _config_file() -> Path | None:
    explicit = os.environ.get("FRAUDSTREAM_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("fraudstream.toml")
    return local if local.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from every source; keyword overrides win (tests, CLI flags).

    Raises ``ConfigError`` naming the bad setting(s) and where settings come from.
    """
    explicit = os.environ.get("FRAUDSTREAM_CONFIG")
    if explicit and not Path(explicit).is_file():
        raise ConfigError(f"FRAUDSTREAM_CONFIG points at {explicit}, which is not a file")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings ({problems}); settings come from FRAUDSTREAM_* variables, "
            "$FRAUDSTREAM_CONFIG or ./fraudstream.toml, and .fraudstream/stack.toml"
        ) from exc
