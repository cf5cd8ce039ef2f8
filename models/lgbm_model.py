"""LightGBM: the challenger family (leaf-wise trees, a different bias from XGBoost's).

Training is pinned for reproducibility (``deterministic``, row-wise histograms,
one seed for every sampler). Serving uses one thread; explanations use
LightGBM's own exact tree SHAP (``pred_contrib=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from models.exceptions import TrainingError

__all__ = ["LightGBMParams", "LightGBMPredictor", "load", "train_lightgbm"]

_MODEL_FILE = "model.txt"


@dataclass(frozen=True)
class LightGBMParams:
    n_estimators: int = 300
    num_leaves: int = 31
    learning_rate: float = 0.05
    min_child_samples: int = 20
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    reg_lambda: float = 1.0


class LightGBMPredictor:
    def __init__(self, booster: Any) -> None:
        self.booster = booster

    @property
    def family(self) -> Literal["lightgbm"]:
        return "lightgbm"

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        scores = self.booster.predict(features, num_threads=1)
        return np.asarray(scores, dtype=np.float32)

    def margin(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        margins = self.booster.predict(features, raw_score=True, num_threads=1)
        return np.asarray(margins, dtype=np.float64)

    def contributions(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        values = self.booster.predict(features, pred_contrib=True, num_threads=1)
        return np.asarray(values, dtype=np.float64)

    def preprocessing(self) -> dict[str, object]:
        return {"impute": "none (NaN goes to the learned side of each split)", "scale": "none"}

    def save(self, directory: Path) -> None:
        self.booster.save_model(str(directory / _MODEL_FILE))


def load(directory: Path) -> LightGBMPredictor:
    return LightGBMPredictor(lgb.Booster(model_file=str(directory / _MODEL_FILE)))


def train_lightgbm(
    features: NDArray[np.float32],
    is_fraud: NDArray[np.bool_],
    *,
    params: LightGBMParams,
    positive_weight: float,
    seed: int,
    n_jobs: int,
    on_round: Callable[[], None] | None = None,
) -> LightGBMPredictor:
    """Fit a binary LightGBM model; ``on_round`` is called after each tree."""
    booster_params = {
        "objective": "binary",
        "num_leaves": params.num_leaves,
        "learning_rate": params.learning_rate,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.reg_lambda,
        "scale_pos_weight": positive_weight,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": n_jobs,
        "verbosity": -1,
    }
    callbacks: list[Callable[[Any], None]] | None = None
    if on_round is not None:
        tick = on_round

        def after_round(_env: Any) -> None:
            tick()

        callbacks = [after_round]
    try:
        dataset = lgb.Dataset(features, label=is_fraud.astype(np.float32), free_raw_data=True)
        booster = lgb.train(
            booster_params, dataset, num_boost_round=params.n_estimators, callbacks=callbacks
        )
    except lgb.basic.LightGBMError as exc:
        raise TrainingError(str(exc), family="lightgbm") from exc
    return LightGBMPredictor(booster)
