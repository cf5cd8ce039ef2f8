"""Decoders the consumer loops use: bytes -> one event kind, or ``ContractError``.

Beyond the contract, an event dated more than ``MAX_FUTURE_MS`` past this
host's clock is refused (and so dead-lettered with the reason): windows end at
an entity's newest event, so one transaction dated years ahead would move its
card's windows there, and every real transaction after it would read as late,
outside the short windows, for as long as the card lives; one label dated ahead
would push the merchant's label windows past every real label. The contract
alone cannot say this: it has no clock. Historic data (a replay, a backfill) is
in the past and unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from contracts.codec import decode_as
from contracts.errors import ContractError
from contracts.events import Label, Transaction

__all__ = ["MAX_FUTURE_MS", "decode_label", "decode_transaction"]

#: Clock skew allowed between the payment system and this host (5 minutes).
MAX_FUTURE_MS = 5 * 60 * 1000


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def decode_label(data: bytes, *, clock: Callable[[], int] = _wall_clock_ms) -> Label:
    label = decode_as(data, Label)
    # (known_at_ms >= event_time_ms is the contract's: the later time is enough)
    _not_ahead(label.known_at_ms, "$.known_at_ms", "Label", clock)
    return label


def decode_transaction(data: bytes, *, clock: Callable[[], int] = _wall_clock_ms) -> Transaction:
    transaction = decode_as(data, Transaction)
    _not_ahead(transaction.event_time_ms, "$.event_time_ms", "Transaction", clock)
    return transaction


def _not_ahead(at_ms: int, field: str, kind: str, clock: Callable[[], int]) -> None:
    ahead_ms = at_ms - clock()
    if ahead_ms > MAX_FUTURE_MS:
        raise ContractError(
            f"dated {ahead_ms / 1000:,.0f} s after this host's clock "
            f"(at most {MAX_FUTURE_MS // 1000} s of skew is allowed)",
            field=field,
            kind=kind,
        )
