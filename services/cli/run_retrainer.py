"""``fraudstream run retrainer``: the retraining job on a schedule, with drift metrics."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from services.cli.options import log_json_option, metrics_options, serve_metrics
from services.cli.retrain_cmd import DRIFT_EXIT_CODE, log_options

__all__ = ["retrainer"]

log = logging.getLogger(__name__)


@click.command("retrainer")
@click.option(
    "--every",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="Time between runs: 30m, 24h, 1h30m, 1d.",
)
@click.option("--once", is_flag=True, help="Run once now and exit (for cron or a one-off job).")
@log_options
@click.option(
    "--promote/--no-promote",
    default=True,
    show_default=True,
    help="Move `champion` when the policy says the challenger is better (else only report).",
)
@click.option(
    "--fail-on-drift",
    is_flag=True,
    help=f"With --once: exit with status {DRIFT_EXIT_CODE} when drift is above the threshold.",
)
@metrics_options(9110)
@log_json_option
def retrainer(
    every: str,
    once: bool,
    fail_on_drift: bool,
    metrics_port: int,
    metrics_host: str,
    log_json: bool,
    **options: Any,
) -> None:
    """Retrain from the decision log now and then every --every (stops cleanly on SIGTERM).

    Each run is `fraudstream retrain` with a fresh cutoff (the newest archived
    decision): drift report, leak checks, challenger, verdict, MLflow. Metrics
    on --metrics-port: PSI per feature and for the score, drifted count, last
    run time and duration, last result, PR-AUC of both models, the p-value.
    A failed or refused run is logged and counted; the schedule goes on.
    With --once the exit status is 1 when the run failed or was refused.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from services.stream.shutdown import StopFlag, install_signal_handlers

    stop = StopFlag()
    install_signal_handlers(stop)
    from contracts.settings import load_settings
    from services.cli.retrain_cmd import request_from_options
    from services.logs import configure_json_logging
    from services.retrain.schedule import Retrainer, parse_duration

    if log_json:
        configure_json_logging()
    every_s = parse_duration(every)
    settings = load_settings()
    request = request_from_options(settings, options)
    serve_metrics(metrics_port, metrics_host)
    log.info("retrainer ready: every %s from %s", every, request.log_dir)
    job = Retrainer(settings, request, every_s=every_s, stop=stop)
    results = job.run(once=once)
    click.echo(f"retrainer: {len(results)} run(s): {', '.join(results) or 'none'}")
    if once and results and results[-1] in ("failed", "refused"):
        sys.exit(1)
    if once and fail_on_drift and job.last_drift is not None and job.last_drift.drifted:
        sys.exit(DRIFT_EXIT_CODE)
