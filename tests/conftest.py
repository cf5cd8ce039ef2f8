"""Fixtures shared by the whole suite. These names are a contract: keep them stable.

Environment (automatic, whole session)
    Every ``FRAUDSTREAM_*`` variable inherited from the shell is removed,
    ``FRAUDSTREAM_STATE_DIR`` points at an empty temporary directory and
    ``FRAUDSTREAM_CONFIG`` at an empty TOML file. So ``load_settings()`` inside
    a test sees the built-in defaults only, never a developer's running stack
    (``.fraudstream/stack.toml``) or ``./fraudstream.toml``.

``local_stack`` (session) -> ``Settings``
    A real tansu broker and redis-server, started by ``services.stack.LocalStack``
    in a temporary state directory on free loopback ports (never the defaults,
    so a developer's own stack is untouched), stopped at the end of the session.
    If either program is missing the tests that need it fail with the reason;
    they are never skipped. A watchdog process stops the stack should the
    session be killed before its teardown. The returned settings also point ``state_dir``,
    ``data_dir`` and MLflow into that temporary directory.

``settings`` (function) -> ``Settings``
    ``local_stack`` made private to one test: every topic name gets a unique
    prefix (``t1a2b3c4d-transactions``, ...) and the topics are created with
    ``kafka.partitions`` partitions; ``redis.key_prefix`` gets the same unique
    tag (``fs1-t1a2b3c4d``); ``state_dir``, ``data_dir`` and MLflow's store
    live in the test's ``tmp_path``. The same settings are exported to the
    environment for the test's duration, so code that calls ``load_settings()``
    (CLI commands run with ``CliRunner``) sees exactly them. Afterwards the
    test's topics and the Redis keys containing its prefix are deleted.
    Need other partition counts? ``s = settings.model_copy(update={"kafka":
    settings.kafka.model_copy(update={"partitions": 1, "topics": ...})})`` and
    ``services.kafka.admin.ensure_topics(s.kafka)`` with new topic names.

``redis_client`` (function) -> ``redis.Redis``
    Connected to the stack's Redis, ``decode_responses=False`` (bytes in, bytes out).

``kafka_producer`` (function) -> ``confluent_kafka.Producer``
    ``services.kafka.clients.make_producer(settings.kafka)``; flushed at teardown.

``consume_all`` (function) -> the function ``consume_all`` below
    ``consume_all(settings, topic, *, count=None, idle_ms=500, timeout_s=30, raw=False)``:
    every message of ``topic`` from the beginning, decoded with
    ``contracts.codec.decode`` (``raw=True``: ``services.kafka.reader.Record``
    objects). Without ``count`` it stops when nothing arrived for ``idle_ms``;
    with ``count`` it waits (up to ``timeout_s``) until that many arrived. It
    joins no consumer group and commits nothing.

``settings_env(settings)`` (plain function, importable from ``tests.conftest``)
    The ``FRAUDSTREAM_*`` variables that reproduce ``settings`` in another
    process (for tests that start ``fraudstream`` as a subprocess).

Markers: a test that uses ``local_stack`` (directly or through ``settings``,
``redis_client``, ``kafka_producer``) is marked ``integration`` automatically.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Producer
from pydantic import BaseModel, SecretStr

from contracts.codec import decode
from contracts.events import Event
from contracts.settings import MlflowSettings, Settings, TopicNames
from services.exceptions import KafkaError, StackError
from services.kafka.admin import delete_topics, ensure_topics
from services.kafka.clients import make_producer
from services.kafka.reader import Record, read_topic
from services.stack import LocalStack

__all__ = ["consume_all", "settings_env"]

log = logging.getLogger(__name__)

_STACK_FIXTURE = "local_stack"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _STACK_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


# -- environment ----------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _hermetic_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("hermetic-env")
    empty_config = root / "fraudstream.toml"
    empty_config.write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("FRAUDSTREAM_")]:
            patch.delenv(name)
        patch.setenv("FRAUDSTREAM_STATE_DIR", str(root / "state"))
        patch.setenv("FRAUDSTREAM_CONFIG", str(empty_config))
        yield


def settings_env(settings: Settings) -> dict[str, str]:
    """``FRAUDSTREAM_*`` variables that make ``load_settings()`` return ``settings``.

    One variable per top-level field; nested sections go as JSON (secrets in clear,
    since the receiving process needs them).
    """
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = f"FRAUDSTREAM_{name.upper()}"
        env[key] = json.dumps(_plain(value)) if isinstance(value, BaseModel) else str(value)
    return env


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _mlflow_in(directory: Path) -> MlflowSettings:
    return MlflowSettings(
        tracking_uri=f"sqlite:///{directory / 'mlflow.db'}",
        artifact_location=(directory / "mlartifacts").as_uri(),
    )


# -- the stack ------------------------------------------------------------------------


@contextmanager
def memory_scratch_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A private directory in /dev/shm when there is one (MLflow's SQLite store
    writes a lot), else a pytest temporary directory; removed afterwards."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp below makes a private, unique directory
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp(name)
        return
    root = Path(tempfile.mkdtemp(prefix=f"fraudstream-{name}-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def local_stack(
    _hermetic_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("local-stack")
    state_dir = root / "state"
    stack = LocalStack(state_dir, kafka_port=0, redis_port=0)
    try:
        up = stack.up()
    except StackError as exc:
        pytest.fail(f"the local stack (tansu + redis-server) could not start: {exc}", pytrace=False)
    # Should this session be killed before its teardown, the watchdog stops the stack.
    with (root / "watchdog.log").open("wb") as watchdog_log:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "services.stack.watchdog", str(os.getpid()), str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=watchdog_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = Settings(state_dir=state_dir, data_dir=root / "data", mlflow=_mlflow_in(root))
    try:
        yield stack.settings(base, up=up)
    finally:
        watchdog.terminate()
        watchdog.wait(timeout=10)
        # Clients that tests dropped but a reference cycle keeps alive still hold a
        # connection, and tansu's graceful shutdown waits ~5 s for those: free them
        # first, and keep the grace short (the broker holds nothing worth draining).
        gc.collect()
        stack.down(timeout_s=2)


@pytest.fixture
def settings(
    local_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    tag = f"t{uuid.uuid4().hex[:8]}"
    topics = TopicNames(
        **{field: f"{tag}-{name}" for field, name in local_stack.kafka.topics.model_dump().items()}
    )
    kafka = local_stack.kafka.model_copy(update={"topics": topics})
    key_prefix = f"{local_stack.redis.key_prefix}-{tag}"
    test_settings = local_stack.model_copy(
        update={
            "kafka": kafka,
            "redis": local_stack.redis.model_copy(update={"key_prefix": key_prefix}),
            "state_dir": tmp_path / "state",
            "data_dir": tmp_path / "data",
            "mlflow": _mlflow_in(tmp_path),
        }
    )
    ensure_topics(kafka)
    for name, value in settings_env(test_settings).items():
        monkeypatch.setenv(name, value)
    yield test_settings
    _forget(test_settings)


def _forget(settings: Settings) -> None:
    """Delete a finished test's topics and Redis keys (hygiene: names are unique anyway)."""
    try:
        delete_topics(settings.kafka, settings.kafka.topics.all())
    except KafkaError as exc:
        log.warning("could not delete the test's topics: %s", exc)
    client = redis.Redis.from_url(settings.redis.url)
    try:
        doomed = list(client.scan_iter(match=f"*{settings.redis.key_prefix}*", count=1000))
        if doomed:
            client.unlink(*doomed)
    except redis.RedisError as exc:
        log.warning("could not delete the test's Redis keys: %s", exc)
    finally:
        client.close()


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(
        settings.redis.url,
        decode_responses=False,
        socket_timeout=settings.redis.socket_timeout_s,
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kafka_producer(settings: Settings) -> Iterator[Producer]:
    producer = make_producer(settings.kafka)
    try:
        yield producer
    finally:
        producer.flush(10)
        producer.close()  # pytest keeps fixture values referenced after teardown


# -- reading topics -------------------------------------------------------------------


def consume_all(
    settings: Settings,
    topic: str,
    *,
    count: int | None = None,
    idle_ms: int = 500,
    timeout_s: float = 30.0,
    raw: bool = False,
) -> list[Event] | list[Record]:
    """Every message of ``topic`` from the beginning (see the module docstring)."""
    records = read_topic(
        settings.kafka, topic, idle_ms=idle_ms, max_records=count, timeout_s=timeout_s
    )
    if raw:
        return records
    return [decode(record.value) for record in records]


@pytest.fixture(name="consume_all")
def consume_all_fixture() -> Any:
    return consume_all
