"""``fraudstream run llm-worker``: explanations for flagged cases, analyses of user messages."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click

from services.cli.options import idle_exit_option, log_json_option, metrics_options, serve_metrics

__all__ = ["llm_worker"]

log = logging.getLogger(__name__)


@click.command("llm-worker")
@click.option("--group-id", default="fraudstream-llm", show_default=True, help="Consumer group.")
@click.option("--max-batch", default=32, show_default=True, help="Kafka messages per micro-batch.")
@click.option(
    "--max-wait-ms", default=100, show_default=True, help="Longest wait to fill a batch (ms)."
)
@click.option(
    "--batch-size", type=int, default=None, help="Model batch size (default: settings.llm)."
)
@click.option(
    "--queue-limit", type=int, default=None, help="Requests waiting for the model, at most."
)
@click.option(
    "--timeout",
    "request_timeout_s",
    type=float,
    default=None,
    help="Seconds per request before the template is used (default: settings.llm).",
)
@click.option("--explain", "explain_ref", default=None, help="Explain adapter alias or version.")
@click.option("--analyse", "analyse_ref", default=None, help="Analyse adapter alias or version.")
@click.option(
    "--threads", default=1, show_default=True, help="torch threads (leave the scorer a core)."
)
@click.option(
    "--idle-priority/--no-idle-priority",
    default=True,
    show_default=True,
    help="Run under Linux SCHED_IDLE: a CPU only when nothing else wants one.",
)
@click.option("--nice", default=19, show_default=True, help="Lower CPU priority by this much.")
@click.option(
    "--yield-cpu/--no-yield-cpu",
    default=True,
    show_default=True,
    help="Pause the model between steps while other processes wait for a CPU.",
)
@click.option(
    "--yield-busy-cores",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Pause while other processes use more than this many cores (default: settings.llm, 0.5).",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The scorer's rule set, for rule descriptions (default: the packaged rule set).",
)
@metrics_options(9109)
@log_json_option
@idle_exit_option
def llm_worker(
    group_id: str,
    max_batch: int,
    max_wait_ms: int,
    batch_size: int | None,
    queue_limit: int | None,
    request_timeout_s: float | None,
    explain_ref: str | None,
    analyse_ref: str | None,
    threads: int,
    idle_priority: bool,
    nice: int,
    yield_cpu: bool,
    yield_busy_cores: float | None,
    rules_path: Path | None,
    metrics_port: int,
    metrics_host: str,
    log_json: bool,
    idle_exit: float | None,
) -> None:
    """Explain flagged cases and analyse customer messages, off the scorer's path.

    Consumes `cases` and `user-messages`, writes `explanations` and
    `message-analyses`. Every flagged case gets one explanation: the model's
    when it answers in time and faithfully, else a template marked as such.
    The model never changes a decision.
    """
    started = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from services.stream.shutdown import StopFlag, install_signal_handlers

    stop = StopFlag()
    install_signal_handlers(stop)

    from contracts.settings import load_settings
    from services.llm_worker.wiring import WorkerConfig, build_llm_worker
    from services.logs import configure_json_logging
    from services.scoring.wiring import DEFAULT_RULES

    if log_json:
        configure_json_logging()
    config = WorkerConfig(
        group_id=group_id,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        batch_size=batch_size,
        queue_limit=queue_limit,
        request_timeout_s=request_timeout_s,
        explain_ref=explain_ref,
        analyse_ref=analyse_ref,
        threads=threads,
        idle_priority=idle_priority,
        nice=nice,
        yield_cpu=yield_cpu,
        yield_busy_cores=yield_busy_cores,
        rules_path=rules_path or DEFAULT_RULES,
    )
    loop, handler, runner = build_llm_worker(load_settings(), config, stop=stop)
    serve_metrics(metrics_port, metrics_host)
    log.info(
        "llm worker ready in %.1fs: adapters %s, group %s",
        time.monotonic() - started,
        handler.versions,
        group_id,
    )
    try:
        stats = loop.run(idle_exit_s=idle_exit)
    finally:
        runner.stop()
    counts = handler.counts
    click.echo(
        f"llm-worker: {stats.messages} consumed, {counts.explanations} explanations "
        f"({counts.templates} templates), {counts.analyses} analyses "
        f"({counts.fallback_analyses} fallbacks), {stats.dead_letters} dead-lettered"
    )
