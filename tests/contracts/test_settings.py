"""Settings: the paths kept in the state directory move with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.settings import MlflowSettings, Settings, load_settings


def test_paths_kept_in_the_state_dir_follow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two stacks in one checkout used to share ./.fraudstream/mlflow.db: one's
    # `promote` moved the other's champion.
    state = tmp_path / "elsewhere"
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(state))
    settings = load_settings()
    assert settings.mlflow.tracking_uri == f"sqlite:///{state / 'mlflow.db'}"
    assert settings.llm.base_dir == state / "llm" / "base"
    assert settings.llm.adapters_dir == state / "llm" / "adapters"
    assert settings.retrain.decision_log_dir == state / "decision-log"
    assert settings.retrain.reports_dir == state / "retrain"


def test_a_path_given_is_kept_wherever_the_state_dir_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FRAUDSTREAM_MLFLOW__TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("FRAUDSTREAM_RETRAIN__DECISION_LOG_DIR", "/data/log")
    settings = load_settings()
    assert settings.mlflow.tracking_uri == "http://mlflow:5000"
    assert settings.retrain.decision_log_dir == Path("/data/log")
    assert settings.retrain.reports_dir == tmp_path / "state" / "retrain"
    given = Settings(state_dir=tmp_path / "s", mlflow=MlflowSettings(tracking_uri="http://x"))
    assert given.mlflow.tracking_uri == "http://x"


def test_the_default_state_dir_keeps_the_documented_defaults() -> None:
    settings = Settings(state_dir=Path(".fraudstream"))
    assert settings.mlflow.tracking_uri == "sqlite:///.fraudstream/mlflow.db"
    assert settings.retrain.decision_log_dir == Path(".fraudstream/decision-log")
