"""The events every part of fraudstream exchanges, as versioned msgspec structs.

On the wire each event is one JSON object with two envelope fields:
``"type"`` (the event kind, e.g. ``"transaction"``) and ``"v"`` (the schema
version of that kind). Times are integer epoch milliseconds, UTC, so that
window arithmetic never meets a time zone. Amounts are in the transaction's
currency's major unit (``12.50`` EUR).

Validation is declarative (``msgspec.Meta`` bounds) plus ``__post_init__``
checks for rules that span fields; both surface as ``ContractError`` naming
the field (see ``contracts.codec``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

import msgspec

__all__ = [
    "CHANNELS",
    "SCHEMA_VERSION",
    "Action",
    "Channel",
    "Decision",
    "Event",
    "Explanation",
    "ExplanationSource",
    "FeatureContribution",
    "Label",
    "LabelSource",
    "MESSAGE_LABELS",
    "MessageAnalysis",
    "MessageLabel",
    "RiskLevel",
    "Transaction",
    "UserMessage",
]

#: The one schema version this code writes and reads for every kind.
SCHEMA_VERSION = 1

# Bounds that reject absurd values instead of letting them poison windows.
# 2020-01-01 .. 2100-01-01 in epoch ms: a time outside is a unit mistake (s vs ms).
_MIN_TIME_MS = 1_577_836_800_000
_MAX_TIME_MS = 4_102_444_800_000
EpochMs = Annotated[int, msgspec.Meta(ge=_MIN_TIME_MS, lt=_MAX_TIME_MS)]
# Dates of the past (an account opened in 1998) only need to be after 1970.
PastEpochMs = Annotated[int, msgspec.Meta(ge=0, lt=_MAX_TIME_MS)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# A single payment above 10 million units is a data error, not a purchase.
Amount = Annotated[float, msgspec.Meta(gt=0.0, le=10_000_000.0)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
Mcc = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")]
Bin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,8}$")]
Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Score = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
# Customer text is untrusted and unbounded at the source: cap it at the door.
MessageText = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]

Channel = Literal["pos", "ecom", "atm", "transfer"]
CHANNELS: tuple[Channel, ...] = ("pos", "ecom", "atm", "transfer")
Action = Literal["allow", "flag", "block"]
LabelSource = Literal["analyst", "chargeback", "customer", "import"]
#: Who wrote an explanation: the language model, or the template fallback.
ExplanationSource = Literal["model", "template"]
RiskLevel = Literal["low", "medium", "high", "critical"]
#: The only labels a message analysis may carry (the analyse adapter chooses among them).
MessageLabel = Literal["scam_social_engineering", "account_takeover", "dispute_complaint", "benign"]
MESSAGE_LABELS: tuple[MessageLabel, ...] = (
    "scam_social_engineering",
    "account_takeover",
    "dispute_complaint",
    "benign",
)
ShortText = Annotated[str, msgspec.Meta(max_length=2000)]


class Transaction(msgspec.Struct, frozen=True, kw_only=True, tag="transaction", tag_field="type"):
    """A card payment or account transfer to be scored. Kafka key: ``card_id``."""

    v: int = SCHEMA_VERSION
    tx_id: Id
    event_time_ms: EpochMs
    card_id: Id
    customer_id: Id
    amount: Amount
    currency: Currency = "EUR"
    merchant_id: Id
    terminal_id: Id | None = None
    mcc: Mcc = "5999"
    country: Country
    channel: Channel
    card_bin: Bin | None = None
    device_id: Id | None = None
    ip: Annotated[str, msgspec.Meta(max_length=45)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    #: When the customer's account was opened (account age = event_time - this).
    account_created_ms: PastEpochMs | None = None
    #: For transfers: the receiving account (new payees are an APP-scam signal).
    payee_id: Id | None = None

    def __post_init__(self) -> None:
        _check_version(self.v)
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together - at `$.lat`")
        if self.ip is not None:
            _check_ip(self.ip)
        if self.account_created_ms is not None and self.account_created_ms > self.event_time_ms:
            raise ValueError("account opened after the transaction - at `$.account_created_ms`")


class UserMessage(msgspec.Struct, frozen=True, kw_only=True, tag="user_message", tag_field="type"):
    """Something a customer wrote (chat, e-mail, call note). Kafka key: ``customer_id``."""

    v: int = SCHEMA_VERSION
    message_id: Id
    customer_id: Id
    event_time_ms: EpochMs
    text: MessageText
    tx_id: Id | None = None
    channel: Literal["chat", "email", "phone", "app"] = "chat"

    def __post_init__(self) -> None:
        _check_version(self.v)


class Label(msgspec.Struct, frozen=True, kw_only=True, tag="label", tag_field="type"):
    """Ground truth for one transaction, known from ``known_at_ms`` on.

    Entity ids are optional: when the producer knows them (the simulator, the
    review queue) the feature store updates risk rates without a look-up.
    """

    v: int = SCHEMA_VERSION
    tx_id: Id
    is_fraud: bool
    source: LabelSource
    known_at_ms: EpochMs
    #: The transaction's own event time, so point-in-time joins need no look-up.
    event_time_ms: EpochMs | None = None
    card_id: Id | None = None
    device_id: Id | None = None
    ip: Annotated[str, msgspec.Meta(max_length=45)] | None = None
    merchant_id: Id | None = None
    #: Fraud scenario name when known (simulated data, analyst tagging).
    scenario: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    analyst: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None

    def __post_init__(self) -> None:
        _check_version(self.v)
        if self.event_time_ms is not None and self.known_at_ms < self.event_time_ms:
            raise ValueError("label known before its transaction happened - at `$.known_at_ms`")


class FeatureContribution(msgspec.Struct, frozen=True, array_like=False):
    """One feature's share in a score (a SHAP value), with the value served."""

    feature: str
    value: float | None
    contribution: float


class Decision(msgspec.Struct, frozen=True, kw_only=True, tag="decision", tag_field="type"):
    """The scorer's verdict on one transaction. Kafka key: ``card_id``."""

    v: int = SCHEMA_VERSION
    tx_id: Id
    card_id: Id
    customer_id: Id
    event_time_ms: EpochMs
    decided_at_ms: EpochMs
    action: Action
    score: Score
    reasons: list[str] = msgspec.field(default_factory=list)
    model_version: str
    rule_set_version: str = ""
    #: True when the entity had no history and the cold-start model scored it.
    cold_start: bool = False
    #: True when a dependency was down and a fallback policy decided.
    degraded: bool = False
    #: The feature vector exactly as the model saw it (None = missing).
    features: dict[str, float | None] = msgspec.field(default_factory=dict)
    top_contributions: list[FeatureContribution] = msgspec.field(default_factory=list)
    #: Rules in shadow mode that would have fired (logged, no effect) and rule tags.
    shadow_rules: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    #: Milliseconds spent per stage (decode, features, model, rules, total).
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_version(self.v)


class Explanation(msgspec.Struct, frozen=True, kw_only=True, tag="explanation", tag_field="type"):
    """Plain words for a flagged or blocked decision. Kafka key: ``card_id``.

    Written off the hot path by the LLM worker; it never changes the decision.
    """

    v: int = SCHEMA_VERSION
    tx_id: Id
    card_id: Id
    customer_id: Id
    action: Action
    score: Score
    #: Computed in code from the score and rule hits, never by the model.
    risk_level: RiskLevel
    text: ShortText
    source: ExplanationSource
    #: Adapter version (MLflow model version or local tag); "" for the template.
    adapter_version: str = ""
    #: Features the explanation cites (all present in the decision).
    cited_features: list[str] = msgspec.field(default_factory=list)
    #: Why the template was used (timeout, model error, queue full, ...); None for the model.
    fallback_reason: str | None = None
    generated_at_ms: EpochMs
    latency_ms: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0

    def __post_init__(self) -> None:
        _check_version(self.v)


class MessageAnalysis(
    msgspec.Struct, frozen=True, kw_only=True, tag="message_analysis", tag_field="type"
):
    """The LLM worker's reading of one customer message. Kafka key: ``customer_id``."""

    v: int = SCHEMA_VERSION
    message_id: Id
    customer_id: Id
    tx_id: Id | None = None
    label: MessageLabel
    #: Probability per allowed label (scored, not generated).
    label_scores: dict[str, float] = msgspec.field(default_factory=dict)
    summary: Annotated[str, msgspec.Meta(max_length=300)] = ""
    risk_signals: list[Annotated[str, msgspec.Meta(max_length=80)]] = msgspec.field(
        default_factory=list
    )
    source: Literal["model", "fallback"] = "model"
    adapter_version: str = ""
    analysed_at_ms: EpochMs
    latency_ms: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0

    def __post_init__(self) -> None:
        _check_version(self.v)


Event = Transaction | UserMessage | Label | Decision | Explanation | MessageAnalysis


# Exactly the dotted quads ``ipaddress`` accepts (ASCII digits, 0-255, no leading
# zeros): the common case in a few hundred nanoseconds instead of a few
# microseconds. Anything else (IPv6, or an invalid address) goes to ``ipaddress``.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _check_ip(ip: str) -> None:
    if _IPV4.fullmatch(ip):
        return
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"not an IP address: {ip!r} - at `$.ip`") from None


def _check_version(v: int) -> None:
    if v != SCHEMA_VERSION:
        raise ValueError(
            f"unsupported schema version {v} (this build reads {SCHEMA_VERSION}) - at `$.v`"
        )
