"""``fraudstream promote``: the scorer and the cold-start model are judged independently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.registry import LoggedModel, ModelRegistry
from models.synthetic import SyntheticData
from models.train import TrainingResult
from services.cli.train_cmd import promote


def _challenge(registry: ModelRegistry, name: str, bundle: ModelBundle) -> LoggedModel:
    logged = registry.log_model_run(bundle, run_name=bundle.family, params={}, metrics={})
    registry.set_alias(name, "challenger", registry.register(name, logged))
    return logged


def _history(synthetic: SyntheticData, directory: Path) -> Path:
    """A history directory whose feature cache is fresh (no feature frame rebuilt)."""
    directory.mkdir()
    synthetic.frame[["tx_id", "event_time_ms"]].to_parquet(directory / "transactions.parquet")
    synthetic.labels.to_parquet(directory / "labels.parquet")
    synthetic.frame.to_parquet(directory / "features.parquet")
    return directory


def test_a_cold_start_failure_can_be_retried_after_the_scorer_was_promoted(
    trained: TrainingResult,
    synthetic: SyntheticData,
    mlflow_settings: MlflowSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert trained.cold_start is not None
    registry = ModelRegistry(mlflow_settings)
    scorer, cold = mlflow_settings.registered_model, mlflow_settings.cold_start_model
    _challenge(registry, scorer, trained.scorers["xgboost"].bundle)
    logged = _challenge(registry, cold, trained.cold_start.bundle)
    history = _history(synthetic, tmp_path / "history")
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW", json.dumps(mlflow_settings.model_dump()))

    # A real artifact-store outage for the cold-start model's files only.
    files = Path(logged.source.removeprefix("file://"))
    hidden = files.rename(files.with_name("model.unreachable"))
    first = CliRunner().invoke(promote, [str(history)])
    hidden.rename(files)

    assert first.exit_code == 1, first.output
    assert f"{scorer}: PROMOTED: no champion yet" in first.output
    assert f"{cold}: FAILED: download {cold} version 1" in first.output
    assert registry.alias_version(scorer, "champion") == "1"
    assert registry.alias_version(cold, "champion") is None

    # The rerun skips the scorer (its challenger is champion now) and judges the cold-start one.
    second = CliRunner().invoke(promote, [str(history)])
    assert second.exit_code == 0, second.output
    assert f"{scorer}: skipped: no `challenger` alias (nothing to judge)" in second.output
    assert f"{cold}: PROMOTED: no champion yet" in second.output
    assert registry.alias_version(cold, "champion") == "1"
    assert registry.alias_version(cold, "challenger") is None


def test_promote_with_nothing_to_judge_is_an_error_not_silence(
    synthetic: SyntheticData,
    mlflow_settings: MlflowSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = _history(synthetic, tmp_path / "history")
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW", json.dumps(mlflow_settings.model_dump()))
    result = CliRunner().invoke(promote, [str(history)])
    assert result.exit_code != 0
    assert "skipped: no `challenger` alias" in result.output
    assert "run `train` first" in result.output
