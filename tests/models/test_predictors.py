"""Serving paths agree with the libraries they replace."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from models.cold_start import fit_isolation_forest
from models.fast_trees import FlatForest, FlatIsolationForest
from models.frame import LABEL_COLUMN, feature_matrix
from models.logistic_model import fit_pipeline
from models.predictor import positive_class_weight
from models.synthetic import SyntheticData
from models.train import TrainingResult
from models.xgb_model import SMALL_BATCH_ROWS, XGBoostPredictor


def test_flat_forest_matches_inplace_predict(trained: TrainingResult) -> None:
    predictor = trained.scorers["xgboost"].bundle.predictor
    assert isinstance(predictor, XGBoostPredictor)
    rows = feature_matrix(trained.frames.test, trained.scorers["xgboost"].bundle.feature_names)
    rows[::7, 3] = np.nan  # missing values follow each node's default direction
    flat = FlatForest.from_booster(predictor.booster)
    assert flat is not None
    expected = predictor.booster.inplace_predict(rows)
    np.testing.assert_allclose(flat.predict(rows), expected, rtol=0, atol=1e-6)
    # The predictor switches paths by batch size; both give the same scores.
    small = np.concatenate(
        [predictor.predict(rows[i : i + SMALL_BATCH_ROWS]) for i in range(0, 200, SMALL_BATCH_ROWS)]
    )
    np.testing.assert_allclose(small, expected[: small.size], rtol=0, atol=1e-6)


def test_flat_forest_declines_what_it_does_not_support() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    booster = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 2, "nthread": 1},
        xgb.DMatrix(x, label=x[:, 0]),
        num_boost_round=3,
    )
    assert FlatForest.from_booster(booster) is None
    served = XGBoostPredictor(booster)  # still serves, through inplace_predict
    np.testing.assert_allclose(served.predict(x[:1]), booster.inplace_predict(x[:1]))


def test_flat_isolation_forest_matches_pyod(
    synthetic: SyntheticData, trained: TrainingResult
) -> None:
    config = trained.config
    train = feature_matrix(trained.frames.train, synthetic.spec.cold_start_features)
    detector = fit_isolation_forest(np.nan_to_num(train[:2000]), config.cold_start_params, seed=4)
    flat = FlatIsolationForest.from_sklearn(detector.detector_)  # type: ignore[attr-defined]
    rows = np.nan_to_num(feature_matrix(trained.frames.test, synthetic.spec.cold_start_features))
    expected = detector.decision_function(rows)  # type: ignore[attr-defined]
    np.testing.assert_allclose(flat.anomaly_scores(rows), expected, rtol=0, atol=1e-12)


def test_linear_predictor_matches_the_sklearn_pipeline(
    synthetic: SyntheticData, trained: TrainingResult
) -> None:
    train = trained.frames.train
    x = feature_matrix(train, synthetic.spec.feature_names)
    y = train[LABEL_COLUMN].to_numpy(dtype=bool)
    config = trained.config
    pipeline = fit_pipeline(
        x,
        y,
        params=config.logistic,
        positive_weight=positive_class_weight(y, config.imbalance),
        seed=config.seed,
    )
    served = trained.scorers["logistic"].bundle.predictor
    test_x = feature_matrix(trained.frames.test, synthetic.spec.feature_names)
    expected = pipeline.predict_proba(test_x.astype(np.float64))[:, 1]
    np.testing.assert_allclose(served.predict(test_x), expected, rtol=1e-6, atol=1e-7)


def test_positive_class_weight_modes() -> None:
    y = np.array([True] + [False] * 99)
    assert positive_class_weight(y, "balanced") == 99.0
    assert positive_class_weight(y, "sqrt") == np.sqrt(99.0)
    assert positive_class_weight(y, "none") == 1.0
    assert positive_class_weight(np.zeros(5, dtype=bool), "balanced") == 1.0
