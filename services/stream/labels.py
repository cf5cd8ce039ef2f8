"""The label consumer: analyst verdicts and chargebacks feed the label-based risk features.

Labels are keyed by card on the labels topic; each carries the device, IP and
merchant of its transaction when the producer knew them (simulator, replay,
review queue). A label with none of them cannot change any risk rate and is
dead-lettered with that reason rather than silently ignored. Counting is
idempotent per (transaction, verdict): redelivered labels count once.
"""

from __future__ import annotations

from confluent_kafka import Message

from contracts.events import Label
from feature_store.engine import FeatureEngine
from feature_store.exceptions import StoreUnavailableError
from services.stream.batch_consumer import BatchResult, Retriable
from services.stream.dead_letter import DeadLetter

__all__ = ["LabelUpdater"]


class LabelUpdater:
    """Batch handler: apply labels to the online store in one round trip."""

    def __init__(self, engine: FeatureEngine) -> None:
        self.engine = engine
        self.applied = 0

    def __call__(self, batch: list[tuple[Message, Label]]) -> BatchResult:
        usable, letters = [], []
        for msg, label in batch:
            if label.device_id is None and label.ip is None and label.merchant_id is None:
                reason = "label has no device_id, ip or merchant_id: no risk feature can use it"
                letters.append(DeadLetter(msg, reason, "labels", "$.device_id"))
            else:
                usable.append(label)
        try:
            self.applied += self.engine.apply_labels(usable)
        except StoreUnavailableError as exc:
            raise Retriable(str(exc)) from exc
        return BatchResult(dead_letters=letters)
