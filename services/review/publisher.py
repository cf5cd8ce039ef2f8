"""The outbox publisher: sends unsent verdict labels to the labels topic, then stamps them.

One round: take up to ``batch_size`` unsent rows (locked against a second
publisher on PostgreSQL), produce each (key = card id), flush, and stamp
``sent_at_ms`` on those the broker acknowledged, in the same database
transaction. A row whose delivery failed stays unsent and goes in a later
round. A row still unacknowledged when the round's flush gives up (a slow or
stopped broker) is not produced again: librdkafka keeps retrying it, and its
acknowledgement, whenever it comes, is stamped by the next round; only a
delivery that failed makes it go again. (Before, each round re-produced it:
one label went out ~27 times over a 5-minute broker outage.) See ``outbox.py``
for what a crash between acknowledgement and stamp means (a duplicate on the
topic that every label consumer absorbs).

``wake()`` starts a round at once (the web app calls it after each verdict);
otherwise a round runs every ``interval_s``.

A fatal producer error (librdkafka's word for a client that can never send
again, e.g. a fenced idempotent producer) would make every later round fail
the same way, forever: the publisher then makes a new producer
(``make_producer``) and the labels that were in flight go again with it (a
duplicate, if one had in fact arrived, is absorbed by the label consumers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import Message, Producer

from services.exceptions import KafkaError
from services.kafka.errors import kafka_errors
from services.review.exceptions import ReviewStoreError
from services.review.store import ReviewStore
from services.stream.shutdown import StopFlag

__all__ = ["OutboxPublisher"]

log = logging.getLogger(__name__)


class OutboxPublisher:
    def __init__(
        self,
        store: ReviewStore,
        producer: Producer,
        topic: str,
        *,
        batch_size: int = 500,
        flush_timeout_s: float = 10.0,
        make_producer: Callable[[], Producer] | None = None,
    ) -> None:
        self.store = store
        self.producer = producer
        self._make_producer = make_producer
        self.producers_replaced = 0
        self._fatal: str | None = None  # a delivery report said the producer is done for
        self.topic = topic
        self.batch_size = batch_size
        self.flush_timeout_s = flush_timeout_s
        self.sent = 0
        self._wake = threading.Event()
        # Rows handed to the producer whose delivery report has not come yet, and
        # the reports that came (delivery callbacks run inside flush/poll, on the
        # thread that calls them: this one).
        self._in_flight: set[int] = set()
        self._acked: list[int] = []
        self._failures: list[str] = []

    def wake(self) -> None:
        self._wake.set()

    def _report(self, row_id: int) -> Callable[[VendorKafkaError | None, Message], None]:
        def on_delivery(error: VendorKafkaError | None, _message: Message) -> None:
            self._in_flight.discard(row_id)
            if error is None:
                self._acked.append(row_id)
            else:
                self._failures.append(error.str())  # stays unsent: the next round sends it
                if error.fatal():
                    self._fatal = error.str()

        return on_delivery

    def publish_pending(self) -> int:
        """One round; returns how many labels were acknowledged and stamped."""
        with kafka_errors(f"producing labels to {self.topic!r}"):
            self.producer.poll(0)  # reports of earlier rounds' stragglers, before the read
        # In flight, or acknowledged but not yet stamped: those must not go twice.
        taken = self._in_flight.union(self._acked)
        with self.store.pending_labels(self.batch_size + len(taken)) as outbox:
            with kafka_errors(f"producing labels to {self.topic!r}"):
                fresh = [label for label in outbox.labels if label.id not in taken]
                for label in fresh[: self.batch_size]:
                    self.producer.produce(
                        self.topic, key=label.key, value=label.payload,
                        on_delivery=self._report(label.id),
                    )  # fmt: skip
                    self._in_flight.add(label.id)  # (after produce: a refused one goes again)
                remaining = self.producer.flush(self.flush_timeout_s) if self._in_flight else 0
            acked, self._acked = self._acked, []
            failures, self._failures = self._failures, []
            outbox.mark_sent(acked)
        self.sent += len(acked)
        if remaining or failures:
            log.warning(
                "labels: %d acknowledged, %d still in flight, %d failed (%s); "
                "the failed go again next round",
                len(acked),
                remaining,
                len(failures),
                "; ".join(failures[:3]),
            )
        return len(acked)

    def replace_producer_if_fatal(self, error: KafkaError | None = None) -> bool:
        """After a fatal error (raised, or in a delivery report), a new producer; True if made."""
        reason = str(error) if error is not None and error.fatal else self._fatal
        if reason is None or self._make_producer is None:
            return False
        log.error("labels: the producer failed for good (%s); making a new one", reason)
        self.producer = self._make_producer()
        self.producers_replaced += 1
        # The old producer's reports will never come: those labels go again.
        self._in_flight.clear()
        self._fatal = None
        return True

    def run(self, stop: StopFlag, *, interval_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        """Publish until ``stop`` is set, then one last round so nothing decided waits."""
        backoff = interval_s
        while not stop.is_set():
            try:
                full = self.publish_pending() >= self.batch_size
            except (ReviewStoreError, KafkaError) as exc:
                if not (isinstance(exc, KafkaError) and self.replace_producer_if_fatal(exc)):
                    log.warning("publishing labels failed (%s); retrying in %.1f s", exc, backoff)
                # (after a new producer too: a cause that outlives producers must not spin)
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            self.replace_producer_if_fatal()
            backoff = interval_s
            if not full:
                self._wake.wait(interval_s)
                self._wake.clear()
        try:
            self.publish_pending()
        except (ReviewStoreError, KafkaError) as exc:
            log.warning("last round of labels not published (%s); they go at the next start", exc)
