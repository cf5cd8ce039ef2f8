"""Events for the review queue's tests: small, valid, and easy to vary."""

from __future__ import annotations

from typing import Any

from contracts.events import (
    Decision,
    Event,
    Explanation,
    FeatureContribution,
    MessageAnalysis,
    Transaction,
    UserMessage,
)
from services.review.ingest import IngestBatch
from services.review.store import ReviewStore

T0 = 1_790_000_000_000
MINUTE = 60_000
DAY = 86_400_000


def transaction(i: int, **fields: Any) -> Transaction:
    values: dict[str, Any] = {
        "tx_id": f"tx-{i}",
        "event_time_ms": T0 + i * MINUTE,
        "card_id": "card-1",
        "customer_id": "cust-1",
        "amount": 10.0 + i,
        "merchant_id": f"m-{i}",
        "country": "DE",
        "channel": "ecom",
        "device_id": "dev-1",
        "ip": "10.0.0.1",
    }
    values.update(fields)
    return Transaction(**values)


def decision(i: int, **fields: Any) -> Decision:
    values: dict[str, Any] = {
        "tx_id": f"tx-{i}",
        "card_id": "card-1",
        "customer_id": "cust-1",
        "event_time_ms": T0 + i * MINUTE,
        "decided_at_ms": T0 + i * MINUTE + 15,
        "action": "flag",
        "score": 0.5,
        "reasons": ["S_HIGH", "F_amount"],
        "model_version": "fraudstream-scorer/3",
        "features": {"amount": 10.0 + i, "card_count_1h": 4.0},
        "top_contributions": [
            FeatureContribution("amount", 10.0 + i, 1.25),
            FeatureContribution("card_count_1h", 4.0, -0.5),
        ],
    }
    values.update(fields)
    return Decision(**values)


def explanation(i: int, **fields: Any) -> Explanation:
    values: dict[str, Any] = {
        "tx_id": f"tx-{i}",
        "card_id": "card-1",
        "customer_id": "cust-1",
        "action": "flag",
        "score": 0.5,
        "risk_level": "high",
        "text": "The amount is far above this card's usual spending.",
        "source": "model",
        "adapter_version": "7",
        "generated_at_ms": T0 + i * MINUTE + 2000,
    }
    values.update(fields)
    return Explanation(**values)


def message(i: int, **fields: Any) -> UserMessage:
    values: dict[str, Any] = {
        "message_id": f"msg-{i}",
        "customer_id": "cust-1",
        "event_time_ms": T0 + i * MINUTE,
        "text": "I did not make this payment.",
    }
    values.update(fields)
    return UserMessage(**values)


def analysis(i: int, **fields: Any) -> MessageAnalysis:
    values: dict[str, Any] = {
        "message_id": f"msg-{i}",
        "customer_id": "cust-1",
        "label": "dispute_complaint",
        "summary": "The customer disputes the payment.",
        "risk_signals": ["denies payment"],
        "analysed_at_ms": T0 + i * MINUTE + 500,
    }
    values.update(fields)
    return MessageAnalysis(**values)


def ingest(store: ReviewStore, *events: Event, as_cases: bool = True) -> None:
    """Write ``events`` as one batch; a Decision becomes a case (and recent activity)."""
    batch = IngestBatch()
    for event in events:
        match event:
            case Decision():
                if as_cases:
                    batch.add_case(event, received_at_ms=event.decided_at_ms + 5)
                batch.add_decision(event)
            case Transaction():
                batch.add_transaction(event)
            case Explanation():
                batch.add_explanation(event)
            case UserMessage():
                batch.add_message(event)
            case MessageAnalysis():
                batch.add_analysis(event)
            case _:
                raise TypeError(event)
    store.ingest(batch)
