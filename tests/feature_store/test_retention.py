"""How long the store remembers what it has counted, and frames with gaps in typed columns."""

from __future__ import annotations

import pandas as pd
import pytest
import redis

from contracts.codec import to_builtins
from contracts.errors import ContractError
from contracts.events import Label
from feature_store.engine import DEFAULT_DEDUP_TTL_MS, DEFAULT_LABEL_DEDUP_TTL_MS, FeatureEngine
from feature_store.offline import frame_to_labels, frame_to_transactions
from feature_store.online.keys import dedup_key, label_dedup_key
from tests.feature_store.conftest import make_tx, redis_store

DAY_MS = 86_400_000


def test_a_label_is_remembered_past_the_chargeback_limit_a_transaction_for_its_ttl(
    settings,
) -> None:
    # An analyst's verdict, then the chargeback for the same transaction up to
    # 120 days later: remembered for 7 days, the second copy counted again, and
    # the merchant's 30-day label windows held the transaction twice.
    store = redis_store(settings)
    engine = FeatureEngine(store)
    transaction = make_tx(1)
    engine.process([transaction])
    label = Label(
        tx_id=transaction.tx_id, is_fraud=True, source="analyst",
        known_at_ms=transaction.event_time_ms + DAY_MS, merchant_id=transaction.merchant_id,
    )  # fmt: skip
    assert engine.apply_labels([label]) == 1
    store.close()
    client = redis.Redis.from_url(settings.redis.url)
    try:
        prefix = settings.redis.key_prefix
        label_ttl = client.pttl(label_dedup_key(prefix, label.tx_id, label.is_fraud))
        tx_ttl = client.pttl(dedup_key(prefix, transaction.tx_id))
    finally:
        client.close()
    assert DEFAULT_LABEL_DEDUP_TTL_MS >= 120 * DAY_MS
    assert DEFAULT_LABEL_DEDUP_TTL_MS - 60_000 < label_ttl <= DEFAULT_LABEL_DEDUP_TTL_MS
    assert DEFAULT_DEDUP_TTL_MS - 60_000 < tx_ttl <= DEFAULT_DEDUP_TTL_MS


def test_frames_with_gaps_in_integer_columns_are_read() -> None:
    # pandas makes an int64 column with a gap float64 (CSV and Parquet alike);
    # the contract refused the floats, so a replay's frame could not be built.
    rows = [to_builtins(make_tx(1)), to_builtins(make_tx(2))]
    rows[0]["account_created_ms"] = 1_600_000_000_000
    rows[1]["account_created_ms"] = None
    frame = pd.DataFrame(rows)
    assert frame["account_created_ms"].dtype == "float64"
    created = [tx.account_created_ms for tx in frame_to_transactions(frame)]
    assert created == [1_600_000_000_000, None]
    labels = pd.DataFrame(
        [
            {"tx_id": "tx-1", "is_fraud": True, "source": "chargeback",
             "known_at_ms": 1_700_000_500_000, "event_time_ms": 1_700_000_000_000},
            {"tx_id": "tx-2", "is_fraud": False, "source": "analyst",
             "known_at_ms": 1_700_000_500_000, "event_time_ms": None},
        ]
    )  # fmt: skip
    assert [label.event_time_ms for label in frame_to_labels(labels)] == [1_700_000_000_000, None]
    half = frame.astype({"account_created_ms": "float64"})
    half.loc[0, "account_created_ms"] = 1_600_000_000_000.5  # a fraction is still an error
    with pytest.raises(ContractError, match="account_created_ms"):
        frame_to_transactions(half)
