"""Delivery reports: a produced message counts only once the broker acknowledged it."""

from __future__ import annotations

from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import Message

__all__ = ["DeliveryTracker"]


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
