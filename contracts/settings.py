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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
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
    "LlmPrecision",
    "LlmSettings",
    "MlflowSettings",
    "RedisSettings",
    "RetrainSettings",
    "ReviewSettings",
    "Settings",
    "TopicNames",
    "load_settings",
    "stack_file",
]

DEFAULT_STATE_DIR = Path(".fraudstream")
#: The language model's float type: ``auto`` is bf16 only where the hardware computes in it.
LlmPrecision = Literal["auto", "bfloat16", "float32"]


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
    #: Transactions and labels dated more than this past the consuming host's
    #: clock are dead-lettered (one dated years ahead would freeze its card's
    #: windows). 0 turns the check off: the embedded local stack does (its
    #: simulated streams compress days into seconds, ahead of the clock).
    max_event_ahead_s: int = Field(default=300, ge=0)

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
    #: How long a transaction is remembered for exactly-once effect: its feature
    #: reply (~200 bytes) and its decision record (~0.9-1.1 KB). A redelivery or
    #: replay older than this counts again. Memory is about rate x TTL x 1.3 KB
    #: (~112 GB per day of TTL at 1,000 tx/s): size it to the longest redelivery
    #: you must absorb.
    dedup_ttl_s: int = Field(default=7 * 86_400, gt=0)
    #: How long a label is remembered, so a second copy of a transaction's label
    #: (the analyst's verdict, then the chargeback) counts once: at least the
    #: chargeback time limit (120 days). ~100 bytes per label.
    label_dedup_ttl_s: int = Field(default=120 * 86_400, gt=0)


class MlflowSettings(_Section):
    #: Local SQLite store by default; any tracking server URI in production.
    tracking_uri: str = "sqlite:///.fraudstream/mlflow.db"
    artifact_location: str | None = None
    registered_model: str = "fraudstream-scorer"
    cold_start_model: str = "fraudstream-cold-start"


class LlmSettings(_Section):
    """The language-model worker (explanations, message analyses). Off the hot path."""

    #: Where the GGUF base model is converted once into a bf16 safetensors folder.
    base_dir: Path = Path(".fraudstream/llm/base")
    #: Local adapter folders (also logged to MLflow as artifacts, versioned).
    adapters_dir: Path = Path(".fraudstream/llm/adapters")
    explain_model: str = "fraudstream-llm-explain"
    analyse_model: str = "fraudstream-llm-analyse"
    #: Registry alias (or version number) of the adapters the worker loads.
    adapter_alias: str = "champion"
    #: Explanations per model batch. 1 (with prompt-lookup decoding) gives the lowest latency
    #: at about the throughput of 4 on 2 CPU cores (`fraudstream llm bench`).
    batch_size: int = Field(default=1, ge=1)
    max_wait_ms: int = Field(default=200, ge=0)
    #: Requests waiting for the model; beyond this a flagged case gets the template.
    queue_limit: int = Field(default=256, ge=1)
    #: Longest time one request may wait + generate before the template is used.
    request_timeout_s: float = Field(default=5.0, gt=0)
    #: Bounds every explanation (the longest training target is ~110 tokens).
    max_new_tokens: int = Field(default=128, ge=8, le=512)
    #: Decode explanations under the citation constraint (only tokens that keep every
    #: number, feature, value, rule and level true to the case); false: free greedy decoding.
    constrained_decoding: bool = True
    #: Compute explanation logits only for the explain adapter's answer vocabulary and
    #: the prompt's tokens (~10x less work in the output layer); false: all 262,144.
    restrict_vocabulary: bool = True
    #: Weights and training compute in bf16 or float32; auto: bf16 only on a GPU or a CPU
    #: with native bf16 (AVX-512 / AMX). An AVX2-only CPU emulates bf16 ~50x slower.
    dtype: LlmPrecision = "auto"
    #: The worker's model pauses between steps while other processes use more than this
    #: many cores (``services.llm_worker.cpu_yield``); the number of cores: never pauses.
    yield_busy_cores: float = Field(default=0.5, gt=0)


class ReviewSettings(_Section):
    """The analysts' review queue (case store, HTTP API, web page)."""

    #: SQLAlchemy URL (PostgreSQL in docker-compose); unset: SQLite file review.db in state_dir.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: Signs session tokens; set it in production (a random one is made per state dir).
    secret_key: SecretStr | None = None
    token_ttl_s: int = Field(default=8 * 3600, ge=60)
    #: Login throttling: a user name with this many failed logins in ``login_window_s`` ...
    login_max_failures: int = Field(default=10, ge=1)
    #: ... or a client address with this many (whatever the names) ...
    login_max_failures_per_client: int = Field(default=50, ge=1)
    #: ... is refused (HTTP 429) until its oldest failure in the window is this old.
    login_window_s: int = Field(default=900, ge=1)
    #: A claim lapses after this long, so a case left by an analyst who went home reopens.
    claim_ttl_s: int = Field(default=30 * 60, ge=10)
    #: Session cookie only over HTTPS; set it when a TLS proxy is in front.
    cookie_secure: bool = False
    #: The customer's recent activity kept for the case view: newest N per customer ...
    recent_per_customer: int = Field(default=50, ge=1)
    #: ... and no older than this many days (cases keep their own transaction).
    recent_days: int = Field(default=30, ge=1)
    #: Cases per page in the queue (the API caps its own page size at 200).
    page_size: int = Field(default=50, ge=1, le=200)


class RetrainSettings(_Section):
    """The periodic retraining job and drift report."""

    #: The decision log archive (decisions with features as served), Parquet.
    decision_log_dir: Path = Path(".fraudstream/decision-log")
    reports_dir: Path = Path(".fraudstream/retrain")
    #: PSI above this on any feature or on the score is reported as drift.
    psi_threshold: float = Field(default=0.2, gt=0)
    #: The most recent slice (days before the cutoff) champion and challenger are judged on.
    test_days: float = Field(default=7.0, gt=0)
    #: Days between the training rows and that slice, for label delay.
    gap_days: float = Field(default=7.0, ge=0)
    #: Unlabelled training rows older than this at the label cutoff count as legitimate.
    maturity_days: float = Field(default=14.0, ge=0)
    #: Promotion: the challenger's PR-AUC must beat the champion's by at least this ...
    min_average_precision_gain: float = Field(default=0.005, ge=0)
    #: ... with a paired-bootstrap p-value below this ...
    alpha: float = Field(default=0.05, gt=0, lt=1)
    #: ... estimated from this many resamples of the slice's cards ...
    bootstrap_rounds: int = Field(default=1000, ge=100)
    #: ... on a slice with at least this many known fraud rows (else the champion stays).
    min_fraud_rows: int = Field(default=10, ge=1)
    #: A feature whose ROC AUC alone reaches this on the training rows is refused as a leak.
    leak_auc: float = Field(default=0.99, gt=0.5, le=1.0)


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
    llm: LlmSettings = Field(default_factory=LlmSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @model_validator(mode="before")
    @classmethod
    def _paths_follow_the_state_dir(cls, data: Any) -> Any:
        """Defaults that live in the state directory move with it (MLflow's store and
        so its artifacts, the LLM folders, the decision log, the retrain reports):
        two stacks in one checkout, each with its own state_dir, must not share a
        registry where one's `promote` moves the other's champion. A value given
        for any of them is kept."""
        if not isinstance(data, dict) or data.get("state_dir") is None:
            return data
        state = Path(data["state_dir"])
        if state == DEFAULT_STATE_DIR:
            return data
        data = dict(data)
        for section, key, value in _under_state_dir(state):
            given = data.get(section)
            if given is None:
                given = {}
            if isinstance(given, dict) and key not in given:
                data[section] = {**given, key: value}
        return data

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
            sources.append(_StackFileSource(settings_cls, state, higher=tuple(sources)))
        return tuple(sources)


class _StackFileSource(TomlConfigSettingsSource):
    """The local stack's ``stack.toml``, one section at a time as a unit.

    Sources merge field by field: with a real broker named in the environment,
    a leftover stack file's other Kafka fields (its ``max_event_ahead_s = 0``,
    meant for simulated streams) would still apply to that broker. So a section
    whose address a higher source gives (another broker, another Redis) is
    taken from the stack file not at all.
    """

    _ADDRESSES = (("kafka", "bootstrap_servers"), ("redis", "url"))

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        toml_file: Path,
        *,
        higher: tuple[PydanticBaseSettingsSource, ...],
    ) -> None:
        super().__init__(settings_cls, toml_file=toml_file)
        self._higher = higher

    def __call__(self) -> dict[str, Any]:
        data = dict(super().__call__())
        given = [source() for source in self._higher]
        for section, address in self._ADDRESSES:
            if any(_names(values.get(section), address) for values in given):
                data.pop(section, None)
        return data


def _names(section: Any, field: str) -> bool:
    """Whether a source's value for a section sets ``field`` (or is a whole section)."""
    if isinstance(section, BaseModel):
        return True
    return isinstance(section, dict) and field in section


def _under_state_dir(state: Path) -> list[tuple[str, str, object]]:
    """(section, field, value) of the defaults kept in the state directory ``state``."""
    return [
        ("mlflow", "tracking_uri", f"sqlite:///{state / 'mlflow.db'}"),
        ("llm", "base_dir", state / "llm" / "base"),
        ("llm", "adapters_dir", state / "llm" / "adapters"),
        ("retrain", "decision_log_dir", state / "decision-log"),
        ("retrain", "reports_dir", state / "retrain"),
    ]


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
