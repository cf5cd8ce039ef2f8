"""The dead-letter policy: a record that cannot be processed is parked, never dropped.

The original bytes go to the dead-letter topic unchanged (same key), with the
reason in Kafka headers, so the record can be inspected and replayed:

    error.reason     what is wrong ("Expected `float` > 0.0")
    error.field      the JSON path when known ("$.amount")
    error.stage      which step refused it ("decode", "labels", ...)
    source.topic / source.partition / source.offset   where it came from
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Message, Producer

from services.stream.delivery import DeliveryTracker, TrackedProducer

__all__ = ["DeadLetter", "DeadLetterSink"]


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    reason: str
    stage: str
    field: str | None = None


class DeadLetterSink:
    """Produces dead letters; delivery is confirmed by the caller's flush before commit."""

    def __init__(
        self,
        producer: Producer | TrackedProducer,
        topic: str,
        tracker: DeliveryTracker,
        *,
        on_send: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.tracker = tracker
        self.sent = 0
        self._on_send = on_send  # e.g. a metrics counter

    def send(self, letter: DeadLetter) -> None:
        msg = letter.message
        headers: list[tuple[str, str | bytes | None]] = [
            ("error.reason", letter.reason.encode("utf-8", "replace")[:2000]),
            ("error.stage", letter.stage.encode()),
            ("source.topic", (msg.topic() or "").encode()),
            ("source.partition", str(msg.partition()).encode()),
            ("source.offset", str(msg.offset()).encode()),
        ]
        if letter.field:
            headers.append(("error.field", letter.field.encode()))
        self.producer.produce(
            self.topic,
            value=msg.value(),
            key=msg.key(),
            headers=headers,
            on_delivery=self.tracker.report,
        )
        self.sent += 1
        if self._on_send is not None:
            self._on_send(letter)
