"""The stream decoders refuse events dated ahead of the clock (beyond the skew allowed)."""

from __future__ import annotations

import time

import msgspec
import pytest

from contracts.codec import encode
from contracts.errors import ContractError
from contracts.events import Label, Transaction
from services.stream.decoders import MAX_FUTURE_MS, decode_label, decode_transaction

NOW_MS = 1_765_000_000_000


def _clock() -> int:
    return NOW_MS


def transaction_at(event_time_ms: int) -> Transaction:
    return Transaction(
        tx_id="t-1",
        event_time_ms=event_time_ms,
        card_id="c-1",
        customer_id="u-1",
        amount=12.5,
        merchant_id="m-1",
        country="DE",
        channel="ecom",
    )


@pytest.mark.parametrize("ahead_ms", [-86_400_000, 0, MAX_FUTURE_MS])
def test_transactions_up_to_the_skew_pass(ahead_ms: int) -> None:
    data = encode(transaction_at(NOW_MS + ahead_ms))
    assert decode_transaction(data, clock=_clock).event_time_ms == NOW_MS + ahead_ms


@pytest.mark.parametrize("ahead_ms", [MAX_FUTURE_MS + 1, 3_600_000, 70 * 365 * 86_400_000])
def test_a_transaction_dated_ahead_is_a_contract_error_naming_the_field(ahead_ms: int) -> None:
    # One of these, dated 2096, froze its card's short windows at 1 for good.
    with pytest.raises(ContractError) as caught:
        decode_transaction(encode(transaction_at(NOW_MS + ahead_ms)), clock=_clock)
    assert caught.value.field == "$.event_time_ms"
    assert "after this host's clock" in str(caught.value)


def test_a_label_known_ahead_of_the_clock_is_refused() -> None:
    label = Label(
        tx_id="t-1",
        is_fraud=True,
        source="chargeback",
        known_at_ms=NOW_MS + 3_600_000,
        event_time_ms=NOW_MS - 86_400_000,
        merchant_id="m-1",
    )
    with pytest.raises(ContractError) as caught:
        decode_label(encode(label), clock=_clock)
    assert caught.value.field == "$.known_at_ms"
    on_time = msgspec.structs.replace(label, known_at_ms=NOW_MS)
    assert decode_label(encode(on_time), clock=_clock) == on_time


def test_the_limit_comes_from_the_settings_and_zero_turns_it_off() -> None:
    from contracts.settings import KafkaSettings
    from services.stream.decoders import decoders_for

    # (these decoders read the real clock, as the consumers do)
    in_an_hour = time.time_ns() // 1_000_000 + 3_600_000
    data = encode(transaction_at(in_an_hour))
    relaxed, _ = decoders_for(KafkaSettings(max_event_ahead_s=7200))
    assert relaxed(data).event_time_ms == in_an_hour
    tight, _ = decoders_for(KafkaSettings(max_event_ahead_s=60))
    with pytest.raises(ContractError, match="max_event_ahead_s"):
        tight(data)
    off, _ = decoders_for(KafkaSettings(max_event_ahead_s=0))
    assert off(encode(transaction_at(in_an_hour + 70 * 365 * 86_400_000))).tx_id == "t-1"
