"""Exact SHAP: contributions plus bias add up to the margin; top-k is ordered and honest."""

from __future__ import annotations

import numpy as np
import pytest

from models.exceptions import ExplanationError
from models.explain import contribution_matrix, top_contributions
from models.frame import feature_matrix
from models.predictor import ContributionPredictor
from models.train import TrainingResult


@pytest.mark.parametrize("family", ["xgboost", "lightgbm", "logistic"])
def test_contributions_sum_to_the_margin(trained: TrainingResult, family: str) -> None:
    bundle = trained.scorers[family].bundle
    predictor = bundle.predictor
    assert isinstance(predictor, ContributionPredictor)
    rows = feature_matrix(trained.frames.test, bundle.feature_names)[:300]
    contributions = contribution_matrix(predictor, rows, batch_size=64)  # several batches
    assert contributions.shape == (300, len(bundle.feature_names) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), predictor.margin(rows), atol=1e-4)
    # The margin is the score on the log-odds scale.
    probabilities = 1.0 / (1.0 + np.exp(-predictor.margin(rows)))
    np.testing.assert_allclose(probabilities, predictor.predict(rows), atol=1e-5)


def test_top_contributions_are_the_largest_with_served_values(trained: TrainingResult) -> None:
    bundle = trained.scorers["xgboost"].bundle
    rows = feature_matrix(trained.frames.test, bundle.feature_names)[:50]
    full = contribution_matrix(bundle.predictor, rows)[:, :-1]
    explained = top_contributions(bundle.predictor, bundle.feature_names, rows, top_k=3)
    assert len(explained) == 50
    for row, row_full, items in zip(rows, full, explained, strict=True):
        assert len(items) == 3
        sizes = [abs(item.contribution) for item in items]
        assert sizes == sorted(sizes, reverse=True)
        assert sizes[-1] >= np.sort(np.abs(row_full))[-3] - 1e-12
        for item in items:
            j = bundle.feature_names.index(item.feature)
            assert item.contribution == pytest.approx(row_full[j])
            assert (item.value is None) == bool(np.isnan(row[j]))
            if item.value is not None:
                assert item.value == pytest.approx(float(row[j]))


def test_the_isolation_forest_has_no_contributions(trained: TrainingResult) -> None:
    assert trained.cold_start is not None
    bundle = trained.cold_start.bundle
    rows = feature_matrix(trained.frames.test, bundle.feature_names)[:5]
    with pytest.raises(ExplanationError):
        top_contributions(bundle.predictor, bundle.feature_names, rows)
