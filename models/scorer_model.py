"""The model as the scorer holds it: loaded once by alias, fast to call, swappable live.

Use in a scoring loop::

    holder = ModelHolder(load_scoring_model(settings.mlflow))
    watcher = ChampionWatcher(holder, ModelRegistry(settings.mlflow))
    for batch in micro_batches:
        model = holder.model               # read once: one batch, one model version
        scores = model.predict(matrix)     # float32 (rows x model.feature_names)
        ...                                # thresholds/version from the same `model`
        watcher.poll()                     # at most one registry look-up per interval

``poll`` raises ``RegistryError`` if the registry cannot be read; the service
decides what to do (log and keep serving the current model is the usual
answer). A failed load never replaces the model being served.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from contracts.events import FeatureContribution
from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.exceptions import ModelError
from models.explain import top_contributions
from models.predictor import ContributionPredictor, Family
from models.registry import ModelRegistry
from models.thresholds import Thresholds

__all__ = ["ChampionWatcher", "ModelHolder", "ScoringModel", "load_scoring_model"]


@dataclass(frozen=True)
class ScoringModel:
    """One registered model version, ready to score float32 batches."""

    name: str
    version: str
    #: The alias it was loaded through (None when loaded by version).
    alias: str | None
    bundle: ModelBundle

    @property
    def family(self) -> Family:
        return self.bundle.family

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.bundle.feature_names

    @property
    def thresholds(self) -> Thresholds:
        return self.bundle.thresholds

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores in [0, 1] for a (rows x features) batch in ``feature_names`` order.

        A C-contiguous float32 batch is used as is (no copy); anything else is
        converted once.
        """
        if batch.ndim != 2 or batch.shape[1] != len(self.bundle.feature_names):
            raise ModelError(
                f"batch shape {batch.shape} does not match "
                f"{len(self.bundle.feature_names)} features of {self.name} v{self.version}"
            )
        if batch.dtype != np.float32 or not batch.flags.c_contiguous:
            batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.bundle.predictor.predict(batch)

    def actions(self, scores: NDArray[np.float32]) -> NDArray[np.str_]:
        """``allow`` / ``flag`` / ``block`` per score, by this version's thresholds."""
        flag, block = self.thresholds.flag, self.thresholds.block
        return np.where(scores >= block, "block", np.where(scores >= flag, "flag", "allow"))

    def explain(
        self, rows: NDArray[np.float32], *, top_k: int = 5
    ) -> list[list[FeatureContribution]]:
        """Top-``k`` exact SHAP contributions for each of ``rows`` (flagged/blocked ones)."""
        batch = np.ascontiguousarray(rows, dtype=np.float32)
        return top_contributions(self.bundle.predictor, self.feature_names, batch, top_k=top_k)


def load_scoring_model(
    settings: MlflowSettings,
    *,
    name: str | None = None,
    alias: str | None = "champion",
    version: str | None = None,
    registry: ModelRegistry | None = None,
) -> ScoringModel:
    """Load ``name`` (default: the scorer's registered model) by alias, or by explicit version.

    The model is warmed up (one prediction, one explanation where it has them)
    before it is returned, so the first live transaction, or the first flagged
    one, does not pay any one-time compilation.
    """
    registry = registry or ModelRegistry(settings)
    name = name or settings.registered_model
    if version is None:
        if alias is None:
            raise ModelError("give an alias or a version to load")
        version = registry.require_alias(name, alias)
    else:
        alias = None
    with tempfile.TemporaryDirectory(prefix="fraudstream-load-") as scratch:
        # Every file is read into memory by the loaders; the download can go.
        bundle = registry.download_bundle(name, version, Path(scratch))
    model = ScoringModel(name=name, version=version, alias=alias, bundle=bundle)
    row = np.zeros((1, len(bundle.feature_names)), dtype=np.float32)
    model.predict(row)
    if isinstance(bundle.predictor, ContributionPredictor):
        model.explain(row)  # the first flagged row must not wait for a compile either
    return model


class ModelHolder:
    """The model in service. Readers take ``holder.model``; ``swap`` replaces it atomically.

    A read is one attribute load (atomic in CPython), so the hot path takes
    no lock; the lock only serialises writers.
    """

    def __init__(self, model: ScoringModel) -> None:
        self._model = model
        self._write_lock = threading.Lock()

    @property
    def model(self) -> ScoringModel:
        return self._model

    def swap(self, model: ScoringModel) -> ScoringModel:
        """Serve ``model`` from now on; returns the one it replaced."""
        # A new version may read other features: callers build each batch's
        # vectors from the `model` they read, so that is safe by construction.
        with self._write_lock:
            previous, self._model = self._model, model
        return previous


class ChampionWatcher:
    """Swaps in a new version when the alias moves. ``poll`` is cheap enough to call per batch."""

    def __init__(
        self,
        holder: ModelHolder,
        registry: ModelRegistry,
        *,
        name: str | None = None,
        alias: str = "champion",
        min_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_swap: Callable[[ScoringModel, ScoringModel], None] | None = None,
        vet: Callable[[ScoringModel], object] | None = None,
    ) -> None:
        """``vet`` checks a fresh version before it is served: a ``ModelError``
        refuses it (a model needing features this scorer does not serve, say),
        the current model stays, and that version is not loaded again until the
        alias moves on. ``on_swap(previous, fresh)`` runs once it is served."""
        self.holder = holder
        self.registry = registry
        self.name = name or holder.model.name
        self.alias = alias
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._on_swap = on_swap
        self._vet = vet
        self._refused: str | None = None
        self._last_check = float("-inf")

    def poll(self) -> bool:
        """``check`` at most once per ``min_interval_s``; True if the model was swapped."""
        now = self._clock()
        if now - self._last_check < self.min_interval_s:
            return False
        self._last_check = now
        return self.check()

    def check(self) -> bool:
        """One registry look-up; load and swap only if the alias points elsewhere."""
        version = self.registry.alias_version(self.name, self.alias)
        if version is None or version in (self.holder.model.version, self._refused):
            return False
        fresh = load_scoring_model(
            self.registry.settings, name=self.name, alias=self.alias, registry=self.registry
        )
        if self._vet is not None:
            try:
                self._vet(fresh)  # before the swap: no batch may see a model it cannot feed
            except ModelError:
                self._refused = fresh.version
                raise
        previous = self.holder.swap(fresh)
        if self._on_swap is not None:
            self._on_swap(previous, fresh)
        return True
