"""Small builders shared by the LLM tests."""

from __future__ import annotations

from contracts.events import Decision, FeatureContribution

__all__ = ["make_decision"]

_T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def make_decision(
    tx_id: str = "tx-1",
    *,
    action: str = "flag",
    score: float = 0.91,
    reasons: list[str] | None = None,
    contributions: list[tuple[str, float | None, float]] | None = None,
    customer_id: str = "cu-1",
) -> Decision:
    contributions = (
        contributions
        if contributions is not None
        else [("amount", 1500.0, 1.2), ("card_new_device", 1.0, 0.8), ("card_count_24h", 0.0, -0.3)]
    )
    return Decision(
        tx_id=tx_id,
        card_id=f"card-{tx_id}",
        customer_id=customer_id,
        event_time_ms=_T0,
        decided_at_ms=_T0 + 5,
        action=action,  # type: ignore[arg-type]
        score=score,
        reasons=reasons if reasons is not None else ["S_SCORE_FLAG", "R_NEW_DEVICE_HIGH_AMOUNT"],
        model_version="fraudstream-scorer/3",
        top_contributions=[FeatureContribution(f, v, c) for f, v, c in contributions],
        features={f: v for f, v, _ in contributions},
    )
