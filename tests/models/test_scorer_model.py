"""Loading by alias, scoring batches, and swapping the model while the scorer runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contracts.settings import MlflowSettings
from models.exceptions import ModelError, ModelNotFoundError, RegistryError
from models.frame import feature_matrix
from models.registry import ModelRegistry
from models.scorer_model import ChampionWatcher, ModelHolder, ScoringModel, load_scoring_model
from models.train import TrainingResult


def _register(registry: ModelRegistry, name: str, trained: TrainingResult, family: str) -> str:
    bundle = trained.scorers[family].bundle
    logged = registry.log_model_run(bundle, run_name=family, params={}, metrics={})
    return registry.register(name, logged)


def test_the_watcher_swaps_in_a_new_champion(
    trained: TrainingResult, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    first = _register(registry, name, trained, "xgboost")
    second = _register(registry, name, trained, "lightgbm")
    registry.set_alias(name, "champion", first)

    holder = ModelHolder(load_scoring_model(mlflow_settings, registry=registry))
    now = [0.0]
    swaps: list[tuple[str, str]] = []
    watcher = ChampionWatcher(
        holder,
        registry,
        min_interval_s=30.0,
        clock=lambda: now[0],
        on_swap=lambda old, new: swaps.append((old.version, new.version)),
    )
    assert not watcher.poll()  # alias unchanged
    registry.set_alias(name, "champion", second)
    now[0] = 10.0
    assert not watcher.poll()  # too soon: no registry look-up at all
    assert holder.model.version == first
    now[0] = 31.0
    assert watcher.poll()
    assert holder.model.version == second and holder.model.family == "lightgbm"
    assert swaps == [(first, second)]
    rows = feature_matrix(trained.frames.test, holder.model.feature_names)[:10]
    expected = trained.scorers["lightgbm"].bundle.predictor.predict(rows)
    np.testing.assert_array_equal(holder.model.predict(rows), expected)


def test_a_version_the_scorer_cannot_serve_is_refused_before_it_is_served(
    trained: TrainingResult, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    first = _register(registry, name, trained, "xgboost")
    unservable = _register(registry, name, trained, "lightgbm")
    third = _register(registry, name, trained, "xgboost")
    registry.set_alias(name, "champion", first)
    holder = ModelHolder(load_scoring_model(mlflow_settings, registry=registry))
    vetted: list[str] = []
    swaps: list[tuple[str, str]] = []

    def vet(model: ScoringModel) -> None:
        vetted.append(model.version)
        if model.version == unservable:
            raise ModelError(f"v{model.version} needs features the store lacks: ['new_feature']")

    watcher = ChampionWatcher(
        holder, registry, vet=vet, on_swap=lambda old, new: swaps.append((old.version, new.version))
    )
    registry.set_alias(name, "champion", unservable)
    with pytest.raises(ModelError, match="new_feature"):
        watcher.check()
    assert holder.model.version == first and swaps == []  # never served, not even briefly
    assert not watcher.check()  # refused once: not loaded and vetted again every poll
    assert vetted == [unservable]

    registry.set_alias(name, "champion", third)  # the alias moves on: served as usual
    assert watcher.check()
    assert (holder.model.version, vetted, swaps) == (third, [unservable, third], [(first, third)])


def test_a_failed_load_keeps_the_current_model(
    trained: TrainingResult, mlflow_settings: MlflowSettings, tmp_path: Path
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    registry.set_alias(name, "champion", _register(registry, name, trained, "xgboost"))
    holder = ModelHolder(load_scoring_model(mlflow_settings, registry=registry))
    served = holder.model
    # A version whose artifacts are gone (a deleted run, a wiped bucket).
    missing = (tmp_path / "gone" / "model").as_uri()
    broken = registry.client.create_model_version(name, source=missing)
    registry.set_alias(name, "champion", str(broken.version))
    with pytest.raises(RegistryError):
        ChampionWatcher(holder, registry).check()
    assert holder.model is served


def test_predict_checks_shape_and_converts_layout(
    trained: TrainingResult, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    registry.set_alias(name, "champion", _register(registry, name, trained, "xgboost"))
    model = load_scoring_model(mlflow_settings)
    rows = feature_matrix(trained.frames.test, model.feature_names)[:64]
    with pytest.raises(ModelError, match="does not match"):
        model.predict(rows[:, :-1])
    fortran = np.asfortranarray(rows.astype(np.float64))
    np.testing.assert_array_equal(model.predict(fortran), model.predict(rows))
    actions = model.actions(model.predict(rows))
    assert set(actions) <= {"allow", "flag", "block"}
    explained = model.explain(rows[:3], top_k=4)
    assert [len(items) for items in explained] == [4, 4, 4]


def test_missing_models_and_aliases(mlflow_settings: MlflowSettings) -> None:
    registry = ModelRegistry(mlflow_settings)
    assert registry.alias_version("no-such-model", "champion") is None
    with pytest.raises(ModelNotFoundError):
        load_scoring_model(mlflow_settings, registry=registry)
    with pytest.raises(ModelNotFoundError):
        registry.version_tags("no-such-model", "1")
