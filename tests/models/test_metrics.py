"""Fraud metrics on hand-made slices where the right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import (
    average_precision,
    card_precision_at_k,
    evaluate_scores,
    recall_at_fpr,
    roc_auc,
)
from models.split import DAY_MS
from models.thresholds import Thresholds

T0 = 1_767_225_600_000


def test_card_precision_at_k_uses_the_max_score_per_card_and_day() -> None:
    times = [T0, T0 + 1, T0 + 2, T0 + 3, T0 + DAY_MS, T0 + DAY_MS + 1]
    cards = ["a", "a", "b", "c", "a", "d"]
    fraud = [False, True, False, False, False, False]
    scores = [0.1, 0.2, 0.9, 0.5, 0.9, 0.8]
    # Day 0: max scores b=0.9, c=0.5, a=0.2 (a had fraud) -> top 2 = b, c -> 0/2.
    #        top 3 = b, c, a -> 1/3.  Day 1: a=0.9, d=0.8, no fraud -> 0.
    assert card_precision_at_k(times, cards, fraud, scores, 2) == 0.0
    assert card_precision_at_k(times, cards, fraud, scores, 3) == pytest.approx((1 / 3 + 0) / 2)
    # A day with fewer cards than k is judged on k slots.
    assert card_precision_at_k(times, cards, fraud, scores, 6) == pytest.approx((1 / 6 + 0) / 2)


def test_recall_at_fpr() -> None:
    scores = np.linspace(0.0, 1.0, 101)
    fraud = np.zeros(101, dtype=bool)
    fraud[[100, 99, 50, 10]] = True
    # 97 legitimate rows; 1 % FPR allows none of them, so only frauds above all legit count.
    assert recall_at_fpr(fraud, scores, 0.01) == pytest.approx(2 / 4)
    assert recall_at_fpr(fraud, scores, 0.6) == pytest.approx(3 / 4)


def test_undefined_metrics_are_none_not_numbers() -> None:
    all_legit = np.zeros(5, dtype=bool)
    scores = np.arange(5) / 5
    assert roc_auc(all_legit, scores) is None
    assert average_precision(all_legit, scores) is None
    assert recall_at_fpr(all_legit, scores, 0.01) is None
    assert roc_auc(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0


def test_evaluation_report_is_flat_numbers_for_mlflow() -> None:
    rows = pd.DataFrame(
        {
            "event_time_ms": np.array([T0, T0 + 1, T0 + 2, T0 + DAY_MS], np.int64),
            "card_id": ["a", "b", "c", "a"],
            "cold_start": [True, False, True, False],
            "is_fraud": [True, False, False, False],
        }
    )
    report = evaluate_scores(
        "m", rows, np.array([0.9, 0.1, 0.2, 0.3]), Thresholds(0.5, 0.95), days=2.0, card_k=1
    )
    metrics = report.metrics()
    assert metrics["roc_auc"] == 1.0 and metrics["average_precision"] == 1.0
    assert metrics["cold_start_roc_auc"] == 1.0 and metrics["cold_start_rows"] == 2
    assert metrics["card_precision_at_k"] == 0.5
    assert metrics["threshold_flag"] == 0.5 and metrics["flag_per_day"] == 0.5
    assert all(isinstance(v, float) for v in metrics.values())
