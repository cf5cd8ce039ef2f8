"""Delivery reports: a produced message counts only once the broker acknowledged it."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import Message, Producer

__all__ = ["BatchDeliveries", "DeliveryTracker", "TrackedProducer"]


class DeliveryTracker:
    """Pass ``tracker.report`` as ``on_delivery``; check ``failures`` after ``flush``."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failures: list[str] = []

    def report(self, error: VendorKafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failures.append(f"{message.topic()}: {error.str()}")

    def take_failures(self) -> list[str]:
        failures, self.failures = self.failures, []
        return failures


class BatchDeliveries:
    """The delivery reports of the messages one micro-batch produced."""

    __slots__ = ("acked", "failures", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.acked = 0
        self.failures: list[str] = []

    @property
    def complete(self) -> bool:
        return self.acked + len(self.failures) >= self.sent


class TrackedProducer:
    """A Producer whose every message counts towards the batch that produced it.

    It lets the consumer loop commit a batch's offsets once that batch's own
    messages are acknowledged, while later batches are already being worked on
    (``MicroBatchConsumer(in_flight=N)``): acknowledgements arrive out of order
    across partitions, so counting them per batch is the only sound test. The
    caller's ``on_delivery`` still runs.
    """

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.current = BatchDeliveries()

    def next_batch(self) -> BatchDeliveries:
        """The deliveries of the batch that just ended; later messages count to a new one."""
        ended, self.current = self.current, BatchDeliveries()
        return ended

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, str | bytes | None]] | None = None,
        on_delivery: Callable[[VendorKafkaError | None, Message], None] | None = None,
    ) -> None:
        batch = self.current
        batch.sent += 1

        def done(error: VendorKafkaError | None, message: Message) -> None:
            if error is None:
                batch.acked += 1
            else:
                batch.failures.append(f"{message.topic()}: {error.str()}")
            if on_delivery is not None:
                on_delivery(error, message)

        if headers is None:
            self.producer.produce(topic, value=value, key=key, on_delivery=done)
        else:
            self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=done)

    def poll(self, timeout: float = 0) -> int:
        return self.producer.poll(timeout)

    def flush(self, timeout: float = -1) -> int:
        return self.producer.flush(timeout)

    def close(self) -> None:
        self.producer.close()

    def __len__(self) -> int:
        return len(self.producer)
