"""The paired bootstrap of the PR-AUC difference: exact where it can be, honest where it cannot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from models.exceptions import ModelError
from models.significance import paired_bootstrap_average_precision, weighted_average_precision


def _slice(rows: int, fraud_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < fraud_rate
    return fraud, rng


def test_weighted_average_precision_is_scikit_learns_with_sample_weights() -> None:
    fraud, rng = _slice(3000, 0.05, 1)
    # Rounded scores: many ties, which both must treat as one threshold.
    scores = np.round(rng.random(fraud.size) + 0.6 * fraud, 2)
    weights = rng.integers(0, 4, size=(5, fraud.size)).astype(np.float64)
    ours = weighted_average_precision(fraud, scores, weights)
    theirs = [average_precision_score(fraud, scores, sample_weight=w) for w in weights]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_a_draw_without_fraud_has_no_average_precision() -> None:
    fraud = np.array([True, False, False])
    weights = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    result = weighted_average_precision(fraud, np.array([0.9, 0.1, 0.2]), weights)
    assert np.isnan(result[0]) and result[1] == pytest.approx(1.0)


def test_a_clearly_better_challenger_is_significant() -> None:
    fraud, rng = _slice(5000, 0.03, 2)
    champion = rng.random(fraud.size) + 0.3 * fraud
    challenger = rng.random(fraud.size) + 1.0 * fraud
    cards = rng.integers(0, 1500, fraud.size)
    test = paired_bootstrap_average_precision(fraud, champion, challenger, groups=cards, seed=3)
    assert test.observed_difference > 0.3
    assert test.ci_low > 0 and test.p_value < 0.01
    assert test.unit == "groups" and test.units == np.unique(cards).size
    assert test.rounds == 1000


def test_the_same_model_twice_is_no_evidence_at_all() -> None:
    fraud, rng = _slice(2000, 0.05, 4)
    scores = rng.random(fraud.size) + 0.5 * fraud
    test = paired_bootstrap_average_precision(fraud, scores, scores, rounds=200)
    assert test.observed_difference == 0.0 and test.ci_low == test.ci_high == 0.0
    assert test.p_value == 1.0


def test_resampling_cards_keeps_bursts_together_and_is_more_cautious_than_rows() -> None:
    # Fraud in bursts: each card's ten transactions are ten copies of one row. Rows
    # drawn one by one count a burst as ten independent pieces of evidence.
    fraud_cards, rng = _slice(400, 0.06, 5)
    champion_cards = rng.random(400) + 0.4 * fraud_cards
    challenger_cards = rng.random(400) + 0.6 * fraud_cards
    fraud, champion, challenger = (
        np.repeat(a, 10) for a in (fraud_cards, champion_cards, challenger_cards)
    )
    cards = np.repeat(np.arange(400), 10)
    by_row = paired_bootstrap_average_precision(fraud, champion, challenger, rounds=400, seed=6)
    by_card = paired_bootstrap_average_precision(
        fraud, champion, challenger, groups=cards, rounds=400, seed=6
    )
    assert by_row.observed_difference == by_card.observed_difference
    assert (by_card.ci_high - by_card.ci_low) > 2 * (by_row.ci_high - by_row.ci_low)
    assert by_card.p_value > by_row.p_value


def test_same_seed_same_answer() -> None:
    fraud, rng = _slice(1000, 0.05, 7)
    a, b = rng.random(fraud.size) + fraud * 0.2, rng.random(fraud.size) + fraud * 0.3
    first = paired_bootstrap_average_precision(fraud, a, b, rounds=300, seed=9)
    assert paired_bootstrap_average_precision(fraud, a, b, rounds=300, seed=9) == first


def test_a_slice_without_both_classes_is_refused() -> None:
    with pytest.raises(ModelError, match="fraud and legitimate"):
        paired_bootstrap_average_precision(np.zeros(10, dtype=bool), np.ones(10), np.ones(10))
