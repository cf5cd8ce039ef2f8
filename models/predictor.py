"""The one interface every fitted model offers, whatever its family.

A ``Predictor`` turns a float32 feature matrix (rows x features, NaN =
missing, columns in the bundle's feature order) into scores in [0, 1], and
saves itself into a directory with no pickle where the family allows it.
Trainers (``models.xgb_model`` ...) return predictors; ``load_predictor``
reads them back. Evaluation and serving call the same ``predict``, so what
was measured is what is served.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Literal, Protocol, get_args, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from models.exceptions import ExplanationError, ModelError

__all__ = [
    "FAMILY_MODULES",
    "ContributionPredictor",
    "Family",
    "Imbalance",
    "Predictor",
    "ScorerFamily",
    "as_contribution_predictor",
    "check_family",
    "load_predictor",
    "positive_class_weight",
]

#: Supervised families that may serve as the scorer's champion.
ScorerFamily = Literal["xgboost", "lightgbm", "logistic"]
#: Every family, the cold-start anomaly model included.
Family = Literal["xgboost", "lightgbm", "logistic", "isolation_forest"]
#: How positives are weighted against the class imbalance (see ``positive_class_weight``).
Imbalance = Literal["none", "sqrt", "balanced"]

#: Where each family's ``load`` lives (imported lazily: pyod alone takes seconds to import).
FAMILY_MODULES: dict[str, str] = {
    "xgboost": "models.xgb_model",
    "lightgbm": "models.lgbm_model",
    "logistic": "models.logistic_model",
    "isolation_forest": "models.cold_start",
}


@runtime_checkable
class Predictor(Protocol):
    """Scores in [0, 1] from a float32 matrix; saves into a directory."""

    @property
    def family(self) -> Family: ...

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]: ...

    def save(self, directory: Path) -> None: ...

    def preprocessing(self) -> dict[str, object]:
        """What happens to the features before the model (stored with it, for humans)."""
        ...


@runtime_checkable
class ContributionPredictor(Predictor, Protocol):
    """A predictor with exact additive explanations on the margin (log-odds) scale."""

    def margin(self, features: NDArray[np.float32]) -> NDArray[np.float64]: ...

    def contributions(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """Per-feature contributions, shape (rows, features + 1); the last column is the bias.

        Each row sums to ``margin`` of that row.
        """
        ...


def check_family(family: str) -> Family:
    if family not in get_args(Family):
        raise ModelError(f"unknown model family {family!r}; known: {', '.join(get_args(Family))}")
    return family  # type: ignore[return-value]


def load_predictor(family: str, directory: Path) -> Predictor:
    """Read back what ``Predictor.save`` wrote for ``family``."""
    module = importlib.import_module(FAMILY_MODULES[check_family(family)])
    predictor: Predictor = module.load(directory)
    return predictor


def as_contribution_predictor(predictor: Predictor) -> ContributionPredictor:
    """``predictor`` if it can explain itself, else ``ExplanationError``."""
    if not isinstance(predictor, ContributionPredictor):
        raise ExplanationError(f"the {predictor.family} model has no per-feature contributions")
    return predictor


def positive_class_weight(is_fraud: NDArray[np.bool_], mode: Imbalance) -> float:
    """The weight of a fraud row relative to a legitimate one.

    ``balanced`` = legit/fraud count ratio (both classes weigh the same in the
    loss); ``sqrt`` = its square root, the default: enough that the rare class
    is not drowned, while scores stay closer to calibrated probabilities
    (thresholds are chosen by FPR anyway, so ranking is what matters);
    ``none`` = 1.
    """
    positives = int(is_fraud.sum())
    negatives = int(is_fraud.size - positives)
    if positives == 0 or mode == "none":
        return 1.0
    ratio = negatives / positives
    return float(np.sqrt(ratio)) if mode == "sqrt" else float(ratio)
