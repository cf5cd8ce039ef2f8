"""Features declared as data: which state each entity keeps, and how it is windowed.

A *state declaration* says what one entity remembers and how (a bucketed
window, a capped distinct set, a last-event profile, an hour-of-day profile).
Every declaration has a ``state_suffix`` derived from its parameters, which
goes into its Redis key: changing a window or a bucket size starts fresh state
instead of misreading old state (the quix-streams idea).

The catalogue below (``TRANSACTION_STATES`` and ``LABEL_STATES``) is the one
place to change what is computed; ``feature_store.derive`` turns the states'
raw readings into the named features in ``FEATURE_NAMES``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "LABEL_STATES",
    "MINUTE_MS",
    "TRANSACTION_STATES",
    "DistinctSet",
    "Entity",
    "HourProfile",
    "LastEvent",
    "State",
    "Window",
]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

Entity = Literal["card", "customer", "device", "ip", "merchant"]
#: What a window adds per event: the amount in cents, or a fraud label (1/0).
WindowValue = Literal["amount", "fraud"]
#: Which transaction field a distinct set records.
Member = Literal["device", "ip", "country", "merchant", "card", "payee"]


def _suffix(kind: str, *params: object) -> str:
    text = ":".join(str(p) for p in (kind, *params))
    return f"{kind}{hashlib.blake2s(text.encode(), digest_size=3).hexdigest()}"


@dataclass(frozen=True)
class Window:
    """Count, sum (and optionally max) of a value over sliding windows of time buckets.

    ``bucket_ms`` is the resolution: a window of ``n`` buckets covers the
    bucket of the newest event seen for the entity and the ``n - 1`` before it,
    so a "1 h" window at 1-minute buckets spans 59-60 minutes. Running totals
    per window make updates and reads O(1); buckets older than the longest
    window are deleted, which bounds memory.
    """

    name: str
    entity: Entity
    bucket_ms: int
    windows: tuple[int, ...]  # in buckets, ascending
    value: WindowValue = "amount"
    with_max: bool = False  # max over the longest window
    ttl_ms: int = 0  # key expiry after the last touch; 0 = longest window + one bucket

    def __post_init__(self) -> None:
        if list(self.windows) != sorted(set(self.windows)) or not self.windows:
            raise ValueError(f"{self.name}: windows must be ascending and unique")

    @property
    def kind(self) -> str:
        return "W"

    @property
    def longest(self) -> int:
        return self.windows[-1]

    @property
    def expiry_ms(self) -> int:
        return self.ttl_ms or (self.longest + 2) * self.bucket_ms

    @property
    def state_suffix(self) -> str:
        return _suffix("w", self.bucket_ms, self.windows, self.value, self.with_max)


@dataclass(frozen=True)
class DistinctSet:
    """The distinct members an entity saw, each with the time it was last seen.

    Exact up to ``cap`` members: beyond that the least recently seen are
    evicted, so a distinct count saturates at ``cap`` (documented error: counts
    are exact below the cap and read ``cap`` above it) and a member evicted and
    seen again reads as new. ``windows_ms`` are the look-backs counted.
    """

    name: str
    entity: Entity
    member: Member
    windows_ms: tuple[int, ...]
    cap: int
    ttl_ms: int

    @property
    def kind(self) -> str:
        return "D"

    @property
    def state_suffix(self) -> str:
        return _suffix("d", self.member, self.cap)


@dataclass(frozen=True)
class LastEvent:
    """The entity's first-seen time, event count and last event (time and position)."""

    name: str
    entity: Entity
    ttl_ms: int

    @property
    def kind(self) -> str:
        return "L"

    @property
    def state_suffix(self) -> str:
        return _suffix("l")


@dataclass(frozen=True)
class HourProfile:
    """How many of the entity's events fell in each hour of the day (UTC)."""

    name: str
    entity: Entity
    ttl_ms: int

    @property
    def kind(self) -> str:
        return "H"

    @property
    def state_suffix(self) -> str:
        return _suffix("h")


State = Window | DistinctSet | LastEvent | HourProfile

_RETAIN = 90 * DAY_MS  # profiles of a card unseen for 90 days start over

#: What every transaction updates and reads, in plan order.
TRANSACTION_STATES: tuple[State, ...] = (
    Window("card_minutes", "card", MINUTE_MS, (10, 60)),
    Window("card_hours", "card", HOUR_MS, (24,)),
    Window("card_days", "card", DAY_MS, (7, 30), with_max=True),
    LastEvent("card_last", "card", ttl_ms=_RETAIN),
    HourProfile("card_hours_of_day", "card", ttl_ms=_RETAIN),
    DistinctSet("card_devices", "card", "device", (30 * DAY_MS,), cap=64, ttl_ms=_RETAIN),
    DistinctSet("card_ips", "card", "ip", (30 * DAY_MS,), cap=64, ttl_ms=_RETAIN),
    DistinctSet("card_countries", "card", "country", (30 * DAY_MS,), cap=32, ttl_ms=_RETAIN),
    # Only "first time at this merchant" is served, so no window is counted.
    DistinctSet("card_merchants", "card", "merchant", (), cap=128, ttl_ms=_RETAIN),
    Window("customer_velocity", "customer", 5 * MINUTE_MS, (12, 288)),
    DistinctSet("customer_payees", "customer", "payee", (30 * DAY_MS,), cap=128, ttl_ms=_RETAIN),
    Window("device_velocity", "device", 5 * MINUTE_MS, (12, 288)),
    DistinctSet("device_cards", "device", "card", (HOUR_MS, DAY_MS), cap=500, ttl_ms=DAY_MS),
    Window("ip_velocity", "ip", 5 * MINUTE_MS, (12, 288)),
    DistinctSet("ip_cards", "ip", "card", (HOUR_MS, DAY_MS), cap=500, ttl_ms=DAY_MS),
    Window("merchant_velocity", "merchant", 5 * MINUTE_MS, (12, 288)),
    DistinctSet("merchant_cards", "merchant", "card", (DAY_MS,), cap=1000, ttl_ms=DAY_MS),
)

#: Label-based risk: labels update these at the time they became known; a
#: transaction reads them (without updating) at its own event time, so only
#: labels known by then count.
LABEL_STATES: tuple[Window, ...] = (
    Window("device_labels", "device", DAY_MS, (30,), value="fraud", ttl_ms=31 * DAY_MS),
    Window("ip_labels", "ip", DAY_MS, (30,), value="fraud", ttl_ms=31 * DAY_MS),
    Window("merchant_labels", "merchant", DAY_MS, (30,), value="fraud", ttl_ms=31 * DAY_MS),
)
