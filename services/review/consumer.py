"""The ingest consumer: six topics into the case store, one database transaction per batch.

Runs on ``MicroBatchConsumer``: a batch is decoded, written in one transaction,
and its offsets are committed only after that transaction committed, so a crash
anywhere redelivers the batch and the idempotent writes (see ``ingest.py``)
absorb it. Each topic must carry its own event kind; anything else (and a
decision that is not a flag or block on ``cases``) is dead-lettered with the
reason, never dropped silently.

Database unreachable or locked: the batch is retried with backoff (nothing is
committed meanwhile). A batch the database refuses for another reason is
written event by event, and the events it still refuses are dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Message

from contracts.codec import decode
from contracts.events import (
    Decision,
    Event,
    Explanation,
    MessageAnalysis,
    Transaction,
    UserMessage,
)
from contracts.settings import Settings, TopicNames
from services.kafka.clients import make_consumer, make_producer
from services.review.exceptions import ReviewStoreError
from services.review.ingest import IngestBatch
from services.review.store import ReviewStore
from services.stream.batch_consumer import BatchResult, MicroBatchConsumer, Retriable
from services.stream.dead_letter import DeadLetter, DeadLetterSink
from services.stream.delivery import DeliveryTracker
from services.stream.shutdown import StopFlag

__all__ = ["ReviewIngest", "build_ingest"]

log = logging.getLogger(__name__)


class ReviewIngest:
    """Batch handler: events from the review queue's topics -> one store transaction."""

    def __init__(
        self,
        store: ReviewStore,
        topics: TopicNames,
        *,
        prune_every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._kinds: dict[str, type] = {
            topics.cases: Decision,
            topics.decisions: Decision,
            topics.transactions: Transaction,
            topics.explanations: Explanation,
            topics.user_messages: UserMessage,
            topics.message_analyses: MessageAnalysis,
        }
        self._cases_topic = topics.cases
        self.topics = list(self._kinds)
        self.written: Counter[str] = Counter()
        self._prune_every_s = prune_every_s
        self._monotonic = monotonic
        self._last_prune = monotonic()

    def __call__(self, batch: list[tuple[Message, Event]]) -> BatchResult:
        letters: list[DeadLetter] = []
        accepted: list[tuple[Message, Event]] = []
        for message, event in batch:
            problem = self._check(message, event)
            if problem is None:
                accepted.append((message, event))
            else:
                letters.append(DeadLetter(message, problem, "review", "$.type"))
        letters += self._write(accepted)
        self._maybe_prune()
        return BatchResult(dead_letters=letters)

    def _check(self, message: Message, event: Event) -> str | None:
        topic = message.topic() or ""
        kind = self._kinds[topic]
        if not isinstance(event, kind):
            return f"topic {topic!r} carries {kind.__name__} events, not {type(event).__name__}"
        if topic == self._cases_topic and isinstance(event, Decision) and event.action == "allow":
            return "an allowed transaction is not a case (only flag and block decisions are)"
        return None

    def _batch(self, items: list[tuple[Message, Event]]) -> IngestBatch:
        batch = IngestBatch()
        received_at_ms = self.store.clock()
        for message, event in items:
            match event:
                case Decision() if message.topic() == self._cases_topic:
                    batch.add_case(event, received_at_ms)
                case Decision():
                    batch.add_decision(event)
                case Transaction():
                    batch.add_transaction(event)
                case Explanation():
                    batch.add_explanation(event)
                case UserMessage():
                    batch.add_message(event)
                case MessageAnalysis():
                    batch.add_analysis(event)
        return batch

    def _write(self, items: list[tuple[Message, Event]]) -> list[DeadLetter]:
        if not items:
            return []
        try:
            self.store.ingest(self._batch(items))
        except ReviewStoreError as exc:
            if exc.retriable:
                raise Retriable(str(exc)) from exc
            log.warning("the store refused a batch (%s); writing it event by event", exc)
            return self._write_one_by_one(items)
        self.written.update(type(event).__name__ for _, event in items)
        return []

    def _write_one_by_one(self, items: list[tuple[Message, Event]]) -> list[DeadLetter]:
        letters = []
        for message, event in items:
            try:
                self.store.ingest(self._batch([(message, event)]))
            except ReviewStoreError as exc:
                if exc.retriable:
                    raise Retriable(str(exc)) from exc
                letters.append(DeadLetter(message, str(exc), "review"))
            else:
                self.written[type(event).__name__] += 1
        return letters

    def _maybe_prune(self) -> None:
        if self._monotonic() - self._last_prune < self._prune_every_s:
            return
        self._last_prune = self._monotonic()
        try:
            deleted = self.store.prune_by_age()
        except ReviewStoreError as exc:
            log.warning("pruning old activity failed (next time, then): %s", exc)
            return
        if deleted:
            log.info("pruned %d rows of old activity", deleted)


def build_ingest(
    settings: Settings,
    store: ReviewStore,
    *,
    group_id: str = "fraudstream-review",
    max_batch: int = 500,
    max_wait_ms: int = 50,
    stop: StopFlag | None = None,
) -> tuple[MicroBatchConsumer[Event], ReviewIngest]:
    """The ingest consumer on every topic the review queue reads."""
    kafka = settings.kafka
    handler = ReviewIngest(store, kafka.topics)
    producer = make_producer(kafka)
    loop: MicroBatchConsumer[Event] = MicroBatchConsumer(
        make_consumer(kafka, group_id),
        producer,
        handler.topics,
        decode,
        handler,
        DeadLetterSink(producer, kafka.topics.dead_letter, DeliveryTracker()),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        stop=stop,
    )
    return loop, handler
