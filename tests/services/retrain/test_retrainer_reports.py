"""What the scheduled retrainer reports: the truth after a late failure, no older run's numbers.

The decision log here is the models suite's synthetic data written with the
archiver's writer (features under the store's names): a whole run takes
seconds, and no scorer or broker is needed.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from prometheus_client import REGISTRY

from contracts.settings import MlflowSettings, RetrainSettings, Settings
from feature_store import FEATURE_NAMES
from models.exceptions import RegistryError
from models.registry import ModelRegistry
from models.synthetic import make_synthetic_data
from models.train import TrainConfig
from models.xgb_model import XGBoostParams
from services.archive.layout import FEATURE_PREFIX
from services.archive.writer import LogWriter
from services.retrain.job import RetrainRequest, retrain_config
from services.retrain.schedule import Retrainer
from tests.conftest import memory_scratch_dir


@pytest.fixture(scope="module")
def synthetic_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 days of synthetic decisions (~3 % fraud) and their labels, as the archiver writes them."""
    data = make_synthetic_data(rows=8000, cards=2000, days=60, seed=3)
    served = dict(zip(data.spec.feature_names, FEATURE_NAMES, strict=False))
    decisions = data.frame.rename(columns={k: FEATURE_PREFIX + v for k, v in served.items()})
    decisions = decisions.assign(
        decided_at_ms=decisions["event_time_ms"] + 40,
        score=0.1,
        model_version="scorer/1",
        degraded=False,
    )
    root = tmp_path_factory.mktemp("synthetic-log")
    writer = LogWriter(root)
    table = pa.Table.from_pandas(decisions, preserve_index=False)
    writer.append("decisions", table, "event_time_ms")
    writer.append("labels", pa.Table.from_pandas(data.labels, preserve_index=False), "known_at_ms")
    return root


@pytest.fixture(scope="module")
def mlflow_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with memory_scratch_dir(tmp_path_factory, "mlflow") as root:
        yield root


def _mlflow(root: Path) -> MlflowSettings:
    """Model names of their own, so every retrainer starts with no champion."""
    tag = uuid.uuid4().hex[:8]
    return MlflowSettings(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        registered_model=f"scorer-{tag}",
        cold_start_model=f"cold-start-{tag}",
    )


def _retrainer(log_dir: Path, reports: Path, mlflow: MlflowSettings) -> Retrainer:
    train = TrainConfig(
        families=("xgboost",),
        cold_start=False,
        xgboost=XGBoostParams(n_estimators=40, max_depth=4, learning_rate=0.1),
        card_k=10,
        n_jobs=1,
    )
    split = RetrainSettings(bootstrap_rounds=200, test_days=10, gap_days=7, maturity_days=14)
    config = retrain_config(split, train=train)
    request = RetrainRequest(log_dir=log_dir, reports_dir=reports, config=config)
    return Retrainer(Settings(mlflow=mlflow), request, every_s=3600)


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _feature_psi_series() -> set[str]:
    """The features the PSI gauge currently exports a series for."""
    return {
        sample.labels["feature"]
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "fraudstream_retrain_feature_psi"
    }


def test_a_run_log_failure_after_the_promotion_still_reports_the_promotion(
    synthetic_log: Path,
    mlflow_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def database_locked(*_: object, **__: object) -> str:
        raise RegistryError("database is locked", action="log run 'retrain'")

    # Only the retrain run's logging fails (the challenger's run is logged by log_model_run).
    monkeypatch.setattr(ModelRegistry, "log_run", database_locked)
    mlflow = _mlflow(mlflow_root)
    failures = _sample("fraudstream_retrain_run_log_failures_total") or 0.0
    retrainer = _retrainer(synthetic_log, tmp_path / "reports", mlflow)
    with caplog.at_level(logging.INFO, logger="services.retrain.schedule"):
        assert retrainer.run_once() == "promoted"

    job = retrainer.last
    assert job is not None
    outcome = job.outcome
    version = outcome.challenger_version
    assert outcome.applied == "promoted" and outcome.run_id is None
    assert outcome.run_log_error == "log run 'retrain': database is locked"
    registry = ModelRegistry(mlflow)
    assert registry.alias_version(mlflow.registered_model, "champion") == version

    summary = json.loads((job.run_dir / "retrain.json").read_text(encoding="utf-8"))
    assert summary["verdict"] == "promoted" and summary["challenger"]["version"] == version
    assert summary["mlflow_run_id"] is None
    assert summary["mlflow_run_log_error"] == "log run 'retrain': database is locked"
    report = (job.run_dir / "retrain.txt").read_text(encoding="utf-8")
    assert f"decision: PROMOTED challenger xgboost v{version} to champion" in report
    assert "mlflow: the retrain run was not logged: log run 'retrain': database is locked" in report
    assert "retraining: promoted (run log failed: log run 'retrain': database is locked)" in (
        caplog.text
    )
    assert _sample("fraudstream_retrain_run_log_failures_total") == failures + 1


def test_each_run_exports_its_own_numbers_or_none(
    synthetic_log: Path, mlflow_root: Path, tmp_path: Path
) -> None:
    # A champion, then a challenger judged against it: a test, so a p-value.
    judged = _retrainer(synthetic_log, tmp_path / "judged", _mlflow(mlflow_root))
    assert judged.run_once() == "promoted"
    assert judged.run_once() == "kept"
    assert judged.last is not None and judged.last.outcome.result.significance is not None
    assert _sample("fraudstream_retrain_p_value") == pytest.approx(
        judged.last.outcome.result.significance.p_value
    )
    assert _sample("fraudstream_retrain_average_precision", model="champion") is not None

    # A first model elsewhere: no champion, no test. Nothing of the run before may remain.
    first = _retrainer(synthetic_log, tmp_path / "first", _mlflow(mlflow_root))
    assert first.run_once() == "promoted"
    assert math.isnan(_sample("fraudstream_retrain_p_value") or 0.0)
    assert _sample("fraudstream_retrain_average_precision", model="champion") is None
    assert _sample("fraudstream_retrain_average_precision", model="challenger") is not None
    assert _sample("fraudstream_retrain_drifted") is not None

    # A run that fails before its drift report exports neither drift nor verdict.
    failed = _retrainer(tmp_path / "no-log-here", tmp_path / "failed", _mlflow(mlflow_root))
    assert failed.run_once() == "failed"
    assert _sample("fraudstream_retrain_average_precision", model="challenger") is None
    assert math.isnan(_sample("fraudstream_retrain_drifted") or 0.0)
    assert math.isnan(_sample("fraudstream_retrain_score_psi") or 0.0)
    assert _feature_psi_series() == set()
