"""The local development stack: the embedded broker (tansu) and redis-server on loopback.

Layout under the state directory::

    <state_dir>/stack.toml        addresses for every other command (read by Settings)
    <state_dir>/stack/kafka.pid   pid on line 1, then port=, executable=, started_at_ms=
    <state_dir>/stack/kafka.log   the broker's output of its latest start
    <state_dir>/stack/redis.pid
    <state_dir>/stack/redis.log
    <state_dir>/stack/redis/      redis' working directory (nothing is persisted)

Both servers keep everything in memory: the stack is for development and
tests, and a restart starts empty. ``up`` is idempotent (a running server is
left alone, a dead one is restarted, topics are always ensured), ``down`` is
safe when nothing runs, and stale pid files are cleaned wherever they are met.
"""

from __future__ import annotations

import fcntl
import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from contracts.settings import KafkaSettings, Settings, stack_file
from services.exceptions import KafkaError, StackError
from services.kafka.admin import ensure_topics, list_topics
from services.stack.binaries import redis_binary, tansu_binary
from services.stack.daemon import Daemon, DaemonRecord
from services.stack.ports import LOOPBACK, choose_port
from services.stack.readiness import (
    PortTakenError,
    broker_answers,
    redis_answers,
    wait_until_ready,
)

__all__ = ["LocalStack", "ServiceStatus", "StackStatus", "StackUp"]

# Environment variables tansu reads that would silently change what we start.
_TANSU_ENV = ("SCHEMA_REGISTRY", "STORAGE_ENGINE", "OTEL_EXPORTER_OTLP_ENDPOINT")
# A port can be stolen between choosing it and the server binding it; retry a few times.
_PORT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One server of the stack as found now."""

    name: str
    address: str | None
    pid: int | None
    alive: bool
    #: The server answered its protocol (metadata request / PING), not merely exists.
    responding: bool
    #: A pid file named a process that is gone; it has been removed.
    stale_pid_file_removed: bool
    log_file: Path


@dataclass(frozen=True, slots=True)
class StackStatus:
    kafka: ServiceStatus
    redis: ServiceStatus
    stack_file: Path
    #: ``{topic: partitions}`` when the broker answered, else None.
    topics: dict[str, int] | None
    topics_error: str | None = None

    @property
    def healthy(self) -> bool:
        return all(s.alive and s.responding for s in (self.kafka, self.redis))


@dataclass(frozen=True, slots=True)
class StackUp:
    """What ``up`` did."""

    kafka: DaemonRecord
    redis: DaemonRecord
    #: Names of the servers this call started (the others were already running).
    started: tuple[str, ...]
    #: ``{topic: created}`` for every configured topic.
    topics: dict[str, bool]
    #: ``{name: (preferred port, port used)}`` where the preferred one was taken.
    port_fallbacks: dict[str, tuple[int, int]] = field(default_factory=dict)
    stack_file_written: bool = False

    @property
    def kafka_address(self) -> str:
        return f"{LOOPBACK}:{self.kafka.port}"

    @property
    def redis_url(self) -> str:
        return _redis_url(self.redis.port)


class LocalStack:
    """Start, stop and inspect the local stack kept in ``state_dir``.

    Ports are preferences: a taken port falls back to a free one (0 means any
    free port). ``tansu_bin``/``redis_bin`` override the resolved programs.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        kafka_port: int = 19092,
        redis_port: int = 16379,
        ready_timeout_s: float = 20.0,
        tansu_bin: Path | None = None,
        redis_bin: Path | None = None,
    ) -> None:
        # Absolute: servers run in other working directories (a relative --dir or log
        # path there would point nowhere).
        self.state_dir = Path(state_dir).resolve()
        self.directory = self.state_dir / "stack"
        self.stack_file = stack_file(self.state_dir)
        self.kafka_port = kafka_port
        self.redis_port = redis_port
        self.ready_timeout_s = ready_timeout_s
        self._tansu_bin = tansu_bin
        self._redis_bin = redis_bin
        self.kafka = Daemon("kafka", self.directory)
        self.redis = Daemon("redis", self.directory)

    @classmethod
    def from_settings(cls, settings: Settings, state_dir: Path | None = None) -> LocalStack:
        return cls(
            state_dir or settings.state_dir,
            kafka_port=settings.stack.kafka_port,
            redis_port=settings.stack.redis_port,
        )

    # -- up ---------------------------------------------------------------------------

    def up(self, kafka: KafkaSettings | None = None) -> StackUp:
        """Start whatever is not running, create the topics, write ``stack.toml``.

        ``kafka`` supplies topic names, partitions and retention (defaults when None);
        its addresses and client settings are ignored in favour of the local broker.
        If a server fails to start, the servers this call started are stopped again.
        """
        started: list[Daemon] = []
        fallbacks: dict[str, tuple[int, int]] = {}
        with self._exclusive():
            try:
                kafka_record = self._ensure_running(self.kafka, started, fallbacks)
                redis_record = self._ensure_running(self.redis, started, fallbacks)
            except BaseException:
                for daemon in started:
                    daemon.stop()
                raise
            local_kafka = self.kafka_settings(kafka or KafkaSettings(), kafka_record.port)
            topics = ensure_topics(local_kafka)
            written = self._write_stack_file(kafka_record.port, redis_record.port)
        return StackUp(
            kafka=kafka_record,
            redis=redis_record,
            started=tuple(d.name for d in started),
            topics=topics,
            port_fallbacks=fallbacks,
            stack_file_written=written,
        )

    def _ensure_running(
        self, daemon: Daemon, started: list[Daemon], fallbacks: dict[str, tuple[int, int]]
    ) -> DaemonRecord:
        """``daemon``'s live record, starting it first when needed (appended to ``started``)."""
        argv_for: Callable[[int], list[str]]
        if daemon is self.kafka:
            preferred, argv_for, answers = self.kafka_port, self._broker_argv, broker_answers
        else:
            preferred, argv_for, answers = self.redis_port, self._redis_argv, redis_answers
        running = daemon.running()
        if running is not None:
            return running
        previous = daemon.record()
        daemon.remove_pid_file()
        # After a crash, come back on the same port so stack.toml stays true.
        if previous is not None and previous.port:
            want = previous.port
        else:
            want = self._port_in_stack_file(daemon.name) or preferred
        for attempt in range(_PORT_ATTEMPTS):
            port = choose_port(want if attempt == 0 else 0)
            record = daemon.start(argv_for(port), port=port, cwd=self.directory, env=_child_env())
            started.append(daemon)
            try:
                wait_until_ready(daemon, port, answers, timeout_s=self.ready_timeout_s)
            except PortTakenError:
                daemon.stop()
                started.remove(daemon)
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                continue
            if want and port != want:
                fallbacks[daemon.name] = (want, port)
            return record
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _port_in_stack_file(self, name: str) -> int | None:
        """The port ``stack.toml`` announces for ``name`` (None when absent or unreadable)."""
        try:
            announced = tomllib.loads(self.stack_file.read_text(encoding="utf-8"))
            if name == "kafka":
                return int(str(announced["kafka"]["bootstrap_servers"]).rsplit(":", 1)[1])
            return urlsplit(str(announced["redis"]["url"])).port
        except (OSError, tomllib.TOMLDecodeError, KeyError, IndexError, TypeError, ValueError):
            return None

    def _broker_argv(self, port: int) -> list[str]:
        binary = self._tansu_bin or tansu_binary()
        url = f"tcp://{LOOPBACK}:{port}"
        return [
            str(binary), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def _redis_argv(self, port: int) -> list[str]:
        binary = self._redis_bin or redis_binary()
        data_dir = self.directory / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(binary),
            "--port", str(port),
            "--bind", LOOPBACK,
            # Memory only: no RDB snapshots, no append-only file.
            "--save", "",
            "--appendonly", "no",
            "--dir", str(data_dir),
            "--daemonize", "no",
            "--logfile", "",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def _write_stack_file(self, kafka_port: int, redis_port: int) -> bool:
        text = (
            "# Written by `fraudstream stack up`, removed by `fraudstream stack down`.\n"
            "# Settings read it as a low-priority source: config files and FRAUDSTREAM_*\n"
            "# environment variables still win.\n"
            "[kafka]\n"
            f'bootstrap_servers = "{LOOPBACK}:{kafka_port}"\n'
            "# Simulated streams (`fraudstream simulate` in Kafka mode) run days ahead of\n"
            "# the clock: the check that refuses future-dated events is off here.\n"
            "max_event_ahead_s = 0\n\n"
            "[redis]\n"
            f'url = "{_redis_url(redis_port)}"\n'
        )
        try:
            if self.stack_file.read_text(encoding="utf-8") == text:
                return False
        except OSError:
            pass
        temporary = self.stack_file.with_suffix(".toml.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(self.stack_file)
        return True

    # -- down -------------------------------------------------------------------------

    def down(self, *, timeout_s: float = 10.0) -> dict[str, str]:
        """Stop both servers; ``{name: "stopped" | "killed" | "not running"}``."""
        with self._exclusive():
            outcome = {d.name: d.stop(timeout_s=timeout_s) for d in (self.kafka, self.redis)}
            self.stack_file.unlink(missing_ok=True)
        return outcome

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per state directory (two shells, two test workers)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- status -----------------------------------------------------------------------

    def status(self) -> StackStatus:
        """What runs now. Stale pid files are removed on the way."""
        # Under the up/down lock: an `up` between reading a stale pid file and
        # removing it would have its new server's file removed, orphaning it.
        with self._exclusive():
            kafka_record, kafka = self._inspect(self.kafka, lambda port: f"{LOOPBACK}:{port}")
            redis_record, redis_status = self._inspect(self.redis, _redis_url)
        topics: dict[str, int] | None = None
        topics_error: str | None = None
        if kafka_record is not None:
            try:
                topics = list_topics(self.kafka_settings(KafkaSettings(), kafka_record.port))
            except KafkaError as exc:
                topics_error = str(exc)
            kafka = replace(kafka, responding=topics is not None)
        if redis_record is not None:
            redis_status = replace(redis_status, responding=redis_answers(redis_record.port))
        return StackStatus(
            kafka=kafka,
            redis=redis_status,
            stack_file=self.stack_file,
            topics=topics,
            topics_error=topics_error,
        )

    def _inspect(
        self, daemon: Daemon, address: Callable[[int], str]
    ) -> tuple[DaemonRecord | None, ServiceStatus]:
        record = daemon.record()
        running = daemon.running()
        stale = record is not None and running is None
        if stale:
            daemon.remove_pid_file()
        status = ServiceStatus(
            name=daemon.name,
            address=address(record.port) if record is not None and record.port else None,
            pid=record.pid if record is not None else None,
            alive=running is not None,
            responding=False,
            stale_pid_file_removed=stale,
            log_file=daemon.log_file,
        )
        return running, status

    # -- settings ---------------------------------------------------------------------

    @staticmethod
    def kafka_settings(base: KafkaSettings, port: int) -> KafkaSettings:
        """``base`` pointed at the local broker, without any production client settings."""
        return base.model_copy(
            update={"bootstrap_servers": f"{LOOPBACK}:{port}", "client": {}, "sasl_password": None}
        )

    def settings(self, base: Settings, *, up: StackUp | None = None) -> Settings:
        """``base`` pointed at this running stack (addresses from ``up`` or the pid files)."""
        kafka = up.kafka if up is not None else self.kafka.running()
        redis_record = up.redis if up is not None else self.redis.running()
        if kafka is None or redis_record is None:
            raise StackError(f"the local stack in {self.state_dir} is not running")
        return base.model_copy(
            update={
                "state_dir": self.state_dir,
                "kafka": self.kafka_settings(base.kafka, kafka.port),
                "redis": base.redis.model_copy(
                    update={"url": _redis_url(redis_record.port), "password": None}
                ),
            }
        )


def _redis_url(port: int) -> str:
    return f"redis://{LOOPBACK}:{port}/0"


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    env["NO_COLOR"] = "1"  # plain log files, no ANSI escapes
    return env
