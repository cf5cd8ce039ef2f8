"""Decoders the consumer loops use: bytes -> one event kind, or ``ContractError``.

Beyond the contract, an event dated more than ``MAX_FUTURE_MS`` past this
host's clock is refused (and so dead-lettered with the reason): windows end at
an entity's newest event, so one transaction dated years ahead would move its
card's windows there, and every real transaction after it would read as late,
outside the short windows, for as long as the card lives; one label dated ahead
would push the merchant's label windows past every real label. The contract
alone cannot say this: it has no clock. Historic data (a replay, a backfill) is
in the past and unaffected. The limit is ``kafka.max_event_ahead_s`` (0: no
check, as on the embedded local stack, whose simulated streams run ahead).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TypeVar

from contracts.codec import decode_as
from contracts.errors import ContractError
from contracts.events import Label, Transaction
from contracts.settings import KafkaSettings

__all__ = ["MAX_FUTURE_MS", "Decoder", "decode_label", "decode_transaction", "decoders_for"]

T = TypeVar("T")
#: bytes -> event (or ``ContractError``), as the consumer loops call them.
Decoder = Callable[[bytes], T]

#: Clock skew allowed between the payment system and this host (5 minutes).
MAX_FUTURE_MS = 5 * 60 * 1000


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def decode_label(
    data: bytes,
    *,
    max_ahead_ms: int | None = MAX_FUTURE_MS,
    clock: Callable[[], int] = _wall_clock_ms,
) -> Label:
    label = decode_as(data, Label)
    # (known_at_ms >= event_time_ms is the contract's: the later time is enough)
    _not_ahead(label.known_at_ms, "$.known_at_ms", "Label", max_ahead_ms, clock)
    return label


def decode_transaction(
    data: bytes,
    *,
    max_ahead_ms: int | None = MAX_FUTURE_MS,
    clock: Callable[[], int] = _wall_clock_ms,
) -> Transaction:
    transaction = decode_as(data, Transaction)
    _not_ahead(transaction.event_time_ms, "$.event_time_ms", "Transaction", max_ahead_ms, clock)
    return transaction


def decoders_for(settings: KafkaSettings) -> tuple[Decoder[Transaction], Decoder[Label]]:
    """The transaction and label decoders with the configured limit (0: no limit)."""
    limit = settings.max_event_ahead_s * 1000 if settings.max_event_ahead_s else None
    return (
        functools.partial(decode_transaction, max_ahead_ms=limit),
        functools.partial(decode_label, max_ahead_ms=limit),
    )


def _not_ahead(
    at_ms: int, field: str, kind: str, max_ahead_ms: int | None, clock: Callable[[], int]
) -> None:
    if max_ahead_ms is None:
        return
    ahead_ms = at_ms - clock()
    if ahead_ms > max_ahead_ms:
        raise ContractError(
            f"dated {ahead_ms / 1000:,.0f} s after this host's clock (at most "
            f"{max_ahead_ms // 1000} s of skew is allowed: kafka.max_event_ahead_s)",
            field=field,
            kind=kind,
        )
