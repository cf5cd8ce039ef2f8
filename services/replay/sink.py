"""Where replayed events go: Kafka (the real sink) behind a three-verb protocol.

Transactions go to ``topics.transactions`` keyed by card id, labels to
``topics.labels`` keyed by card id too (so a card's labels stay in order with
its payments), rejected rows to ``topics.dead_letter`` as the raw row in JSON
with the reason in headers: ``error.reason``, ``error.field``,
``source.file``, ``source.row``.

The producer's record timestamp is left to the broker's clock on purpose:
stamping records with a historical event time would put them behind the
topic's ``retention.ms`` and the broker would delete them almost at once.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from confluent_kafka import KafkaException

from contracts.codec import encode
from contracts.events import Label, Transaction
from contracts.settings import KafkaSettings
from services.kafka.clients import make_producer
from services.kafka.errors import kafka_errors, translate_kafka_error

if TYPE_CHECKING:
    from services.replay.records import RejectedRow

__all__ = ["KafkaReplaySink", "ReplaySink"]

_BUFFER_FULL_WAIT_S = 0.1


class ReplaySink(Protocol):
    """Receives the replay; ``close`` makes the delivery counts final."""

    #: Messages the destination acknowledged, by kind ("transactions", "labels", "dead_letters").
    delivered: Counter[str]
    delivery_errors: int
    first_delivery_error: str | None

    def send_transaction(self, transaction: Transaction) -> None: ...

    def send_label(self, label: Label) -> None: ...

    def send_dead_letter(self, rejected: RejectedRow) -> None: ...

    def close(self) -> None:
        """Deliver everything still buffered; afterwards the counts are final."""


class KafkaReplaySink:
    """Produces to Kafka and counts what the broker confirmed, per kind."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        source_file: str,
        producer: Any = None,
        flush_timeout_s: float = 60.0,
    ) -> None:
        self._topics = kafka.topics
        self._kinds = {
            kafka.topics.transactions: "transactions",
            kafka.topics.labels: "labels",
            kafka.topics.dead_letter: "dead_letters",
        }
        self._source_file = source_file.encode()
        self._flush_timeout_s = flush_timeout_s
        with kafka_errors("creating the replay's Kafka producer"):
            self._producer = producer if producer is not None else make_producer(kafka)
        #: Messages the broker acknowledged, by kind ("transactions", "labels", "dead_letters").
        self.delivered: Counter[str] = Counter()
        #: Messages the broker refused or that were still unsent when the flush timed out.
        self.delivery_errors = 0
        self.first_delivery_error: str | None = None

    def send_transaction(self, transaction: Transaction) -> None:
        self._produce(self._topics.transactions, transaction.card_id, encode(transaction))

    def send_label(self, label: Label) -> None:
        self._produce(self._topics.labels, label.card_id or label.tx_id, encode(label))

    def send_dead_letter(self, rejected: RejectedRow) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("error.reason", rejected.error.problem.encode()),
            ("error.field", (rejected.error.field or "").encode()),
            ("source.file", self._source_file),
            ("source.row", str(rejected.row).encode()),
        ]
        value = msgspec.json.encode(rejected.raw, enc_hook=str)
        self._produce(self._topics.dead_letter, None, value, headers)

    def close(self) -> None:
        with kafka_errors("flushing the replay"):
            unsent = self._producer.flush(self._flush_timeout_s)
        if unsent:
            self.delivery_errors += unsent
            self.first_delivery_error = self.first_delivery_error or (
                f"{unsent} message(s) still unsent after {self._flush_timeout_s:g} s"
            )

    def _produce(
        self,
        topic: str,
        key: str | None,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(_BUFFER_FULL_WAIT_S)
            except KafkaException as exc:
                raise translate_kafka_error(exc, f"producing to {topic}") from exc
        self._producer.poll(0)

    def _on_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self.delivery_errors += 1
            if self.first_delivery_error is None:
                self.first_delivery_error = f"{message.topic()}: {error}"
            return
        self.delivered[self._kinds.get(message.topic(), message.topic())] += 1
