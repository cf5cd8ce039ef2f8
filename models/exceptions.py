"""Errors of the models package.

Hierarchy::

    FraudstreamError
    └── ModelError                      anything models raises on purpose
        ├── FrameError                  a feature frame or label frame breaks its contract
        ├── SplitError                  a time split leaves nothing (or no fraud) to use
        ├── TrainingError               a model family failed to fit
        ├── ExplanationError            contributions asked of a model that has none
        ├── PromotionError              a comparison that cannot be fair (slice overlaps training)
        ├── LeakError                   a training set that carries its answer (retraining refuses)
        └── RegistryError               MLflow tracking/registry failed (translated at the edge)
            └── ModelNotFoundError      no such registered model, version or alias

A challenger that is simply not better is not an error: ``promote`` returns a
``PromotionResult`` with ``promoted=False`` and the reason.
"""

from __future__ import annotations

import functools
from typing import Any

from contracts.errors import FraudstreamError

__all__ = [
    "ExplanationError",
    "FrameError",
    "LeakError",
    "ModelError",
    "ModelNotFoundError",
    "PromotionError",
    "RegistryError",
    "SplitError",
    "TrainingError",
]


class ModelError(FraudstreamError):
    """Root of the models package's errors."""


class FrameError(ModelError):
    """A feature or label frame does not satisfy its contract; ``column`` names the culprit."""

    def __init__(self, problem: str, *, column: str | None = None) -> None:
        self.problem = problem
        self.column = column
        where = f" (column `{column}`)" if column else ""
        super().__init__(f"{problem}{where}")


class SplitError(ModelError):
    """A time split is empty or has no fraud in a slice that needs some."""


class TrainingError(ModelError):
    """A model family could not be fitted; ``family`` says which."""

    def __init__(self, message: str, *, family: str) -> None:
        self.family = family
        super().__init__(f"{family}: {message}")


class ExplanationError(ModelError):
    """The model cannot give per-feature contributions (e.g. the Isolation Forest)."""


class RegistryError(ModelError):
    """An MLflow tracking or registry operation failed.

    ``action`` says what was being done; ``error_code`` is MLflow's code when
    it gave one (``RESOURCE_DOES_NOT_EXIST``, ...).
    """

    def __init__(self, message: str, *, action: str, error_code: str | None = None) -> None:
        self.message = message
        self.action = action
        self.error_code = error_code
        super().__init__(f"{action}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields, so pickling (the LLM worker's adapter fetch runs in
        # another process) must name them: the default would call cls(str(self)).
        rebuild = functools.partial(type(self), action=self.action, error_code=self.error_code)
        return (rebuild, (self.message,))


class ModelNotFoundError(RegistryError):
    """The registered model, version or alias does not exist."""


class PromotionError(ModelError):
    """Promotion could not be judged fairly (e.g. the slice overlaps a model's training data)."""


class LeakError(ModelError):
    """The training set gives the answer away; retraining on it is refused.

    ``feature`` names the culprit column when one feature is to blame (``None``
    when the labels themselves are mis-dated); ``statistic`` is the evidence
    (a single-feature ROC AUC, or a count of mis-dated labels).
    """

    def __init__(self, problem: str, *, feature: str | None = None, statistic: float) -> None:
        self.problem = problem
        self.feature = feature
        self.statistic = statistic
        super().__init__(problem)
