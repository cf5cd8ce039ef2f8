"""One retraining run, wired: read the decision log, snapshot at the cutoff, drift, retrain.

The pure parts live in ``models`` (``decision_log``, ``retrain``, ``drift``,
``challenge``); this module does the I/O around them: reading the Parquet log,
the run's report directory, the summary file, the timings.

Each run writes ``<reports_dir>/run-<UTC time>/``::

    drift.json, drift.png    PSI per feature and for the score (always, even if training is refused)
    retrain.txt              the run in words (also printed by ``fraudstream retrain``)
    retrain.json             verdict, versions, metrics, p-value, drift, timings, the MLflow run
                             (or why it could not be logged: the verdict stands regardless)
    training/                the families' report and plots (not in a dry run)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contracts.settings import RetrainSettings, Settings
from feature_store import COLD_START_FEATURES, FEATURE_NAMES
from models.challenge import ChallengePolicy
from models.decision_log import LogSnapshot, snapshot_at
from models.drift import DriftReport, save_drift_report
from models.leaks import LeakPolicy
from models.predictor import ScorerFamily
from models.retrain import (
    RetrainConfig,
    RetrainOutcome,
    RetrainPlan,
    drift_at,
    prepare,
    retrain,
)
from models.split import SplitConfig
from models.train import TrainConfig
from services.archive.reader import DecisionLog, read_decision_log

__all__ = [
    "JobResult",
    "PreparedRun",
    "RetrainRequest",
    "finish_run",
    "load_snapshot",
    "measure_drift",
    "prepare_run",
    "retrain_config",
    "run_retrain",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainRequest:
    log_dir: Path
    reports_dir: Path
    config: RetrainConfig
    #: None = just after the newest archived decision (the log's own clock).
    cutoff_ms: int | None = None
    dry_run: bool = False
    promote: bool = True


@dataclass(frozen=True)
class JobResult:
    outcome: RetrainOutcome
    log: DecisionLog
    run_dir: Path
    #: Wall-clock seconds of the whole run, reading the log included.
    seconds: float


def retrain_config(
    settings: RetrainSettings,
    *,
    train: TrainConfig | None = None,
    challenger: ScorerFamily | Literal["best"] = "best",
    **overrides: float,
) -> RetrainConfig:
    """The run's configuration from settings; ``overrides`` replace settings fields by name."""
    values = settings.model_copy(update=overrides)
    base = train or RetrainConfig().train
    split = SplitConfig(
        test_days=values.test_days, gap_days=values.gap_days, maturity_days=values.maturity_days
    )
    return RetrainConfig(
        train=dataclasses.replace(base, split=split),
        policy=ChallengePolicy(
            min_average_precision_gain=values.min_average_precision_gain,
            alpha=values.alpha,
            bootstrap_rounds=values.bootstrap_rounds,
            min_fraud_rows=values.min_fraud_rows,
            recall_fpr=base.recall_fpr,
            seed=base.seed,
        ),
        leaks=LeakPolicy(max_single_feature_auc=values.leak_auc),
        psi_threshold=values.psi_threshold,
        challenger=challenger,
    )


def load_snapshot(log_dir: Path, cutoff_ms: int | None) -> tuple[LogSnapshot, DecisionLog]:
    """The decision log read from ``log_dir`` and cut at ``cutoff_ms`` (default: its newest)."""
    archive = read_decision_log(log_dir, until_ms=cutoff_ms)
    if cutoff_ms is None:
        cutoff_ms = int(archive.decisions["event_time_ms"].max()) + 1
    snapshot = snapshot_at(
        archive.decisions,
        archive.labels,
        cutoff_ms=cutoff_ms,
        feature_names=FEATURE_NAMES,
        cold_start_features=COLD_START_FEATURES,
    )
    return snapshot, archive


def measure_drift(request: RetrainRequest) -> tuple[DriftReport, LogSnapshot]:
    """The drift report alone (``fraudstream drift``): no labels needed, nothing trained."""
    snapshot, _ = load_snapshot(request.log_dir, request.cutoff_ms)
    return drift_at(snapshot, request.config), snapshot


@dataclass(frozen=True)
class PreparedRun:
    """A run up to its drift report: what ``finish_run`` trains and judges."""

    plan: RetrainPlan
    log: DecisionLog
    run_dir: Path
    drift_files: list[Path]
    timings: dict[str, float]
    started: float


def prepare_run(request: RetrainRequest) -> PreparedRun:
    """Read the log, snapshot it at the cutoff, split it, write the drift report."""
    started = time.perf_counter()
    snapshot, archive = load_snapshot(request.log_dir, request.cutoff_ms)
    timings = {"read": time.perf_counter() - started}
    mark = time.perf_counter()
    plan = prepare(snapshot, request.config)
    run_dir = _run_dir(request.reports_dir)
    drift_files = save_drift_report(plan.drift, run_dir)
    if plan.drift.drifted:
        log.warning("drift above PSI %g: %s", plan.drift.threshold, ", ".join(plan.drift.drifted))
    timings["drift"] = time.perf_counter() - mark
    return PreparedRun(plan, archive, run_dir, drift_files, timings, started)


def finish_run(
    settings: Settings, request: RetrainRequest, prepared: PreparedRun, *, progress: bool = True
) -> JobResult:
    """Leak checks, training, the verdict and MLflow (``models.retrain.retrain``); a summary."""
    outcome = retrain(
        prepared.plan,
        settings.mlflow,
        request.config,
        out_dir=prepared.run_dir,
        dry_run=request.dry_run,
        promote=request.promote,
        progress=progress,
        artifacts=prepared.drift_files,
        timings=prepared.timings,
    )
    seconds = time.perf_counter() - prepared.started
    summary = prepared.run_dir / "retrain.json"
    summary.write_text(json.dumps(_summary(outcome, seconds), indent=2) + "\n", encoding="utf-8")
    return JobResult(outcome, prepared.log, prepared.run_dir, seconds)


def run_retrain(settings: Settings, request: RetrainRequest, *, progress: bool = True) -> JobResult:
    """One whole run: ``prepare_run`` then ``finish_run``."""
    return finish_run(settings, request, prepare_run(request), progress=progress)


def _run_dir(reports_dir: Path) -> Path:
    stamp = dt.datetime.now(tz=dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    directory = reports_dir / f"run-{stamp}-{uuid.uuid4().hex[:6]}"
    directory.mkdir(parents=True, exist_ok=False)
    return directory


def _summary(outcome: RetrainOutcome, seconds: float) -> dict[str, object]:
    result, plan = outcome.result, outcome.plan
    return {
        "cutoff_ms": plan.snapshot.cutoff_ms,
        "verdict": outcome.applied,
        "promote": result.promote,
        "reason": result.reason,
        "challenger": {"family": outcome.challenger_family, "version": outcome.challenger_version},
        "champion_version": result.champion_version,
        "metrics": result.metrics(),
        "significance": None if result.significance is None else result.significance.as_dict(),
        "split": plan.frames.split.as_params(),
        "counts": plan.snapshot.counts.as_dict(),
        "drift": {"drifted": plan.drift.drifted, "summary": plan.drift.summary()},
        "mlflow_run_id": outcome.run_id,
        "mlflow_run_log_error": outcome.run_log_error,
        "seconds": {**outcome.timings, "total": seconds},
    }
