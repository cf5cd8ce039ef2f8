"""Helpers for the scorer's integration tests: streams, readers, a scorer thread, a private Redis.

Plain functions and classes (the fixtures are in ``tests.services.scorer_fixtures``).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.codec import decode_as, encode
from contracts.events import Decision, Transaction
from contracts.settings import MlflowSettings, Settings
from services.kafka.clients import make_producer
from services.kafka.reader import read_topic
from services.scoring.service import ScorerHandler
from services.scoring.wiring import ScorerConfig, build_scorer
from services.simulator import SimulatedEvent, SimulatorConfig, simulate
from services.stream.batch_consumer import LoopStats, MicroBatchConsumer
from services.stream.shutdown import StopFlag

__all__ = [
    "MINUTE",
    "T0",
    "PacedProducer",
    "PrivateRedis",
    "ScorerThread",
    "TrainedScorer",
    "card_payments",
    "decisions_by_tx",
    "history_gaps",
    "private_model_names",
    "produce_transactions",
    "read_decisions",
    "read_until_decided",
    "simulated_transactions",
    "start_scorer_process",
]


@dataclass(frozen=True)
class TrainedScorer:
    mlflow: MlflowSettings
    #: Registered version per family: xgboost (the champion), lightgbm, isolation_forest.
    versions: dict[str, str]


def private_model_names(trained: TrainedScorer, champion_family: str = "xgboost") -> MlflowSettings:
    """Registered models of their own (same trained runs), so a test may move their aliases.

    Version 1 is the XGBoost model, version 2 the LightGBM one; ``champion``
    points at ``champion_family``'s version.
    """
    from models.registry import LoggedModel, ModelRegistry

    tag = uuid.uuid4().hex[:8]
    mine = trained.mlflow.model_copy(
        update={"registered_model": f"scorer-{tag}", "cold_start_model": f"cold-start-{tag}"}
    )
    registry = ModelRegistry(trained.mlflow)
    versions: dict[str, str] = {}
    for family, name in (
        ("xgboost", mine.registered_model),
        ("lightgbm", mine.registered_model),
        ("isolation_forest", mine.cold_start_model),
    ):
        source_name = (
            trained.mlflow.cold_start_model
            if family == "isolation_forest"
            else trained.mlflow.registered_model
        )
        version = registry.client.get_model_version(source_name, trained.versions[family])
        logged = LoggedModel(run_id=version.run_id, source=version.source)
        versions[family] = registry.register(name, logged)
    registry.set_alias(mine.registered_model, "champion", versions[champion_family])
    registry.set_alias(mine.cold_start_model, "champion", versions["isolation_forest"])
    return mine


# -- streams ------------------------------------------------------------------------------

T0 = 1_736_157_600_000  # 2025-01-06T10:00Z
MINUTE = 60_000


def card_payments(
    cards: int, per_card: int, *, start_ms: int = T0, tag: str = "tx", **fields: object
) -> list[Transaction]:
    """Ordinary in-store payments: ``per_card`` for each card, a few minutes apart, in time order.

    Card ``k`` pays at merchant ``m-k`` from device ``dev-k``; ``fields`` override any field.
    """
    payments = []
    for n in range(per_card):
        for k in range(cards):
            values: dict[str, object] = {
                "tx_id": f"{tag}-{k}-{n}",
                "event_time_ms": start_ms + (n * cards + k) * MINUTE,
                "card_id": f"card-{k}",
                "customer_id": f"cust-{k}",
                "amount": 12.5 + n,
                "merchant_id": f"m-{k}",
                "country": "DE",
                "channel": "pos",
                "device_id": f"dev-{k}",
                "ip": f"10.0.0.{k + 1}",
                "lat": 52.52,
                "lon": 13.405,
                "account_created_ms": start_ms - 400 * 86_400_000,
            }
            values.update(fields)
            payments.append(Transaction(**values))  # type: ignore[arg-type]
    return payments


def simulated_transactions(config: SimulatorConfig) -> list[SimulatedEvent]:
    """The run's transactions (with their ground truth), in event-time order."""
    return [item for item in simulate(config) if isinstance(item.event, Transaction)]


def produce_transactions(
    settings: Settings, transactions: Iterable[Transaction], *, topic: str | None = None
) -> int:
    """Produce keyed by card id (as the payment system does) and wait for delivery."""
    producer = make_producer(settings.kafka)
    topic = topic or settings.kafka.topics.transactions
    count = 0
    for tx in transactions:
        producer.produce(topic, value=encode(tx), key=tx.card_id.encode())
        producer.poll(0)
        count += 1
    assert producer.flush(30) == 0, "transactions not delivered"
    return count


class PacedProducer:
    """Produces ``transactions`` at about ``per_second`` in a thread (a live payment stream)."""

    def __init__(self, settings: Settings, transactions: Sequence[Transaction], per_second: float):
        self.settings = settings
        self.transactions = list(transactions)
        self.interval_s = 1.0 / per_second
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)

    def _run(self) -> None:
        try:
            producer = make_producer(self.settings.kafka)
            topic = self.settings.kafka.topics.transactions
            started = time.monotonic()
            for i, tx in enumerate(self.transactions):
                delay = started + i * self.interval_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                producer.produce(topic, value=encode(tx), key=tx.card_id.encode())
                producer.poll(0)
            if producer.flush(30):
                raise AssertionError("paced transactions not delivered")
        except BaseException as exc:  # reported by join(), in the test's thread
            self.error = exc

    def start(self) -> PacedProducer:
        self._thread.start()
        return self

    def join(self, timeout_s: float = 120.0) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the paced producer did not finish"
        if self.error is not None:
            raise AssertionError(f"the paced producer failed: {self.error!r}") from self.error


def read_decisions(
    settings: Settings, count: int, *, topic: str | None = None, timeout_s: float = 60.0
) -> list[Decision]:
    """At least ``count`` decisions from the beginning (fewer only when ``timeout_s`` ran out).

    Waits for ``count`` records, then keeps reading until the topic is idle,
    so redelivered duplicates that follow are seen too.
    """
    topic = topic or settings.kafka.topics.decisions
    first = read_topic(settings.kafka, topic, max_records=count, timeout_s=timeout_s)
    if len(first) < count:
        return [decode_as(r.value, Decision) for r in first]
    records = read_topic(settings.kafka, topic, idle_ms=700, timeout_s=timeout_s)
    return [decode_as(r.value, Decision) for r in records]


def read_until_decided(
    settings: Settings, tx_ids: Iterable[str], *, timeout_s: float = 90.0
) -> list[Decision]:
    """Every decision so far, once each of ``tx_ids`` has one (or ``timeout_s`` ran out)."""
    wanted = set(tx_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        decisions = read_decisions(settings, len(wanted), timeout_s=timeout_s)
        if wanted <= {d.tx_id for d in decisions} or time.monotonic() > deadline:
            return decisions
        time.sleep(0.5)


def decisions_by_tx(decisions: Iterable[Decision]) -> dict[str, list[Decision]]:
    grouped: dict[str, list[Decision]] = collections.defaultdict(list)
    for decision in decisions:
        grouped[decision.tx_id].append(decision)
    return dict(grouped)


def history_gaps(
    decisions: Iterable[Decision], transactions: Sequence[Transaction]
) -> dict[str, list[tuple[float | None, int]]]:
    """Per card, where the served ``card_history_count`` differs from the true count.

    ``card_history_count`` is the number of earlier transactions of the card the
    store had counted. Over a fresh key prefix the true number is the card's
    position in its own event-time order, so a window that counted a
    redelivered transaction twice (or lost one) shows up as a mismatch.
    Returns ``{card: [(served, expected), ...]}`` for cards with mismatches.
    """
    position: dict[str, int] = {}
    seen: collections.Counter[str] = collections.Counter()
    for tx in sorted(transactions, key=lambda t: t.event_time_ms):
        position[tx.tx_id] = seen[tx.card_id]
        seen[tx.card_id] += 1
    gaps: dict[str, list[tuple[float | None, int]]] = collections.defaultdict(list)
    for decision in decisions:
        served = decision.features.get("card_history_count")
        if served != position[decision.tx_id]:
            gaps[decision.card_id].append((served, position[decision.tx_id]))
    return dict(gaps)


# -- a Redis of one's own ------------------------------------------------------------------


class PrivateRedis:
    """A redis-server on a free port that a test may stop and start (the session's is shared).

    Every write is in its append-only file before Redis answers (``appendfsync
    always``), so a restart, even after SIGKILL, comes back with what was
    acknowledged, as a production Redis with AOF does.
    """

    def __init__(self, directory: Path) -> None:
        from services.stack.ports import free_port

        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from services.stack.binaries import redis_binary
        from services.stack.readiness import redis_answers

        argv = [str(redis_binary()), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        argv += ["--dir", str(self.directory), "--daemonize", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while not redis_answers(self.port):
            assert self.process.poll() is None, (self.directory / "redis.log").read_text()
            assert time.monotonic() < deadline, "the private redis-server did not answer"
            time.sleep(0.05)

    def kill(self) -> None:
        """Stop it the hard way (SIGKILL), as a crash or a pulled plug does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


# -- a scorer process --------------------------------------------------------------------


def start_scorer_process(settings: Settings, log_file: Path, *args: str) -> subprocess.Popen[bytes]:
    """``fraudstream run scorer ARGS`` in its own process, configured by ``settings`` alone."""
    from tests.conftest import settings_env

    command = [str(Path(sys.executable).parent / "fraudstream"), "run", "scorer"]
    command += ["--metrics-port", "0", *args]
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, **settings_env(settings)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


# -- a scorer in a thread -----------------------------------------------------------------


class _AssignmentTracking:
    """The loop's consumer, subscribing with callbacks that record its partitions.

    (Asking the consumer itself from another thread while it consumes can block.)
    """

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self._lock = threading.Lock()
        self._held: set[tuple[str, int]] = set()

    def held(self) -> set[tuple[str, int]]:
        with self._lock:
            return set(self._held)

    def subscribe(
        self, topics: list[str], on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None
    ) -> None:
        # The loop's own callbacks run too (it tracks its partitions and commits on revoke).
        def assigned(consumer: Any, partitions: list[Any]) -> None:
            if on_assign is not None:
                on_assign(consumer, partitions)
            with self._lock:
                self._held |= {(p.topic, p.partition) for p in partitions}

        def revoked(consumer: Any, partitions: list[Any]) -> None:
            if on_revoke is not None:
                on_revoke(consumer, partitions)
            with self._lock:
                self._held -= {(p.topic, p.partition) for p in partitions}

        def lost(consumer: Any, partitions: list[Any]) -> None:
            if on_lost is not None:
                on_lost(consumer, partitions)
            with self._lock:
                self._held -= {(p.topic, p.partition) for p in partitions}

        self._consumer.subscribe(topics, on_assign=assigned, on_revoke=revoked, on_lost=lost)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


class ScorerThread:
    """``build_scorer``'s loop running in a thread until the context exits (or it fails)."""

    def __init__(self, settings: Settings, config: ScorerConfig | None = None) -> None:
        self.stop = StopFlag()
        built = build_scorer(settings, config or ScorerConfig(), stop=self.stop)
        self.loop: MicroBatchConsumer[object] = built[0]
        self.handler: ScorerHandler = built[1]
        self._tracking = _AssignmentTracking(self.loop.consumer)
        self.loop.consumer = self._tracking  # type: ignore[assignment]
        self.stats: LoopStats | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="scorer", daemon=True)

    def partitions(self) -> set[tuple[str, int]]:
        """The partitions this scorer holds now."""
        return self._tracking.held()

    def _run(self) -> None:
        try:
            self.stats = self.loop.run()
        except BaseException as exc:  # reported by __exit__, in the test's thread
            self.error = exc

    def __enter__(self) -> ScorerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the scorer did not stop within 30 s"
        if self.error is not None:
            raise AssertionError(f"the scorer failed: {self.error!r}") from self.error
