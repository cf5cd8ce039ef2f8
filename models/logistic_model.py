"""Logistic regression: the baseline every tree model must beat to earn its complexity.

Trained as a scikit-learn ``Pipeline`` (median imputer, standard scaler,
L2 logistic regression), then served as the handful of numbers it amounts
to (medians, means, scales, coefficients): no pickle in the bundle, and the
served arithmetic is checked against the pipeline in the tests. Because the
model is linear in the scaled features, ``coefficient * scaled value`` is its
exact additive explanation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from models.exceptions import TrainingError

__all__ = ["LinearPredictor", "LogisticParams", "fit_pipeline", "load", "train_logistic"]

_MODEL_FILE = "linear.json"


@dataclass(frozen=True)
class LogisticParams:
    #: Inverse L2 strength; features are standardised, so one value suits them all.
    c: float = 1.0
    max_iter: int = 1000


@dataclass(frozen=True)
class LinearPredictor:
    medians: NDArray[np.float64]
    means: NDArray[np.float64]
    scales: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    intercept: float

    @property
    def family(self) -> Literal["logistic"]:
        return "logistic"

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        # The logistic function written with tanh: equal to 1/(1+exp(-m)), but it
        # cannot overflow on absurd inputs.
        return (0.5 * (1.0 + np.tanh(0.5 * self.margin(features)))).astype(np.float32)

    def margin(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        margins: NDArray[np.float64] = self._scaled(features) @ self.coefficients + self.intercept
        return margins

    def contributions(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        parts = self._scaled(features) * self.coefficients
        bias = np.full((parts.shape[0], 1), self.intercept)
        return np.hstack([parts, bias])

    def preprocessing(self) -> dict[str, object]:
        return {"impute": "training median", "scale": "standardise (training mean, std)"}

    def save(self, directory: Path) -> None:
        document = {
            "medians": self.medians.tolist(),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "coefficients": self.coefficients.tolist(),
            "intercept": self.intercept,
        }
        (directory / _MODEL_FILE).write_text(json.dumps(document), encoding="utf-8")

    def _scaled(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        values = np.asarray(features, dtype=np.float64)
        filled = np.where(np.isnan(values), self.medians, values)
        scaled: NDArray[np.float64] = (filled - self.means) / self.scales
        return scaled


def load(directory: Path) -> LinearPredictor:
    document = json.loads((directory / _MODEL_FILE).read_text(encoding="utf-8"))
    return LinearPredictor(
        medians=np.asarray(document["medians"], dtype=np.float64),
        means=np.asarray(document["means"], dtype=np.float64),
        scales=np.asarray(document["scales"], dtype=np.float64),
        coefficients=np.asarray(document["coefficients"], dtype=np.float64),
        intercept=float(document["intercept"]),
    )


def fit_pipeline(
    features: NDArray[np.float32],
    is_fraud: NDArray[np.bool_],
    *,
    params: LogisticParams,
    positive_weight: float,
    seed: int,
) -> Any:
    """The fitted scikit-learn pipeline (imputer, scaler, logistic regression)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline(
        [
            # keep_empty_features: a column that is all-NaN in training stays (as 0),
            # so the served vector keeps the bundle's feature order.
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            (
                "model",
                LogisticRegression(
                    C=params.c,
                    class_weight={0: 1.0, 1: positive_weight},
                    max_iter=params.max_iter,
                    random_state=seed,
                ),
            ),
        ]
    )
    try:
        pipeline.fit(np.asarray(features, dtype=np.float64), is_fraud.astype(np.int64))
    except ValueError as exc:
        raise TrainingError(str(exc), family="logistic") from exc
    return pipeline


def train_logistic(
    features: NDArray[np.float32],
    is_fraud: NDArray[np.bool_],
    *,
    params: LogisticParams,
    positive_weight: float,
    seed: int,
) -> LinearPredictor:
    """Fit the pipeline and keep the numbers it amounts to."""
    pipeline = fit_pipeline(
        features, is_fraud, params=params, positive_weight=positive_weight, seed=seed
    )
    steps = pipeline.named_steps
    return LinearPredictor(
        medians=np.asarray(steps["impute"].statistics_, dtype=np.float64),
        means=np.asarray(steps["scale"].mean_, dtype=np.float64),
        scales=np.asarray(steps["scale"].scale_, dtype=np.float64),
        coefficients=np.asarray(steps["model"].coef_[0], dtype=np.float64),
        intercept=float(steps["model"].intercept_[0]),
    )
