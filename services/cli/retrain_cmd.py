"""``fraudstream retrain`` and ``fraudstream drift``: decision log -> a challenger; drift."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from contracts.settings import Settings
    from services.retrain.job import JobResult, RetrainRequest

__all__ = ["DRIFT_EXIT_CODE", "drift", "log_options", "request_from_options", "retrain"]

#: Exit status of ``--fail-on-drift`` when a PSI is above the threshold.
DRIFT_EXIT_CODE = 3
F = TypeVar("F", bound=Callable[..., Any])


def log_options(command: F) -> F:
    """The options every decision-log command shares (defaults from settings.retrain)."""
    options = [
        click.option(
            "--log-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Decision log directory (default: settings retrain.decision_log_dir, "
            ".fraudstream/decision-log).",
        ),
        click.option(
            "--cutoff",
            default=None,
            metavar="ISO|MS",
            help="Train as of this moment (ISO date-time, UTC unless stated, or epoch ms): "
            "decisions before it, labels known by it. Default: the newest archived decision.",
        ),
        click.option(
            "--test-days",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="The recent slice both models are judged on (default: settings, 7).",
        ),
        click.option(
            "--gap-days",
            type=click.FloatRange(min=0),
            default=None,
            help="Days between training rows and the recent slice (default: settings, 7).",
        ),
        click.option(
            "--maturity-days",
            type=click.FloatRange(min=0),
            default=None,
            help="Unlabelled training rows older than this count as legitimate; younger "
            "ones are left out (default: settings, 14).",
        ),
        click.option(
            "--reports-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where each run's report directory goes (default: settings "
            "retrain.reports_dir, .fraudstream/retrain).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def request_from_options(settings: Settings, options: dict[str, Any]) -> RetrainRequest:
    """A ``RetrainRequest`` from the shared options (None = the setting)."""
    from services.retrain.job import RetrainRequest, retrain_config

    overrides = {
        name: options[name]
        for name in (
            "test_days",
            "gap_days",
            "maturity_days",
            "min_average_precision_gain",
            "alpha",
            "psi_threshold",
        )
        if options.get(name) is not None
    }
    retrain = settings.retrain
    return RetrainRequest(
        log_dir=options.get("log_dir") or retrain.decision_log_dir,
        reports_dir=options.get("reports_dir") or retrain.reports_dir,
        config=retrain_config(retrain, challenger=options.get("family") or "best", **overrides),
        cutoff_ms=_cutoff_ms(options.get("cutoff")),
        dry_run=bool(options.get("dry_run", False)),
        promote=bool(options.get("promote", True)),
    )


@click.command()
@log_options
@click.option("--dry-run", is_flag=True, help="Train and judge; register, log and move nothing.")
@click.option(
    "--promote/--no-promote",
    default=True,
    show_default=True,
    help="Move `champion` when the policy says the challenger is better (else only report).",
)
@click.option(
    "--family",
    type=click.Choice(["best", "xgboost", "lightgbm"]),
    default="best",
    show_default=True,
    help="Which trained family becomes the challenger (best = highest PR-AUC).",
)
@click.option(
    "--min-gain",
    "min_average_precision_gain",
    type=float,
    default=None,
    help="PR-AUC gain the challenger needs (default: settings, 0.005).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Largest p-value of the gain that still promotes (default: settings, 0.05).",
)
@click.option(
    "--psi-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="PSI above which a feature or the score is reported as drift (default: settings, 0.2).",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit with status {DRIFT_EXIT_CODE} when drift is above the threshold.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars.")
def retrain(**options: Any) -> None:
    """Train a challenger on the decision log and promote it only if it is better.

    The training set is the decision log (`fraudstream run archiver`): the
    feature vectors exactly as the scorer served them, joined with the labels
    known at the cutoff. Rows are split in time (train on the older part, a gap
    for label delay, the most recent slice for judging); a leaky training set
    is refused; XGBoost and LightGBM are trained and logged to MLflow; the best
    is judged against the champion on the recent slice (the metrics of
    `fraudstream train`, plus a paired bootstrap of the PR-AUC difference).
    The policy is printed with the verdict. A running scorer picks up a new
    champion without a restart. A drift report (PSI per feature and for the
    score) is written every run.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from contracts.settings import load_settings
    from services.retrain.job import run_retrain

    settings = load_settings()
    request = request_from_options(settings, options)
    job = run_retrain(settings, request, progress=options["progress"])
    click.echo(_describe(job, settings, request.config.experiment))
    if options["fail_on_drift"] and job.outcome.plan.drift.drifted:
        raise click.exceptions.Exit(DRIFT_EXIT_CODE)


@click.command()
@log_options
@click.option(
    "--psi-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="PSI above which a feature or the score is reported as drift (default: settings, 0.2).",
)
@click.option("--top", default=20, show_default=True, help="Features shown (largest PSI first).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write drift.json and drift.png here.",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"Exit with status {DRIFT_EXIT_CODE} when drift is above the threshold.",
)
def drift(top: int, out: Path | None, **options: Any) -> None:
    """PSI per feature and for the score: the recent slice against the training window.

    Windows as `fraudstream retrain` cuts them: the last --test-days before
    the cutoff against everything before the gap. Bins are the training
    window's deciles, missing values a bin of their own. Nothing is trained.
    """
    from contracts.settings import load_settings
    from models.drift import format_drift, save_drift_report
    from services.retrain.job import measure_drift

    settings = load_settings()
    request = request_from_options(settings, options)
    report, snapshot = measure_drift(request)
    click.echo(f"decision log: {request.log_dir}: {snapshot.counts.decisions:,} decisions")
    click.echo(format_drift(report, top=top))
    if out is not None:
        written = save_drift_report(report, out)
        click.echo(f"wrote {', '.join(str(p) for p in written)}")
    if options["fail_on_drift"] and report.drifted:
        raise click.exceptions.Exit(DRIFT_EXIT_CODE)


def _describe(job: JobResult, settings: Settings, experiment: str) -> str:
    outcome = job.outcome
    lines = [
        f"decision log: {job.log.decision_files:,} decision files, "
        f"{job.log.label_files:,} label files",
        outcome.report_text,
        f"reports: {job.run_dir}",
    ]
    if outcome.run_log_error is not None:
        pass  # the report's own last line says the run was not logged, and why
    elif outcome.run_id is None:
        lines.append("mlflow: nothing logged (dry run)")
    else:
        where = f"experiment {experiment}, {settings.mlflow.tracking_uri}"
        lines.append(f"mlflow: run {outcome.run_id} ({where})")
    stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in outcome.timings.items())
    lines.append(f"time: {job.seconds:.1f} s ({stages})")
    return "\n".join(lines)


def _cutoff_ms(text: str | None) -> int | None:
    """``--cutoff`` as epoch ms: digits are epoch ms, anything else an ISO date(-time), UTC."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither epoch ms nor an ISO date-time", param_hint="--cutoff"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
