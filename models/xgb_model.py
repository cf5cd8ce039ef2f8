"""XGBoost: the champion candidate, and the model the scorer's latency budget is built around.

Training uses ``hist`` trees (fast, deterministic for a fixed seed and data).
Serving uses one thread (the scorer scales by processes, not threads) and
never builds a DMatrix per row: batches of up to ``SMALL_BATCH_ROWS`` rows go
through the compiled flat-forest walk (``models.fast_trees``), larger ones
through ``Booster.inplace_predict``. Explanations are exact tree SHAP on
just the rows asked for, from the flattened paths of ``models.fast_tree_shap``
(about a third of XGBoost's time per row, however many rows: a burst of
blocked rows must not fall back to the slow path); XGBoost's own
``pred_contribs=True`` explains forests that cannot be flattened, and tests
hold the two equal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

from models.exceptions import TrainingError
from models.fast_tree_shap import PathShap
from models.fast_trees import FlatForest

__all__ = ["SMALL_BATCH_ROWS", "XGBoostParams", "XGBoostPredictor", "load", "train_xgboost"]

#: Up to this many rows the flat walk wins: it costs ~6 µs + ~11 µs/row against
#: inplace_predict's ~215 µs + ~5 µs/row (300 trees of depth 6, 32 features, one
#: thread, measured on the 2-core dev machine): they cross at ~35 rows.
SMALL_BATCH_ROWS = 32
_MODEL_FILE = "model.ubj"


@dataclass(frozen=True)
class XGBoostParams:
    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0


class XGBoostPredictor:
    """A booster set up for serving: one thread, flat walk for small batches."""

    def __init__(self, booster: Any) -> None:
        booster.set_param({"nthread": 1})
        self.booster = booster
        self._flat = FlatForest.from_booster(booster)

    @property
    def family(self) -> Literal["xgboost"]:
        return "xgboost"

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        if self._flat is not None and features.shape[0] <= SMALL_BATCH_ROWS:
            return self._flat.predict(features)
        scores: NDArray[np.float32] = self.booster.inplace_predict(
            features, validate_features=False
        )
        return scores

    def margin(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        margins = self.booster.inplace_predict(
            features, predict_type="margin", validate_features=False
        )
        return np.asarray(margins, dtype=np.float64)

    def contributions(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        if self._path_shap is not None:
            return self._path_shap.contributions(features)
        # One DMatrix for the whole batch of explained rows, never one per row.
        matrix = xgb.DMatrix(features, missing=np.nan, nthread=1)
        return np.asarray(self.booster.predict(matrix, pred_contribs=True), dtype=np.float64)

    @functools.cached_property
    def _path_shap(self) -> PathShap | None:
        # Built on the first explanation (milliseconds, plus the first compile in a
        # process), not for a model that only scores.
        if self._flat is None:
            return None
        return PathShap.from_forest(self._flat, self.booster.num_features())

    def preprocessing(self) -> dict[str, object]:
        return {"impute": "none (trees route NaN by their learned default)", "scale": "none"}

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / _MODEL_FILE))


def load(directory: Path) -> XGBoostPredictor:
    booster = xgb.Booster()
    booster.load_model(str(directory / _MODEL_FILE))
    return XGBoostPredictor(booster)


def train_xgboost(
    features: NDArray[np.float32],
    is_fraud: NDArray[np.bool_],
    *,
    params: XGBoostParams,
    positive_weight: float,
    seed: int,
    n_jobs: int,
    on_round: Callable[[], None] | None = None,
) -> XGBoostPredictor:
    """Fit a binary:logistic booster; ``on_round`` is called after each tree (progress bars)."""
    config = asdict(params)
    rounds = config.pop("n_estimators")
    booster_params = {
        **config,
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "scale_pos_weight": positive_weight,
        "seed": seed,
        "nthread": n_jobs,
        "verbosity": 0,
    }
    callbacks = [_RoundCallback(on_round)] if on_round is not None else None
    try:
        matrix = xgb.DMatrix(features, label=is_fraud.astype(np.float32), missing=np.nan)
        booster = xgb.train(booster_params, matrix, num_boost_round=rounds, callbacks=callbacks)
    except xgb.core.XGBoostError as exc:
        raise TrainingError(str(exc), family="xgboost") from exc
    return XGBoostPredictor(booster)


class _RoundCallback(xgb.callback.TrainingCallback):
    """Calls a plain function after each boosting round (drives a progress bar)."""

    def __init__(self, on_round: Callable[[], None]) -> None:
        super().__init__()
        self._on_round = on_round

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self._on_round()
        return False  # never stop early: the number of trees is a stated parameter
