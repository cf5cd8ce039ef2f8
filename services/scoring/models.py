"""The models the scorer serves: the champion, and the cold-start model for new cards.

Both come from the MLflow registry by alias and can be swapped while running
(``ModelSet.poll`` checks the aliases at most every ``min_interval_s``). A
batch reads ``models.champion`` / ``models.cold_start`` once, so each batch is
scored by one version of each, which it records in every decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contracts.settings import MlflowSettings
from feature_store import FEATURE_NAMES
from models.exceptions import ModelError
from models.registry import ModelRegistry
from models.scorer_model import ChampionWatcher, ModelHolder, ScoringModel, load_scoring_model

__all__ = ["ModelSet", "column_index"]

log = logging.getLogger(__name__)


def column_index(model: ScoringModel) -> NDArray[np.intp]:
    """Where each of the model's features sits in a ``FEATURE_NAMES`` row."""
    position = {name: i for i, name in enumerate(FEATURE_NAMES)}
    missing = [name for name in model.feature_names if name not in position]
    if missing:
        raise ModelError(f"{model.name} v{model.version} needs features the store lacks: {missing}")
    return np.array([position[name] for name in model.feature_names], dtype=np.intp)


@dataclass
class _Served:
    holder: ModelHolder
    index: NDArray[np.intp]
    watcher: ChampionWatcher | None = None


class ModelSet:
    """Champion and (optional) cold-start model, each with its column map, swappable."""

    def __init__(
        self, settings: MlflowSettings, *, alias: str = "champion", min_interval_s: float = 15.0
    ) -> None:
        registry = ModelRegistry(settings)
        self._champion = self._serve(
            settings, registry, settings.registered_model, alias, min_interval_s
        )
        try:
            self._cold: _Served | None = self._serve(
                settings, registry, settings.cold_start_model, alias, min_interval_s
            )
        except ModelError as exc:
            # Without a cold-start model the champion scores new cards too.
            log.warning("no cold-start model (%s): the champion scores new cards", exc)
            self._cold = None

    @staticmethod
    def _serve(
        settings: MlflowSettings, registry: ModelRegistry, name: str, alias: str, interval: float
    ) -> _Served:
        model = load_scoring_model(settings, name=name, alias=alias, registry=registry)
        holder = ModelHolder(model)
        served = _Served(holder, column_index(model))

        def remap(previous: ScoringModel, fresh: ScoringModel) -> None:
            # Called in the scoring thread between batches, so no batch sees a
            # new model with the old column map. (column_index cannot fail
            # here: the watcher vetted `fresh` with it before serving it.)
            served.index = column_index(fresh)
            log.info("model %s: v%s -> v%s", fresh.name, previous.version, fresh.version)

        served.watcher = ChampionWatcher(
            holder, registry, name=name, alias=alias, min_interval_s=interval,
            on_swap=remap, vet=column_index,
        )  # fmt: skip
        return served

    @property
    def champion(self) -> tuple[ScoringModel, NDArray[np.intp]]:
        return self._champion.holder.model, self._champion.index

    @property
    def cold_start(self) -> tuple[ScoringModel, NDArray[np.intp]] | None:
        if self._cold is None:
            return None
        return self._cold.holder.model, self._cold.index

    def poll(self) -> bool:
        """Swap in new versions if an alias moved; True if anything changed."""
        changed = False
        for served in (self._champion, self._cold):
            if served is None or served.watcher is None:
                continue
            try:
                changed |= served.watcher.poll()
            except ModelError as exc:  # the registry is down, or the new version was refused
                version = served.holder.model.version
                log.warning("no new model: %s; keeping v%s", exc, version)
        return changed
