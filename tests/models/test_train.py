"""Training orchestration details: slices, params, the best candidate."""

from __future__ import annotations

import pytest

from models.exceptions import TrainingError
from models.split import SplitConfig
from models.synthetic import SyntheticData
from models.train import TrainingResult, train_candidates
from tests.models.helpers import small_train_config


def test_cold_start_model_is_judged_on_cold_start_rows(trained: TrainingResult) -> None:
    assert trained.cold_start is not None
    assert trained.cold_start.slice_name == "cold-start rows"
    assert trained.cold_start.rows["cold_start"].all()
    assert trained.cold_start.bundle.metadata["evaluated_on"] == "cold-start rows"


def test_too_few_cold_start_rows_fall_back_to_the_whole_slice(synthetic: SyntheticData) -> None:
    config = small_train_config(families=("logistic",), min_cold_start_rows=10**6)
    result = train_candidates(synthetic.frame, synthetic.labels, synthetic.spec, config)
    assert result.cold_start is not None
    assert result.cold_start.slice_name.startswith("all test rows (only ")
    assert len(result.cold_start.rows) == len(result.frames.test)
    assert result.cold_start.report.cold_start_rows < len(result.frames.test)


def test_params_are_flat_and_name_their_section() -> None:
    params = small_train_config().as_params()
    assert params["xgboost.n_estimators"] == 60
    assert params["split.test_days"] == 10.0
    assert params["thresholds.block_fpr"] == 0.001
    assert params["seed"] == 7
    assert not any(isinstance(v, dict) for v in params.values())


def test_best_scorer_has_the_highest_average_precision(trained: TrainingResult) -> None:
    best = trained.best_scorer()
    assert all(
        (best.report.average_precision or 0) >= (c.report.average_precision or 0)
        for c in trained.scorers.values()
    )


def test_the_challenger_prefers_the_cheaper_family_unless_clearly_beaten(
    trained: TrainingResult,
) -> None:
    families = ("xgboost", "lightgbm")
    ap = {f: trained.scorers[f].report.average_precision or 0.0 for f in families}
    gap = ap["lightgbm"] - ap["xgboost"]  # > 0 when LightGBM is better
    # Within the margin the first listed is kept; a margin the gap clears picks the best.
    assert trained.preferred_family(families, margin=abs(gap) + 1e-9) == "xgboost"
    assert trained.preferred_family(("lightgbm", "xgboost"), margin=abs(gap) + 1e-9) == "lightgbm"
    best = max(families, key=lambda f: ap[f])
    if gap != 0:
        assert trained.preferred_family(families, margin=abs(gap) / 2) == best


def test_too_few_legitimate_rows_for_the_cold_start_model_are_refused_before_any_training(
    synthetic: SyntheticData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows must be 60 days old to count as legitimate unlabelled: only the analyst-cleared
    # ones are left (273), as on a short simulation trained with the default 14 days.
    split = SplitConfig(test_days=10.0, gap_days=7.0, maturity_days=60.0)

    def no_scorer_first(*args: object, **kwargs: object) -> None:
        raise AssertionError("a scorer was trained before the cold-start rows were counted")

    monkeypatch.setattr("models.train._fit_scorer", no_scorer_first)
    with pytest.raises(TrainingError) as caught:
        train_candidates(
            synthetic.frame, synthetic.labels, synthetic.spec, small_train_config(split=split)
        )
    assert caught.value.family == "isolation_forest"
    message = str(caught.value)
    assert "needs at least 512 legitimate rows in the training window, found 273" in message
    assert "well over --test-days + 60 = 70 days" in message
    for way_out in ("--days", "--customers", "--test-days"):
        assert way_out in message
