"""Promotion: a worse challenger is refused, a better one takes the champion alias."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.exceptions import ModelNotFoundError, PromotionError, RegistryError
from models.frame import LABEL_COLUMN, feature_matrix
from models.promote import EvaluationWindow, PromotionPolicy, promote, record_verdict
from models.registry import ModelRegistry
from models.synthetic import SyntheticData
from models.train import TrainingResult
from models.xgb_model import XGBoostParams, train_xgboost


def _weak_bundle(trained: TrainingResult) -> ModelBundle:
    """An XGBoost model trained on shuffled labels: same shape, no skill."""
    good = trained.scorers["xgboost"].bundle
    train = trained.frames.train
    y = np.random.default_rng(5).permutation(train[LABEL_COLUMN].to_numpy(dtype=bool))
    predictor = train_xgboost(
        feature_matrix(train, good.feature_names),
        y,
        params=XGBoostParams(n_estimators=20, max_depth=3),
        positive_weight=1.0,
        seed=1,
        n_jobs=1,
    )
    return dataclasses.replace(good, predictor=predictor)


def _challenge(registry: ModelRegistry, name: str, bundle: ModelBundle) -> str:
    logged = registry.log_model_run(bundle, run_name=bundle.family, params={}, metrics={})
    version = registry.register(name, logged)
    registry.set_alias(name, "challenger", version)
    return version


def _window(trained: TrainingResult) -> EvaluationWindow:
    split = trained.frames.split
    return EvaluationWindow(start_ms=split.test_start_ms, end_ms=split.test_end_ms)


def test_champion_moves_only_for_a_better_challenger(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    frame, labels, window = synthetic.frame, synthetic.labels, _window(trained)

    weak = _challenge(registry, name, _weak_bundle(trained))
    first = promote(mlflow_settings, frame, labels, window, registry=registry)
    assert first.promoted and first.reason == "no champion yet" and first.champion is None
    assert registry.alias_version(name, "champion") == weak
    assert registry.alias_version(name, "challenger") is None

    good = _challenge(registry, name, trained.scorers["xgboost"].bundle)
    second = promote(mlflow_settings, frame, labels, window, registry=registry)
    assert second.promoted, second.reason
    assert second.champion is not None and second.champion.version == weak
    assert (second.challenger.average_precision or 0) > (second.champion.average_precision or 0)
    assert registry.alias_version(name, "champion") == good
    assert registry.alias_version(name, "previous-champion") == weak
    assert "promoted" in registry.version_tags(name, good)["promotion"]

    worse = _challenge(registry, name, _weak_bundle(trained))
    third = promote(mlflow_settings, frame, labels, window, registry=registry)
    assert not third.promoted
    assert third.reason.startswith("not better enough")
    assert registry.alias_version(name, "champion") == good
    assert registry.alias_version(name, "challenger") == worse
    assert "refused" in registry.version_tags(name, worse)["promotion"]


def test_recall_at_the_operating_point_can_veto(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    window = _window(trained)
    _challenge(registry, name, trained.scorers["logistic"].bundle)
    promote(mlflow_settings, synthetic.frame, synthetic.labels, window, registry=registry)
    _challenge(registry, name, trained.scorers["xgboost"].bundle)
    # Demand an impossible gain: refused on precision; allow any gain but no recall
    # drop at all, with a tolerance below zero: refused on recall.
    picky = PromotionPolicy(min_average_precision_gain=-1.0, max_recall_drop=-1.0)
    result = promote(
        mlflow_settings, synthetic.frame, synthetic.labels, window, policy=picky, dry_run=True
    )
    assert not result.promoted and result.reason.startswith("catches less")
    assert result.dry_run


def test_dry_run_touches_nothing(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    version = _challenge(registry, name, trained.scorers["lightgbm"].bundle)
    result = promote(
        mlflow_settings, synthetic.frame, synthetic.labels, _window(trained), dry_run=True
    )
    assert result.promoted
    assert registry.alias_version(name, "champion") is None
    assert registry.alias_version(name, "challenger") == version
    assert "promotion" not in registry.version_tags(name, version)


def test_a_slice_overlapping_training_is_refused(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    _challenge(registry, mlflow_settings.registered_model, trained.scorers["xgboost"].bundle)
    split = trained.frames.split
    early = EvaluationWindow(start_ms=split.train_start_ms, end_ms=split.test_end_ms)
    with pytest.raises(PromotionError, match="before the label cutoff"):
        promote(mlflow_settings, synthetic.frame, synthetic.labels, early)


def test_the_cold_start_model_is_judged_on_cold_start_rows(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    assert trained.cold_start is not None
    registry = ModelRegistry(mlflow_settings)
    _challenge(registry, mlflow_settings.cold_start_model, trained.cold_start.bundle)
    result = promote(
        mlflow_settings, synthetic.frame, synthetic.labels, _window(trained), cold_start=True
    )
    assert result.promoted and result.name == mlflow_settings.cold_start_model
    assert result.challenger.rows == trained.cold_start.report.rows


def test_no_challenger_is_a_clear_error(
    synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    window = EvaluationWindow.last_days(synthetic.frame, 7)
    with pytest.raises(ModelNotFoundError, match="challenger"):
        promote(mlflow_settings, synthetic.frame, synthetic.labels, window)


class _FailsOnce:
    """The registry, with one write failing once as MLflow's store might (a lock, a
    lost connection): the crash points of a promotion, which cannot be provoked."""

    def __init__(self, registry: ModelRegistry, method: str, alias: str) -> None:
        self._registry, self._method, self._alias, self.failed = registry, method, alias, False

    def __getattr__(self, attribute: str):
        real = getattr(self._registry, attribute)
        if attribute != self._method:
            return real

        def call(name: str, alias: str, *args: object) -> object:
            if alias == self._alias and not self.failed:
                self.failed = True
                raise RegistryError("database is locked", action=attribute)
            return real(name, alias, *args)

        return call


@pytest.mark.parametrize(
    ("method", "alias"),
    [("set_alias", "champion"), ("delete_alias", "challenger")],
    ids=["before-champion-moves", "before-challenger-is-removed"],
)
def test_a_promotion_cut_short_is_completed_by_running_it_again(
    trained: TrainingResult,
    synthetic: SyntheticData,
    mlflow_settings: MlflowSettings,
    method: str,
    alias: str,
) -> None:
    # Cut short after `champion` moved, the rollback target used to be stale or
    # missing for good, and a rerun tagged the new champion "refused".
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    frame, labels, window = synthetic.frame, synthetic.labels, _window(trained)
    weak = _challenge(registry, name, _weak_bundle(trained))
    promote(mlflow_settings, frame, labels, window, registry=registry)
    good = _challenge(registry, name, trained.scorers["xgboost"].bundle)
    flaky = _FailsOnce(registry, method, alias)
    with pytest.raises(RegistryError):
        promote(mlflow_settings, frame, labels, window, registry=flaky)  # type: ignore[arg-type]
    assert registry.alias_version(name, "previous-champion") == weak  # set first
    promote(mlflow_settings, frame, labels, window, registry=registry)
    assert registry.alias_version(name, "champion") == good
    assert registry.alias_version(name, "previous-champion") == weak
    assert registry.alias_version(name, "challenger") is None
    assert registry.version_tags(name, good)["promotion"].startswith("promoted")


def test_a_verdict_against_a_champion_moved_meanwhile_moves_nothing(
    trained: TrainingResult, synthetic: SyntheticData, mlflow_settings: MlflowSettings
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    frame, labels, window = synthetic.frame, synthetic.labels, _window(trained)
    first = _challenge(registry, name, _weak_bundle(trained))
    promote(mlflow_settings, frame, labels, window, registry=registry)
    mine = _challenge(registry, name, trained.scorers["xgboost"].bundle)
    # Another writer (a retrain) promotes its own model after this verdict was
    # reached against `first` and before it is recorded.
    theirs = _challenge(registry, name, trained.scorers["lightgbm"].bundle)
    registry.set_alias(name, "previous-champion", first)
    registry.set_alias(name, "champion", theirs)
    registry.delete_alias(name, "challenger")
    with pytest.raises(PromotionError, match="another promote or retrain ran"):
        record_verdict(registry, name, mine, first, promoted=True, reason="better")
    assert registry.alias_version(name, "champion") == theirs
    assert registry.alias_version(name, "previous-champion") == first
    assert "promotion" not in registry.version_tags(name, mine)
