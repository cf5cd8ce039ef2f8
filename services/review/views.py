"""What the case store returns: plain, frozen data the API serialises and the page renders.

Claims are resolved at read time: a claim past its expiry reads as no claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AnalysisView",
    "AuditEntry",
    "CaseDetail",
    "CaseSummary",
    "ExplanationView",
    "MessageView",
    "QueueFilter",
    "QueuePage",
    "QueueStatus",
    "TransactionView",
    "User",
]

#: open = not decided (claimed or not); unclaimed / claimed / mine narrow it; decided; all.
QueueStatus = Literal["open", "unclaimed", "claimed", "mine", "decided", "all"]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The queue's filters; ``None`` means no filter on that field."""

    status: QueueStatus = "open"
    action: Literal["flag", "block"] | None = None
    tag: str | None = None
    min_amount: float | None = None
    max_amount: float | None = None


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One row of the queue."""

    tx_id: str
    customer_id: str
    card_id: str
    action: str
    score: float
    amount: float | None
    tags: list[str]
    reasons: list[str]
    event_time_ms: int
    decided_at_ms: int
    status: str
    claimed_by: str | None
    claim_expires_ms: int | None
    verdict: str | None
    #: "model", "template", or None while no explanation has arrived.
    explanation_source: str | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[CaseSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A transaction of the customer's, with what the scorer decided when known."""

    tx_id: str
    card_id: str
    event_time_ms: int
    amount: float | None
    currency: str | None
    merchant_id: str | None
    mcc: str | None
    country: str | None
    channel: str | None
    device_id: str | None
    ip: str | None
    payee_id: str | None
    action: str | None
    score: float | None


@dataclass(frozen=True, slots=True)
class ExplanationView:
    text: str
    source: str
    risk_level: str
    fallback_reason: str | None
    adapter_version: str
    cited_features: list[str]
    generated_at_ms: int

    @property
    def is_template(self) -> bool:
        return self.source == "template"


@dataclass(frozen=True, slots=True)
class AnalysisView:
    label: str
    label_scores: dict[str, float]
    summary: str
    risk_signals: list[str]
    source: str
    analysed_at_ms: int


@dataclass(frozen=True, slots=True)
class MessageView:
    message_id: str
    event_time_ms: int
    channel: str
    text: str
    tx_id: str | None
    analysis: AnalysisView | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ms: int
    actor: str
    action: str
    tx_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """Everything the case view shows."""

    summary: CaseSummary
    verdict_by: str | None
    verdict_at_ms: int | None
    verdict_note: str | None
    #: The decision exactly as served (features, SHAP contributions, timings, versions).
    decision: dict[str, Any]
    transaction: TransactionView | None
    explanation: ExplanationView | None
    recent: list[TransactionView] = field(default_factory=list)
    messages: list[MessageView] = field(default_factory=list)
    history: list[AuditEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    created_at_ms: int
