"""Time splits and point-in-time labels: nothing from the future reaches a training frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.exceptions import SplitError
from models.frame import LABEL_COLUMN
from models.labels import label_training_rows, labels_known_at
from models.split import DAY_MS, SplitConfig, plan_time_split, split_frames
from models.synthetic import SyntheticData

T0 = 1_767_225_600_000  # 2026-01-01


def _frame(times_days: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tx_id": [f"t{i}" for i in range(len(times_days))],
            "event_time_ms": np.array([T0 + round(d * DAY_MS) for d in times_days], np.int64),
            "card_id": "c",
            "customer_id": "u",
            "cold_start": False,
            "x": 1.0,
        }
    )


def _labels(rows: list[tuple[str, bool, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tx_id": [r[0] for r in rows],
            "is_fraud": np.array([r[1] for r in rows], dtype=bool),
            "known_at_ms": np.array([T0 + round(r[2] * DAY_MS) for r in rows], np.int64),
            "source": [r[3] for r in rows],
        }
    )


def test_training_labels_are_those_known_at_the_cutoff() -> None:
    # cutoff on day 30, maturity 10 days: rows before day 20 are mature.
    rows = _frame([1, 2, 3, 4, 25, 26, 27])
    labels = _labels(
        [
            ("t0", True, 31, "chargeback"),  # old, fraud known only after the cutoff
            ("t1", True, 10, "chargeback"),  # old, fraud known in time
            ("t2", False, 3, "analyst"),  # cleared, then a chargeback in time: fraud
            ("t2", True, 20, "chargeback"),
            ("t3", False, 5, "analyst"),  # cleared, chargeback after the cutoff: still legit
            ("t3", True, 40, "chargeback"),
            ("t4", True, 29, "analyst"),  # young, fraud known in time: kept
            ("t5", True, 35, "chargeback"),  # young, label after the cutoff: dropped
            # t6: young, no label at all: dropped
        ]
    )
    labeled = label_training_rows(rows, labels, as_of_ms=T0 + 30 * DAY_MS, maturity_ms=10 * DAY_MS)
    got = dict(zip(labeled["tx_id"], labeled[LABEL_COLUMN], strict=True))
    assert got == {"t0": False, "t1": True, "t2": True, "t3": False, "t4": True}
    assert labeled[LABEL_COLUMN].dtype == bool


def test_labels_known_at_takes_the_latest_known_label() -> None:
    labels = _labels([("a", False, 1, "analyst"), ("a", True, 5, "chargeback")])
    assert not labels_known_at(labels, T0 + 2 * DAY_MS)["a"]
    assert labels_known_at(labels, T0 + 5 * DAY_MS)["a"]
    assert "a" not in labels_known_at(labels, T0).index


def test_split_boundaries_follow_the_config(synthetic: SyntheticData) -> None:
    config = SplitConfig(test_days=10, gap_days=7, train_days=30, maturity_days=14)
    split = plan_time_split(synthetic.frame, synthetic.labels, config)
    end = int(synthetic.frame["event_time_ms"].iloc[-1]) + 1
    assert split.test_end_ms == end
    assert split.test_start_ms == split.label_cutoff_ms == end - 10 * DAY_MS
    assert split.train_end_ms == split.test_start_ms - 7 * DAY_MS
    assert split.train_start_ms == split.train_end_ms - 30 * DAY_MS
    assert split.evaluate_at_ms == int(synthetic.labels["known_at_ms"].max())


def test_no_future_rows_or_labels_in_the_training_frame(synthetic: SyntheticData) -> None:
    split = plan_time_split(synthetic.frame, synthetic.labels, SplitConfig(test_days=10))
    frames = split_frames(synthetic.frame, synthetic.labels, split)
    train, test, labels = frames.train, frames.test, synthetic.labels

    assert train["event_time_ms"].max() < split.train_end_ms
    assert test["event_time_ms"].min() >= split.test_start_ms
    gap = synthetic.frame["event_time_ms"].between(split.train_end_ms, split.test_start_ms - 1)
    assert gap.any() and not set(synthetic.frame.loc[gap, "tx_id"]) & set(train["tx_id"])

    known_fraud = set(
        labels.loc[labels["is_fraud"] & (labels["known_at_ms"] <= split.label_cutoff_ms), "tx_id"]
    )
    train_fraud = set(train.loc[train[LABEL_COLUMN], "tx_id"])
    assert train_fraud <= known_fraud
    # Fraud whose label came after the cutoff exists in the training window and is not fraud there.
    late = set(labels.loc[labels["is_fraud"], "tx_id"]) - known_fraud
    late_in_train = late & set(train["tx_id"])
    assert late_in_train, "the fixture should contain late labels to make this test meaningful"
    assert not late_in_train & train_fraud
    # Unlabeled rows younger than the maturity period were dropped, older ones kept as legit.
    young = train["event_time_ms"] > split.label_cutoff_ms - split.maturity_ms
    labeled_by_cutoff = set(labels.loc[labels["known_at_ms"] <= split.label_cutoff_ms, "tx_id"])
    assert train.loc[young, "tx_id"].isin(labeled_by_cutoff).all()
    assert not train.loc[~young, "tx_id"].isin(labeled_by_cutoff).all()


def test_test_labels_are_read_at_the_evaluation_time(synthetic: SyntheticData) -> None:
    early = SplitConfig(test_days=10, evaluate_at_ms=None)
    split = plan_time_split(synthetic.frame, synthetic.labels, early)
    matured = split_frames(synthetic.frame, synthetic.labels, split).test
    at_end = plan_time_split(
        synthetic.frame,
        synthetic.labels,
        SplitConfig(test_days=10, evaluate_at_ms=split.test_end_ms),
    )
    immature = split_frames(synthetic.frame, synthetic.labels, at_end).test
    assert len(matured) == len(immature)
    # Chargebacks take days: read at the end of the slice, fewer of its frauds are known.
    assert immature[LABEL_COLUMN].sum() < matured[LABEL_COLUMN].sum()


def test_a_split_without_fraud_to_learn_from_is_refused() -> None:
    rows = _frame([float(d) for d in range(40)])
    labels = _labels([("t39", True, 39.5, "chargeback")])
    split = plan_time_split(rows, labels, SplitConfig(test_days=5, gap_days=2, maturity_days=1))
    with pytest.raises(SplitError, match="no fraud"):
        split_frames(rows, labels, split)


def test_a_frame_shorter_than_test_plus_gap_is_refused() -> None:
    rows = _frame([0, 1, 2])
    with pytest.raises(SplitError, match="too short"):
        plan_time_split(rows, _labels([]), SplitConfig(test_days=2, gap_days=2))


def test_a_too_short_frame_says_its_span_the_window_needed_and_what_to_change() -> None:
    rows = _frame([0, 1, 2.5])
    with pytest.raises(SplitError) as caught:
        plan_time_split(rows, _labels([]), SplitConfig(test_days=2, gap_days=2))
    message = str(caught.value)
    # The span (first and last event, days), the window asked for, the options that set it.
    assert "2026-01-01 .. 2026-01-03 (2.5 days)" in message
    assert "4 days (--test-days 2 + --gap-days 2)" in message
    # Together under 2.5 days leaves some training history; a cutoff only exists in retraining.
    assert "less than 2.5 days" in message
    assert "--cutoff" not in message and "--maturity-days" not in message


def test_a_too_short_log_at_a_cutoff_also_names_the_cutoff_and_the_maturity() -> None:
    rows = _frame([0, 1, 2.5])
    config = SplitConfig(test_days=2, gap_days=2, maturity_days=14, end_ms=T0 + 3 * DAY_MS)
    with pytest.raises(SplitError) as caught:
        plan_time_split(rows, _labels([]), config)
    message = str(caught.value)
    assert "2026-01-01 .. 2026-01-03 (3 days up to the cutoff, 2026-01-04 00:00)" in message
    assert "later --cutoff" in message
    # With 14 days' maturity every unlabelled training row of a 3-day log would be dropped.
    assert "--maturity-days 14" in message
