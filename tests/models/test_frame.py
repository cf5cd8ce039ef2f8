"""The feature-frame and label-frame contracts are enforced at the door."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.exceptions import FrameError
from models.frame import FeatureSpec, check_feature_frame, check_label_frame, feature_matrix
from models.synthetic import SyntheticData, make_synthetic_data


def test_synthetic_frames_satisfy_the_contract(synthetic: SyntheticData) -> None:
    check_feature_frame(synthetic.frame, synthetic.spec)
    check_label_frame(synthetic.labels)


def test_synthetic_data_is_seeded_and_realistic() -> None:
    first = make_synthetic_data(rows=3000, cards=800, seed=11)
    again = make_synthetic_data(rows=3000, cards=800, seed=11)
    other = make_synthetic_data(rows=3000, cards=800, seed=12)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.labels, again.labels)
    assert not first.frame["amount_log"].equals(other.frame["amount_log"])
    fraud_ids = set(first.labels.loc[first.labels["is_fraud"], "tx_id"])
    assert 0.02 <= len(fraud_ids) / len(first.frame) <= 0.06
    # Cold-start rows exist in every 10-day stretch, and their history features are missing.
    day = (first.frame["event_time_ms"] - first.frame["event_time_ms"].iloc[0]) // 86_400_000
    assert first.frame.groupby(day // 10)["cold_start"].sum().min() > 0
    cold = first.frame.loc[first.frame["cold_start"]]
    assert cold["card_tx_count_1h"].isna().all()
    assert cold["amount_log"].notna().all()


@pytest.mark.parametrize(
    ("mutate", "column"),
    [
        (lambda f: f.drop(columns=["card_id"]), "card_id"),
        (lambda f: f.drop(columns=["ip_risk"]), "ip_risk"),
        (lambda f: f.iloc[::-1], "event_time_ms"),
        (lambda f: f.assign(event_time_ms=f["event_time_ms"].astype(float)), "event_time_ms"),
        (lambda f: f.assign(tx_id="same"), "tx_id"),
        (lambda f: f.assign(cold_start=f["cold_start"].astype(int)), "cold_start"),
        (lambda f: f.assign(is_ecom=f["is_ecom"] > 0), "is_ecom"),
        (lambda f: f.assign(amount_log=f["amount_log"].astype(str)), "amount_log"),
    ],
)
def test_a_broken_frame_is_refused_naming_the_column(
    synthetic: SyntheticData, mutate: object, column: str
) -> None:
    broken = mutate(synthetic.frame.head(200))  # type: ignore[operator]
    with pytest.raises(FrameError) as caught:
        check_feature_frame(broken, synthetic.spec)
    assert caught.value.column == column


@pytest.mark.parametrize(
    ("mutate", "column"),
    [
        (lambda f: f.drop(columns=["known_at_ms"]), "known_at_ms"),
        (lambda f: f.assign(is_fraud=f["is_fraud"].astype(int)), "is_fraud"),
        (lambda f: f.assign(known_at_ms=f["known_at_ms"].astype(float)), "known_at_ms"),
    ],
)
def test_a_broken_label_frame_is_refused(
    synthetic: SyntheticData, mutate: object, column: str
) -> None:
    with pytest.raises(FrameError) as caught:
        check_label_frame(mutate(synthetic.labels))  # type: ignore[operator]
    assert caught.value.column == column


def test_feature_spec_rejects_inconsistent_names() -> None:
    with pytest.raises(FrameError):
        FeatureSpec.of(["a", "a"], ["a"])
    with pytest.raises(FrameError, match="cold-start feature"):
        FeatureSpec.of(["a", "b"], ["c"])
    with pytest.raises(FrameError, match="key column"):
        FeatureSpec.of(["card_id"], ["card_id"])
    with pytest.raises(FrameError):
        FeatureSpec.of(["a"], [])


def test_feature_matrix_is_float32_in_the_given_order_with_nan() -> None:
    frame = pd.DataFrame({"b": [1.0, np.nan], "a": [3, 4]})
    matrix = feature_matrix(frame, ["a", "b"])
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, np.array([[3, 1], [4, np.nan]], dtype=np.float32))
