"""Tree SHAP from flattened paths equals XGBoost's own and the Shapley definition itself."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from numpy.typing import NDArray

import models.fast_tree_shap as fast_tree_shap
from models.fast_tree_shap import PathShap
from models.fast_trees import FlatForest
from models.frame import feature_matrix
from models.train import TrainingResult
from models.xgb_model import SMALL_BATCH_ROWS, XGBoostPredictor


def _xgboost_contributions(booster: Any, rows: NDArray[np.float32]) -> NDArray[np.float64]:
    matrix = xgb.DMatrix(rows, missing=np.nan)
    return np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)


def _paths(booster: Any) -> PathShap:
    forest = FlatForest.from_booster(booster)
    assert forest is not None
    paths = PathShap.from_forest(forest, booster.num_features())
    assert paths is not None
    return paths


def _booster(features: NDArray[np.float32], *, depth: int, trees: int, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    filled = np.nan_to_num(features)
    signal = filled[:, 0] * filled[:, 1] + np.sin(3 * filled[:, -1])
    labels = (signal + rng.normal(scale=0.5, size=len(features)) > 0.3).astype(np.float32)
    params = {"max_depth": depth, "eta": 0.3, "objective": "binary:logistic", "seed": seed}
    return xgb.train(params, xgb.DMatrix(features, labels, missing=np.nan), trees)


def _random_rows(rows: int, columns: int, *, seed: int) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).astype(np.float32)
    values[rng.random(values.shape) < 0.15] = np.nan
    return values


def test_equal_to_xgboost_on_the_trained_champion_family(trained: TrainingResult) -> None:
    predictor = trained.scorers["xgboost"].bundle.predictor
    assert isinstance(predictor, XGBoostPredictor)
    names = trained.scorers["xgboost"].bundle.feature_names
    rows = feature_matrix(trained.frames.test, names)[:300]
    assert np.isnan(rows).any()  # missing values take their default way
    extremes = np.stack(
        [
            np.full(len(names), np.nan, dtype=np.float32),
            np.full(len(names), 3.0e38, dtype=np.float32),
            np.full(len(names), -3.0e38, dtype=np.float32),
            np.zeros(len(names), dtype=np.float32),
        ]
    )
    everything = np.ascontiguousarray(np.vstack([rows, extremes]))
    ours = _paths(predictor.booster).contributions(everything)
    theirs = _xgboost_contributions(predictor.booster, everything)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    margins = predictor.margin(everything)
    np.testing.assert_allclose(ours.sum(axis=1), margins, atol=1e-4)


def test_a_feature_met_twice_on_one_path_counts_once() -> None:
    # Two features and deep trees: paths split on the same feature again and again.
    features = _random_rows(4000, 2, seed=1)
    booster = _booster(features, depth=7, trees=40)
    paths = _paths(booster)
    per_leaf_edges = np.diff(paths.edge_start)
    per_leaf_features = np.diff(paths.slot_start)
    assert (per_leaf_edges > per_leaf_features).mean() > 0.5
    rows = _random_rows(200, 2, seed=2)
    np.testing.assert_allclose(
        paths.contributions(rows), _xgboost_contributions(booster, rows), rtol=1e-5, atol=1e-5
    )


def _expectation(
    tree: dict[str, Any], node: int, row: NDArray[np.float32], known: set[int]
) -> float:
    """E[tree | the features in ``known``], path-dependent: unknown splits weigh by cover."""
    left, right = tree["left_children"][node], tree["right_children"][node]
    if left == -1:
        return float(tree["split_conditions"][node])  # a leaf's value
    feature = tree["split_indices"][node]
    if feature in known:
        value = row[feature]
        goes_left = (
            bool(tree["default_left"][node])
            if np.isnan(value)
            else (value < np.float32(tree["split_conditions"][node]))
        )
        return _expectation(tree, left if goes_left else right, row, known)
    cover = tree["sum_hessian"]
    weighted = cover[left] * _expectation(tree, left, row, known) + cover[right] * _expectation(
        tree, right, row, known
    )
    return float(weighted / cover[node])


def test_equal_to_shapley_values_by_enumerating_every_coalition() -> None:
    features = _random_rows(1500, 4, seed=3)
    booster = _booster(features, depth=4, trees=6)
    model = json.loads(booster.save_raw(raw_format="json"))["learner"]
    trees = model["gradient_booster"]["model"]["trees"]
    base_score = float(model["learner_model_param"]["base_score"].strip("[]"))
    base_margin = math.log(base_score / (1 - base_score))
    players = range(4)
    rows = _random_rows(12, 4, seed=4)
    ours = _paths(booster).contributions(rows)
    for row, explained in zip(rows, ours, strict=True):

        def value(known: set[int], row: NDArray[np.float32] = row) -> float:
            return base_margin + sum(_expectation(tree, 0, row, known) for tree in trees)

        for player in players:
            others = [p for p in players if p != player]
            shapley = 0.0
            for size in range(len(others) + 1):
                weight = math.factorial(size) * math.factorial(3 - size) / math.factorial(4)
                for coalition in itertools.combinations(others, size):
                    known = set(coalition)
                    shapley += weight * (value(known | {player}) - value(known))
            assert explained[player] == pytest.approx(shapley, abs=1e-5)
        assert explained[4] == pytest.approx(value(set()), abs=1e-5)  # the bias


def test_the_predictor_explains_through_the_paths_however_many_rows(
    trained: TrainingResult,
) -> None:
    booster = trained.scorers["xgboost"].bundle.predictor.booster  # type: ignore[attr-defined]
    predictor = XGBoostPredictor(booster)
    assert "_path_shap" not in predictor.__dict__  # scoring alone never builds the paths
    predictor.predict(np.zeros((1, booster.num_features()), dtype=np.float32))
    assert "_path_shap" not in predictor.__dict__
    names = trained.scorers["xgboost"].bundle.feature_names
    rows = np.ascontiguousarray(feature_matrix(trained.frames.test, names)[: SMALL_BATCH_ROWS * 3])
    explained = predictor.contributions(rows)  # a burst of flagged rows takes the paths too
    assert isinstance(predictor.__dict__["_path_shap"], PathShap)
    np.testing.assert_allclose(
        explained, _xgboost_contributions(booster, rows), rtol=1e-5, atol=1e-5
    )


def test_rows_of_the_wrong_width_are_refused_and_float64_is_read_as_float32(
    trained: TrainingResult,
) -> None:
    booster = trained.scorers["xgboost"].bundle.predictor.booster  # type: ignore[attr-defined]
    paths = _paths(booster)
    names = trained.scorers["xgboost"].bundle.feature_names
    rows = np.ascontiguousarray(feature_matrix(trained.frames.test, names)[:20])
    with pytest.raises(ValueError, match="features"):
        paths.contributions(rows[:, :-1])
    with pytest.raises(ValueError, match="features"):
        paths.contributions(rows[0])
    # Fortran order and float64 give what the float32 C-ordered rows give.
    np.testing.assert_array_equal(
        paths.contributions(np.asfortranarray(rows.astype(np.float64))), paths.contributions(rows)
    )


def test_forests_it_cannot_explain_are_left_to_xgboost(
    trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster = trained.scorers["xgboost"].bundle.predictor.booster  # type: ignore[attr-defined]
    forest = FlatForest.from_booster(booster)
    assert forest is not None
    uncovered = FlatForest(**{**forest.__dict__, "cover": None})
    assert PathShap.from_forest(uncovered, booster.num_features()) is None
    monkeypatch.setattr(fast_tree_shap, "MAX_PATH_FEATURES", 2)
    assert PathShap.from_forest(forest, booster.num_features()) is None
    predictor = XGBoostPredictor(booster)
    names = trained.scorers["xgboost"].bundle.feature_names
    rows = np.ascontiguousarray(feature_matrix(trained.frames.test, names)[:3])
    np.testing.assert_allclose(
        predictor.contributions(rows), _xgboost_contributions(booster, rows), atol=1e-6
    )
    assert predictor.__dict__["_path_shap"] is None  # XGBoost's own answered


def test_a_node_no_root_reaches_is_not_flattened(trained: TrainingResult) -> None:
    booster = trained.scorers["xgboost"].bundle.predictor.booster  # type: ignore[attr-defined]
    forest = FlatForest.from_booster(booster)
    assert forest is not None and forest.cover is not None
    # A pruned tree's leftover: a leaf that no root leads to would count in the bias.
    orphaned = FlatForest(
        roots=forest.roots,
        left=np.append(forest.left, -1).astype(np.int32),
        right=np.append(forest.right, -1).astype(np.int32),
        feature=np.append(forest.feature, 0).astype(np.int32),
        value=np.append(forest.value, 5.0).astype(np.float32),
        default_left=np.append(forest.default_left, 0).astype(np.uint8),
        base_margin=forest.base_margin,
        cover=np.append(forest.cover, 1.0),
    )
    assert PathShap.from_forest(orphaned, booster.num_features()) is None
    assert PathShap.from_forest(forest, booster.num_features()) is not None
