"""Errors of the language-model package.

Hierarchy::

    FraudstreamError
    └── models.exceptions.ModelError
        └── LlmError                    anything models.llm raises on purpose
            ├── BaseModelError          the base model could not be prepared or loaded
            ├── AdapterError            an adapter is missing, corrupt or made for another base
            └── GenerationError         the model failed while generating or scoring

MLflow failures come out of ``models.llm.registry`` as ``models.exceptions.RegistryError``.
"""

from __future__ import annotations

import functools
from typing import Any

from models.exceptions import ModelError

__all__ = ["AdapterError", "BaseModelError", "DeadlinePassed", "GenerationError", "LlmError"]


class LlmError(ModelError):
    """Root of the language-model package's errors."""


class BaseModelError(LlmError):
    """The base model could not be assembled, converted or loaded; ``path`` says where."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"{message}{where}")


class AdapterError(LlmError):
    """An adapter is missing, unreadable or does not fit the base model; ``task`` says which."""

    def __init__(self, message: str, *, task: str | None = None) -> None:
        self.message = message
        self.task = task
        what = f"{task} adapter: " if task else ""
        super().__init__(f"{what}{message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Survives a process boundary (the worker's adapter fetch) with its task.
        return (functools.partial(type(self), task=self.task), (self.message,))


class GenerationError(LlmError):
    """Generation or label scoring failed inside the model."""


class DeadlinePassed(GenerationError):  # noqa: N818 - it names what happened
    """The request's deadline passed before the model started a step: nothing was computed."""
