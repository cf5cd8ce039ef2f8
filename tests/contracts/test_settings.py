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


def test_a_stack_file_section_does_not_apply_to_another_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A leftover stack.toml turned the future-date check off for a real cluster
    # named in the environment: sources merged field by field.
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.toml").write_text(
        '[kafka]\nbootstrap_servers = "127.0.0.1:19092"\nmax_event_ahead_s = 0\n\n'
        '[redis]\nurl = "redis://127.0.0.1:16379/0"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(state))
    local = load_settings()
    assert (local.kafka.bootstrap_servers, local.kafka.max_event_ahead_s) == ("127.0.0.1:19092", 0)
    monkeypatch.setenv("FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS", "broker.prod:9092")
    remote = load_settings()
    assert remote.kafka.bootstrap_servers == "broker.prod:9092"
    assert remote.kafka.max_event_ahead_s == 300  # not the stack file's
    assert remote.redis.url == "redis://127.0.0.1:16379/0"  # (its Redis section still applies)
