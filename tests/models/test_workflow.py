"""``train_and_register`` end to end on a real SQLite MLflow store."""

from __future__ import annotations

from pathlib import Path

from contracts.settings import MlflowSettings
from models.registry import ModelRegistry
from models.synthetic import SyntheticData
from models.workflow import train_and_register
from tests.models.helpers import small_train_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_train_and_register_logs_reports_and_aliases(
    synthetic: SyntheticData, mlflow_settings: MlflowSettings, tmp_path: Path
) -> None:
    outcome = train_and_register(
        synthetic.frame,
        synthetic.labels,
        synthetic.spec,
        mlflow_settings,
        small_train_config(),
        out_dir=tmp_path / "report",
        progress=False,
    )
    # The report: one column per model, the metrics fraud teams read.
    table = outcome.report_text
    for needle in (
        "xgboost",
        "lightgbm",
        "logistic",
        "isolation_forest",
        "PR-AUC",
        "ROC AUC",
        "recall @ FPR 0.01",
        "card precision @ 10 per day",
        "flags per day",
    ):
        assert needle in table
    assert (tmp_path / "report" / "report.txt").read_text(encoding="utf-8").startswith("test slice")
    pngs = {p.name: p for p in outcome.artifacts if p.suffix == ".png"}
    assert set(pngs) == {"pr_curve.png", "calibration.png", "shap_summary.png"}
    assert all(p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 5000 for p in pngs.values())

    # MLflow: one run per model with its metrics and the report artifacts.
    registry = ModelRegistry(mlflow_settings)
    assert set(outcome.runs) == {"xgboost", "lightgbm", "logistic", "isolation_forest"}
    run = registry.client.get_run(outcome.runs["xgboost"])
    assert (
        run.data.metrics["average_precision"]
        == outcome.result.scorers["xgboost"].report.average_precision
    )
    assert run.data.params["xgboost.n_estimators"] == "60"
    assert "lightgbm.num_leaves" not in run.data.params
    logged = {a.path for a in registry.client.list_artifacts(run.info.run_id, "report")}
    assert {"report/report.txt", "report/pr_curve.png", "report/shap_summary.png"} <= logged

    # Registry: xgboost and lightgbm versions, the better one is the challenger;
    # the baseline is logged but not registered; nothing became champion.
    assert set(outcome.versions) == {"xgboost", "lightgbm", "isolation_forest"}
    best = outcome.result.best_scorer()
    assert outcome.challenger_family in ("xgboost", "lightgbm")
    scores = {
        f: outcome.result.scorers[f].report.average_precision or 0 for f in ("xgboost", "lightgbm")
    }
    assert scores[outcome.challenger_family] == max(scores.values())
    assert best.report.average_precision is not None
    name = mlflow_settings.registered_model
    assert registry.alias_version(name, "challenger") == outcome.challenger_version
    assert registry.alias_version(name, "champion") is None
    cold = mlflow_settings.cold_start_model
    assert registry.alias_version(cold, "challenger") == outcome.cold_start_version
    tags = registry.version_tags(name, outcome.challenger_version)
    assert tags["label_cutoff_ms"] == str(outcome.result.frames.split.label_cutoff_ms)
