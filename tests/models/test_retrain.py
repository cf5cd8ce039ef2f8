"""``models.retrain`` end to end on a real SQLite MLflow store: refuse, dry run, promote, report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from contracts.settings import MlflowSettings
from models.challenge import ChallengePolicy
from models.decision_log import LogSnapshot, snapshot_at
from models.exceptions import LeakError, RegistryError
from models.registry import ModelRegistry
from models.retrain import RetrainConfig, prepare, retrain
from models.synthetic import SyntheticData
from models.xgb_model import XGBoostParams
from tests.models.helpers import small_train_config
from tests.models.test_retrain_log import decision_log


def _snapshot(synthetic: SyntheticData, log: pd.DataFrame | None = None) -> LogSnapshot:
    return snapshot_at(
        decision_log(synthetic) if log is None else log,
        synthetic.labels,
        cutoff_ms=int(synthetic.frame["event_time_ms"].iloc[-1]) + 1,
        feature_names=synthetic.spec.feature_names,
        cold_start_features=synthetic.spec.cold_start_features,
    )


def _config(**xgboost: object) -> RetrainConfig:
    train = small_train_config(families=("xgboost",), cold_start=False)
    if xgboost:
        train = dataclasses.replace(train, xgboost=XGBoostParams(**xgboost))  # type: ignore[arg-type]
    return RetrainConfig(train=train, policy=ChallengePolicy(bootstrap_rounds=300))


def test_a_dry_run_then_a_promotion_then_a_refusal_that_is_only_reported(
    synthetic: SyntheticData, mlflow_settings: MlflowSettings, tmp_path: Path
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model
    plan = prepare(_snapshot(synthetic), _config())
    assert plan.frames.split.test_end_ms == plan.snapshot.cutoff_ms
    assert plan.drift.recent_rows > 0 and plan.drift.reference_rows > plan.drift.recent_rows

    dry = retrain(
        plan, mlflow_settings, _config(), out_dir=tmp_path / "dry", dry_run=True, progress=False
    )
    assert dry.applied == "dry run" and dry.run_id is None and dry.challenger_version is None
    assert dry.result.promote and dry.result.reason == "no champion yet"
    assert registry.alias_version(name, "challenger") is None  # nothing registered
    assert "would promote (dry run)" in dry.report_text

    first = retrain(plan, mlflow_settings, _config(), out_dir=tmp_path / "first", progress=False)
    assert first.applied == "promoted" and first.challenger_version is not None
    assert registry.alias_version(name, "champion") == first.challenger_version
    assert registry.alias_version(name, "challenger") is None
    assert first.run_id is not None
    run = registry.client.get_run(first.run_id)
    assert run.data.tags["verdict"] == "promoted"
    assert run.data.tags["challenger_version"] == first.challenger_version
    assert run.data.metrics["challenger.average_precision"] == pytest.approx(
        first.result.challenger.average_precision
    )
    assert "psi.amount_log" in run.data.metrics and "seconds.train" in run.data.metrics
    logged = {a.path for a in registry.client.list_artifacts(first.run_id, "report")}
    assert {"report/retrain.txt", "report/report.txt"} <= logged
    assert (tmp_path / "first" / "retrain.txt").read_text(encoding="utf-8").startswith("cutoff:")

    # A much weaker challenger with --no-promote: judged, reported, nothing moves.
    weak = _config(n_estimators=2, max_depth=1)
    second = retrain(
        prepare(_snapshot(synthetic), weak),
        mlflow_settings,
        weak,
        out_dir=tmp_path / "second",
        promote=False,
        progress=False,
    )
    assert second.applied == "not applied" and not second.result.promote
    assert second.result.champion_version == first.challenger_version
    assert registry.alias_version(name, "champion") == first.challenger_version
    assert second.challenger_version is not None
    tag = registry.version_tags(name, second.challenger_version)["promotion"]
    assert tag.startswith("not applied: would keep the champion: not better")
    for section in (
        "decisions:",
        "labels known at the cutoff:",
        "train:",
        "recent slice:",
        "leak check: passed",
        "champion v",
        "significance:",
        "policy:",
        "decision: would keep (--no-promote)",
        "drift:",
    ):
        assert section in second.report_text


def test_a_leak_is_refused_before_anything_is_trained_or_registered(
    synthetic: SyntheticData, mlflow_settings: MlflowSettings, tmp_path: Path
) -> None:
    log = decision_log(synthetic)
    fraud = set(synthetic.labels.loc[synthetic.labels["is_fraud"], "tx_id"])
    log["ip_risk"] = log["tx_id"].isin(fraud).astype(float)
    plan = prepare(_snapshot(synthetic, log), _config())
    with pytest.raises(LeakError, match="`ip_risk`"):
        retrain(plan, mlflow_settings, _config(), out_dir=tmp_path / "run", progress=False)
    assert (
        ModelRegistry(mlflow_settings).alias_version(mlflow_settings.registered_model, "challenger")
        is None
    )


def test_a_handful_of_training_fraud_rows_skips_the_leak_verdict_and_says_so(
    synthetic: SyntheticData, mlflow_settings: MlflowSettings, tmp_path: Path
) -> None:
    # A short log: only three fraud labels known in the training window, and a feature
    # that happens to be 1 on exactly those rows (as day_of_week was on a real one).
    train_end = prepare(_snapshot(synthetic), _config()).frames.split.train_end_ms
    log, labels = decision_log(synthetic), synthetic.labels
    event = log.set_index("tx_id")["event_time_ms"]
    in_training = labels["tx_id"].map(event) < train_end
    training_fraud = labels.loc[in_training & labels["is_fraud"], "tx_id"].unique()
    kept = set(training_fraud[:3])
    few = labels.loc[~(in_training & labels["is_fraud"]) | labels["tx_id"].isin(kept)]
    log["ip_risk"] = log["tx_id"].isin(kept).astype(float)
    snapshot = snapshot_at(
        log,
        few,
        cutoff_ms=int(log["event_time_ms"].iloc[-1]) + 1,
        feature_names=synthetic.spec.feature_names,
        cold_start_features=synthetic.spec.cold_start_features,
    )
    plan = prepare(snapshot, _config())
    assert int(plan.frames.train["is_fraud"].sum()) == 3

    dry = retrain(
        plan, mlflow_settings, _config(), out_dir=tmp_path / "dry", dry_run=True, progress=False
    )
    assert not dry.leak_scan.judged and dry.leak_scan.strongest[0].name == "ip_risk"
    assert (
        "leak check: skipped: too few fraud rows (3) to check features for leaks; need 30"
        in dry.report_text
    )
    # No champion yet, so the comparison alone would promote: not while unjudged.
    assert not dry.result.promote
    assert "not promoted while the leak check cannot judge (3 fraud rows" in dry.result.reason


def test_a_verdict_that_fails_part_way_leaves_a_report_of_the_aliases_as_they_are(
    synthetic: SyntheticData,
    mlflow_settings: MlflowSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = ModelRegistry(mlflow_settings)
    name = mlflow_settings.registered_model

    def connection_reset(model: str, alias: str) -> None:
        raise RegistryError("connection reset", action=f"remove {model}@{alias}")

    # MLflow goes away while the aliases move (``champion`` set, ``challenger`` not yet removed).
    monkeypatch.setattr(registry, "delete_alias", connection_reset)
    with pytest.raises(RegistryError, match="connection reset"):
        retrain(
            prepare(_snapshot(synthetic), _config()),
            mlflow_settings,
            _config(),
            out_dir=tmp_path / "run",
            progress=False,
            registry=registry,
        )

    report = (tmp_path / "run" / "retrain.txt").read_text(encoding="utf-8")
    decision = next(line for line in report.splitlines() if line.startswith("decision:"))
    assert decision.startswith("decision: FAILED while applying the verdict (would promote")
    assert "remove " in decision and "connection reset" in decision
    # The report says where the aliases stand now, whatever part of the move went through.
    for alias in ("champion", "challenger", "previous-champion"):
        version = registry.alias_version(name, alias)
        assert f"{alias} {'v' + version if version else 'none'}" in decision
