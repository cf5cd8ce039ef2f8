"""The scorer as a Kafka service: the batch handler around ``ScoringPipeline``.

Per micro-batch (the loop in ``services.stream.batch_consumer`` decodes,
dead-letters malformed input, and commits only after delivery):

1. score the batch (one feature-store round trip, models, rules, policy, SHAP);
2. send its decision records (one script call): a redelivered transaction
   re-emits the decision of its first delivery, byte for byte;
3. ``finish`` (called by the loop after the next batch is handled, when that
   one is already in hand, so Redis writes the records while it is scored):
   read the records' answer, produce each decision to ``decisions`` (key =
   card id) and flagged/blocked ones to ``cases``;
4. between batches: pick up a new champion or rule set if one appeared.

Degraded policy when Redis (features) is unreachable, chosen by ``--degraded``:

* ``retry`` (default): the batch waits and is retried with backoff; nothing is
  decided without features, consumer lag grows, nothing is lost.
* ``rules-only``: decide now from the transaction alone with the rules
  (decisions marked ``degraded`` with reason ``D_FEATURES_UNAVAILABLE``); the
  transactions are kept (up to ``backlog_limit``) and counted into the feature
  windows, with their decisions recorded, as soon as Redis answers again. Past
  the limit the scorer falls back to ``retry``. The backlog is counted at the
  next batch or, when none comes, as soon as Redis answers (checked once a
  second), and tried once more when the scorer stops. It lives in memory: a
  stop while Redis is still down, or a crash, loses its window counts (their
  offsets are committed) but not its decisions, which were delivered; a
  stop logs the transactions concerned as an error. And a
  transaction redelivered during the outage (after a restart or rebalance)
  is decided again by the rules, since its first decision, kept in Redis,
  cannot be looked up: it may get two different decisions. ``retry`` has
  neither cost.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from confluent_kafka import Message, Producer

from contracts.codec import encode
from contracts.events import Decision, Transaction
from contracts.settings import TopicNames
from feature_store.engine import SentChunks
from feature_store.exceptions import StoreUnavailableError
from services.scoring import metrics
from services.scoring.decision_log import DecisionRecords, SentRecords
from services.scoring.pipeline import ScoredBatch, ScoringPipeline
from services.stream.batch_consumer import BatchResult, Retriable
from services.stream.delivery import DeliveryTracker, TrackedProducer

__all__ = ["DegradedPolicy", "ScorerHandler"]

log = logging.getLogger(__name__)
DegradedPolicy = Literal["retry", "rules-only"]


class ScorerHandler:
    def __init__(
        self,
        pipeline: ScoringPipeline,
        records: DecisionRecords,
        producer: Producer | TrackedProducer,
        tracker: DeliveryTracker,
        topics: TopicNames,
        *,
        degraded: DegradedPolicy = "retry",
        backlog_limit: int = 100_000,
        between_batches: Callable[[], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.records = records
        self.producer = producer
        self.tracker = tracker
        self.topics = topics
        self.degraded = degraded
        self.backlog_limit = backlog_limit
        self.between_batches = between_batches
        self.backlog: list[tuple[Transaction, Decision]] = []
        self._next_drain = 0.0  # (monotonic) no drain attempt before, while Redis is down
        self.emitted = 0
        self.last_batch: ScoredBatch | None = None
        # Batches whose features were sent before the batch before them was
        # finished, by id() of the batch list, oldest first (at most two are kept).
        self._sent: dict[int, tuple[object, SentChunks]] = {}
        self.prefetched = 0  # batches scored with features sent ahead

    def prefetch(self, batch: list[tuple[Message, Transaction]]) -> bool:
        """Send ``batch``'s features now, so Redis computes them while the batch
        before it is scored; ``__call__`` on the same batch reads them.

        Not while transactions decided without features wait to be counted
        (they must be counted first), and never an error: a failed send is
        simply redone by ``__call__``. True when the features went out.
        """
        if self.backlog:
            return False
        transactions = [tx for _, tx in batch]
        try:
            self._sent[id(batch)] = (batch, self.pipeline.send_features(transactions))
        except StoreUnavailableError:
            return False
        while len(self._sent) > 2:  # never read (the loop stopped): the replies are skipped
            del self._sent[next(iter(self._sent))]
        return True

    def __call__(self, batch: list[tuple[Message, Transaction]]) -> BatchResult:
        if self.between_batches is not None:
            self.between_batches()
        sent = self._sent.pop(id(batch), None)  # used once: a retry sends afresh
        ahead = sent[1] if sent is not None and sent[0] is batch and not self.backlog else None
        if ahead is not None:
            transactions = ahead.transactions
            self.prefetched += 1
        else:
            transactions = [tx for _, tx in batch]
        try:
            self._drain_backlog()
            scored = self.pipeline.score(transactions, sent=ahead)
            # Encoded once: the same bytes are recorded and produced.
            payloads = [encode(decision) for decision in scored.decisions]
            records = self.records.send(scored.decisions, payloads)
        except StoreUnavailableError as exc:
            if self.degraded == "retry" or len(self.backlog) + len(batch) > self.backlog_limit:
                raise Retriable(str(exc)) from exc
            log.warning("features unavailable, deciding %d by rules only: %s", len(batch), exc)
            scored = self.pipeline.score_degraded(transactions)
            self.backlog.extend(zip(transactions, scored.decisions, strict=True))
            metrics.DEGRADED_BATCHES.inc()
            self._settled(scored, [(d, encode(d)) for d in scored.decisions], 0, len(batch))
            return BatchResult()
        # The records are written while the loop handles the next batch (if it has
        # one in hand); ``finish`` then reads the answer and produces.
        return BatchResult(finish=lambda: self._finish(scored, records, transactions))

    def _finish(
        self, scored: ScoredBatch, records: SentRecords, transactions: Sequence[Transaction]
    ) -> BatchResult:
        """Read the decision records' answer and produce what it says (first decision wins)."""
        try:
            settled, earlier = self.records.receive(records)
        except StoreUnavailableError as exc:
            if self.degraded == "retry" or len(self.backlog) + len(scored.decisions) > (
                self.backlog_limit
            ):
                raise Retriable(str(exc)) from exc  # called again: receive() resends
            # rules-only: these decisions were made on real features; they go out now and
            # are recorded with the backlog (their features were counted, and the
            # backlog's recount is deduplicated on transaction id).
            log.warning(
                "decision records unavailable, %d recorded later: %s", len(transactions), exc
            )
            self.backlog.extend(zip(transactions, scored.decisions, strict=True))
            settled, earlier = list(zip(scored.decisions, records.payloads, strict=True)), 0
        self._settled(scored, settled, earlier, len(transactions))
        return BatchResult()

    def _settled(
        self,
        scored: ScoredBatch,
        settled: list[tuple[Decision, bytes]],
        earlier: int,
        size: int,
    ) -> None:
        self._emit(settled)
        self._observe(scored, settled, earlier, size)
        self.last_batch = scored

    def idle(self) -> None:
        """No batch came: count the backlog now if Redis answers again (tried at
        most once a second), rather than wait for the next transaction."""
        if not self.backlog or time.monotonic() < self._next_drain:
            return
        try:
            self._drain_backlog()
        except StoreUnavailableError as exc:
            self._next_drain = time.monotonic() + _DRAIN_RETRY_S
            log.debug("backlog of %d still waits for Redis: %s", len(self.backlog), exc)

    def closing(self) -> None:
        """The loop stops: a last try at the backlog; what cannot be counted is said loudly.

        Its offsets are committed (the decisions were delivered), so nothing
        brings these transactions back: their window counts are lost, and the
        log names them for whoever replays them into the store.
        """
        if not self.backlog:
            return
        try:
            self._drain_backlog()
        except StoreUnavailableError as exc:
            shown = ", ".join(tx.tx_id for tx, _ in self.backlog[:10])
            log.error(
                "stopping with %d transaction(s) decided by the rules alone and never "
                "counted into the feature windows (Redis: %s); the first: %s",
                len(self.backlog), exc, shown,
            )  # fmt: skip

    def _drain_backlog(self) -> None:
        """Count the transactions decided while Redis was down, and record their decisions."""
        if not self.backlog:
            return
        transactions = [tx for tx, _ in self.backlog]
        for start in range(0, len(transactions), 512):
            self.pipeline.engine.process(transactions[start : start + 512])
        self.records.settle([decision for _, decision in self.backlog])
        log.info("features back: %d degraded transactions counted", len(self.backlog))
        self.backlog.clear()

    def _emit(self, settled: list[tuple[Decision, bytes]]) -> None:
        produce, report = self.producer.produce, self.tracker.report
        decisions_topic, cases_topic = self.topics.decisions, self.topics.cases
        for decision, payload in settled:
            key = decision.card_id.encode()
            produce(decisions_topic, value=payload, key=key, on_delivery=report)
            if decision.action != "allow":
                produce(cases_topic, value=payload, key=key, on_delivery=report)
        self.producer.poll(0)  # serve delivery callbacks without waiting
        self.emitted += len(settled)

    @staticmethod
    def _observe(
        scored: ScoredBatch, settled: list[tuple[Decision, bytes]], earlier: int, size: int
    ) -> None:
        metrics.TRANSACTIONS.inc(size)
        metrics.BATCH_SIZE.observe(size)
        metrics.REDELIVERED.inc(earlier)
        for stage, ms in scored.stage_ms.items():
            metrics.STAGE_SECONDS.labels(stage).observe(ms / 1000)
        # One labelled increment per action, not per decision (a label look-up is ~1 µs).
        for action, count in Counter(decision.action for decision, _ in settled).items():
            metrics.DECISIONS.labels(action).inc(count)


#: While Redis is down, how often a quiet scorer tries to count its backlog.
_DRAIN_RETRY_S = 1.0


def periodic(every_s: float, action: Callable[[], None]) -> Callable[[], None]:
    """``action`` at most once per ``every_s`` seconds (for model/rule reload checks)."""
    last = [float("-inf")]

    def maybe() -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            action()

    return maybe
