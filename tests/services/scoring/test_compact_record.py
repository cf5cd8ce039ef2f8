"""The decision record Redis keeps: the same decision back, the same JSON bytes, less space."""

from __future__ import annotations

import logging
import math
import random

import msgspec
import pytest

from contracts.codec import encode
from contracts.errors import ContractError
from contracts.events import Decision, FeatureContribution
from feature_store import FEATURE_NAMES
from services.scoring.compact_record import pack_decision, unpack_decision
from tests.services.scoring.helpers import T0


def _served(seed: int) -> dict[str, float | None]:
    """A vector as the scorer serves it: every feature in order, odd floats, some missing."""
    rng = random.Random(seed)
    values: list[float | None] = [rng.uniform(-1e6, 1e6) / 7 for _ in FEATURE_NAMES]
    for i in rng.sample(range(len(values)), 9):
        values[i] = None
    values[0], values[1] = 0.1 + 0.2, float(2**53 + 1)  # inexact and large doubles
    return dict(zip(FEATURE_NAMES, values, strict=True))


def _decision(seed: int, **fields: object) -> Decision:
    features = _served(seed)
    values: dict[str, object] = {
        "tx_id": f"tx-{seed}",
        "card_id": "card-1",
        "customer_id": "cust-1",
        "event_time_ms": T0,
        "decided_at_ms": T0 + 7,
        "action": "flag",
        "score": 0.73125,
        "reasons": ["R_NEW_DEVICE_HIGH_AMOUNT", "F_card_count_1h", "S_SCORE_FLAG"],
        "model_version": "fraudstream-xgboost/7",
        "rule_set_version": "default@3f2a9c",
        "features": features,
        "top_contributions": [
            FeatureContribution(name, features[name], 0.5 / (k + 1))
            for k, name in enumerate(FEATURE_NAMES[7:10])
        ],
        "shadow_rules": ["R_SHADOW_TEST"],
        "tags": ["card_testing"],
        "timings_ms": {"features": 3.25, "model": 1.0625, "rules": 0.5, "total": 5.1},
    }
    values.update(fields)
    return Decision(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
def test_a_served_decision_comes_back_as_the_same_json_bytes(seed: int) -> None:
    decision = _decision(seed)
    record = pack_decision(decision)
    redelivered = msgspec.structs.replace(decision, action="allow", score=0.01, reasons=[])
    back = unpack_decision(record, redelivered)
    assert back == decision
    assert encode(back) == encode(decision)
    assert len(record) < 0.45 * len(encode(decision))


def test_nan_free_missing_values_stay_missing() -> None:
    decision = _decision(1)
    back = unpack_decision(pack_decision(decision), decision)
    missing = [name for name, value in decision.features.items() if value is None]
    assert len(missing) == 9
    assert all(back.features[name] is None for name in missing)
    assert not any(isinstance(v, float) and math.isnan(v) for v in back.features.values())


def test_a_decision_without_the_full_vector_is_kept_whole() -> None:
    degraded = _decision(2, features={}, degraded=True, reasons=["D_FEATURES_UNAVAILABLE"])
    partial = _decision(3, features={"amount": 12.5, "card_age_days": None})
    reordered = _decision(4, features=dict(reversed(_served(4).items())))
    for decision in (degraded, partial, reordered):
        back = unpack_decision(pack_decision(decision), _decision(9))
        assert encode(back) == encode(decision)


def test_a_json_record_from_before_is_read_as_json() -> None:
    decision = _decision(5)
    assert unpack_decision(encode(decision), _decision(6)) == decision


def test_values_under_other_feature_names_take_this_deliverys_features(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A record written by a release whose features differed: its values cannot be named.
    earlier = _decision(7)
    record = msgspec.msgpack.encode(
        [msgspec.structs.replace(earlier, features={}), 12345, [1.0, 2.0, 3.0]]
    )
    now = _decision(8, action="allow", score=0.01)
    with caplog.at_level(logging.WARNING):
        back = unpack_decision(record, now)
    assert (back.action, back.score, back.reasons) == (
        earlier.action,
        earlier.score,
        earlier.reasons,
    )
    assert back.features == now.features
    assert "other feature names" in caplog.text


def test_an_unreadable_record_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="unreadable decision record"):
        unpack_decision(b"\x93\x01\x02", _decision(9))
