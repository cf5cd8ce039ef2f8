"""Helpers shared by the models tests (plain functions, importable)."""

from __future__ import annotations

import dataclasses
from typing import Any

from models.cold_start import ColdStartParams, train_cold_start
from models.frame import LABEL_COLUMN, FeatureSpec, feature_matrix
from models.lgbm_model import LightGBMParams, train_lightgbm
from models.logistic_model import train_logistic
from models.predictor import Predictor, positive_class_weight
from models.split import SplitConfig, SplitFrames
from models.train import TrainConfig
from models.xgb_model import XGBoostParams, train_xgboost

FAMILIES = ("xgboost", "lightgbm", "logistic", "isolation_forest")


def small_train_config(**overrides: Any) -> TrainConfig:
    """Few trees, a 10-day test slice: the suite's standard config."""
    config = TrainConfig(
        split=SplitConfig(test_days=10.0, gap_days=7.0, maturity_days=14.0),
        xgboost=XGBoostParams(n_estimators=60, max_depth=4, learning_rate=0.1),
        lightgbm=LightGBMParams(n_estimators=60, num_leaves=15, learning_rate=0.1),
        cold_start_params=ColdStartParams(n_estimators=60),
        n_jobs=2,
        card_k=10,
    )
    return dataclasses.replace(config, **overrides)


def fit_family(
    family: str, frames: SplitFrames, spec: FeatureSpec, config: TrainConfig
) -> Predictor:
    """One family fitted on ``frames.train`` exactly as ``train_candidates`` does it."""
    y = frames.train[LABEL_COLUMN].to_numpy(dtype=bool)
    weight = positive_class_weight(y, config.imbalance)
    seed = config.seed
    if family == "isolation_forest":
        x = feature_matrix(frames.train, spec.cold_start_features)
        return train_cold_start(x, y, params=config.cold_start_params, seed=seed)
    x = feature_matrix(frames.train, spec.feature_names)
    if family == "xgboost":
        return train_xgboost(
            x, y, params=config.xgboost, positive_weight=weight, seed=seed, n_jobs=config.n_jobs
        )
    if family == "lightgbm":
        return train_lightgbm(
            x, y, params=config.lightgbm, positive_weight=weight, seed=seed, n_jobs=config.n_jobs
        )
    return train_logistic(x, y, params=config.logistic, positive_weight=weight, seed=seed)
