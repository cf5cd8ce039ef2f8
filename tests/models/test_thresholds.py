"""Threshold policy: the stated FPR and review capacity hold on the slice they were chosen on."""

from __future__ import annotations

import numpy as np
import pytest

from models.exceptions import ModelError
from models.frame import LABEL_COLUMN
from models.thresholds import (
    ThresholdPolicy,
    Thresholds,
    choose_thresholds,
    decision_volumes,
    threshold_for_count,
    threshold_for_fpr,
)
from models.train import TrainingResult


def _slice_days(trained: TrainingResult) -> float:
    split = trained.frames.split
    return (split.test_end_ms - split.test_start_ms) / 86_400_000


@pytest.mark.parametrize("family", ["xgboost", "lightgbm", "logistic"])
def test_policy_gives_the_stated_fpr_on_the_test_slice(
    trained: TrainingResult, family: str
) -> None:
    candidate = trained.scorers[family]
    fraud = candidate.rows[LABEL_COLUMN].to_numpy(dtype=bool)
    days = _slice_days(trained)
    policy = ThresholdPolicy(block_fpr=0.002, flag_fpr=0.02)
    thresholds = choose_thresholds(candidate.scores, fraud, days, policy)
    volumes = decision_volumes(candidate.scores, fraud, days, thresholds)
    negatives = int((~fraud).sum())
    for achieved, target in ((volumes.block_fpr, 0.002), (volumes.flag_fpr, 0.02)):
        assert achieved <= target
        # As close as the slice allows: at most one legitimate row short of the budget
        # (ties in the scores may cost a little more, continuous scores have none here).
        assert achieved >= target - 1.0 / negatives
    assert thresholds.flag <= thresholds.block
    assert volumes.flag_recall >= volumes.block_recall > 0.0


def test_review_capacity_caps_alerts_per_day(trained: TrainingResult) -> None:
    candidate = trained.scorers["xgboost"]
    fraud = candidate.rows[LABEL_COLUMN].to_numpy(dtype=bool)
    days = _slice_days(trained)
    loose = choose_thresholds(candidate.scores, fraud, days, ThresholdPolicy(flag_fpr=0.05))
    capped = choose_thresholds(
        candidate.scores, fraud, days, ThresholdPolicy(flag_fpr=0.05, flag_daily_capacity=2)
    )
    assert decision_volumes(candidate.scores, fraud, days, loose).flag_per_day > 2
    assert decision_volumes(candidate.scores, fraud, days, capped).flag_per_day <= 2
    assert "capacity" in capped.basis


def test_threshold_for_count_respects_ties() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.1])
    t = threshold_for_count(scores, 2)
    assert (scores >= t).sum() == 1  # the tie at 0.8 cannot be split, so only 0.9 fires
    assert (scores >= threshold_for_count(scores, 4)).sum() == 4
    assert (scores >= threshold_for_count(scores, 0)).sum() == 0
    assert (scores >= threshold_for_count(scores, 10)).sum() == 5


def test_threshold_for_fpr_counts_legitimate_rows_only() -> None:
    scores = np.array([0.99, 0.95, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01])
    fraud = np.array([True, True] + [False] * 10)
    t = threshold_for_fpr(scores, fraud, 0.1)  # one false positive allowed out of ten
    assert ((scores >= t) & ~fraud).sum() == 1
    assert ((scores >= t) & fraud).sum() == 2


def test_decision_volumes_on_a_hand_made_slice() -> None:
    scores = np.array([0.95, 0.7, 0.6, 0.2, 0.1, 0.9])
    fraud = np.array([True, False, True, False, False, False])
    volumes = decision_volumes(scores, fraud, 2.0, Thresholds(flag=0.6, block=0.9))
    assert volumes.days == 2
    assert volumes.flag_per_day == 2.0  # 0.95, 0.7, 0.6, 0.9
    assert volumes.block_per_day == 1.0  # 0.95, 0.9
    assert volumes.flag_fpr == pytest.approx(2 / 4)
    assert volumes.block_fpr == pytest.approx(1 / 4)
    assert volumes.flag_recall == 1.0 and volumes.block_recall == 0.5


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ModelError):
        ThresholdPolicy(block_fpr=0.05, flag_fpr=0.01)
    with pytest.raises(ModelError):
        Thresholds(flag=0.9, block=0.5)


def test_capacity_counts_the_slices_span_not_the_calendar_days_it_touches() -> None:
    # Seven days from noon touch eight UTC dates: a capacity of 20 a day let 160
    # alerts through (22.9 a day), and the report divided by 8 and said 20.
    rng = np.random.default_rng(3)
    scores = rng.random(7_000)
    fraud = np.zeros(7_000, dtype=bool)
    policy = ThresholdPolicy(block_fpr=0.0, flag_fpr=0.5, flag_daily_capacity=20)
    thresholds = choose_thresholds(scores, fraud, 7.0, policy)
    volumes = decision_volumes(scores, fraud, 7.0, thresholds)
    assert (scores >= thresholds.flag).sum() <= 140
    assert volumes.days == 7.0 and volumes.flag_per_day <= 20.0
    with pytest.raises(ModelError, match="must last"):
        decision_volumes(scores, fraud, 0.0, thresholds)
