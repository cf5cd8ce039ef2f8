"""``fraudstream run archiver``: decisions and labels from Kafka into the decision log (Parquet)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from services.cli.options import idle_exit_option, log_json_option, metrics_options, serve_metrics

__all__ = ["archiver"]

log = logging.getLogger(__name__)


@click.command("archiver")
@click.option(
    "--group-id", default="fraudstream-archiver", show_default=True, help="Consumer group."
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Decision log directory (default: settings retrain.decision_log_dir, "
    ".fraudstream/decision-log).",
)
@click.option(
    "--max-batch",
    default=20_000,
    show_default=True,
    help="Most records per batch (a batch is one file per kind and day).",
)
@click.option(
    "--max-wait-ms",
    default=10_000,
    show_default=True,
    help="Longest wait to fill a batch (ms): fewer, larger files.",
)
@metrics_options(0)
@log_json_option
@idle_exit_option
def archiver(
    group_id: str,
    log_dir: Path | None,
    max_batch: int,
    max_wait_ms: int,
    metrics_port: int,
    metrics_host: str,
    log_json: bool,
    idle_exit: float | None,
) -> None:
    """Archive decisions (features as served) and labels as Parquet, for retraining.

    Consumes the decisions and labels topics in one consumer group and
    appends each batch to the decision log as one Parquet file per kind and
    day (decisions/date=YYYY-MM-DD/, labels/date=YYYY-MM-DD/), written
    atomically; offsets are committed only once the files are on disk.
    `fraudstream retrain` reads the log.
    """
    from services.stream.shutdown import StopFlag, install_signal_handlers

    stop = StopFlag()
    install_signal_handlers(stop)
    from contracts.settings import load_settings
    from services.archive.wiring import ArchiverConfig, build_archiver
    from services.logs import configure_json_logging

    if log_json:
        configure_json_logging()
    settings = load_settings()
    config = ArchiverConfig(
        group_id=group_id, log_dir=log_dir, max_batch=max_batch, max_wait_ms=max_wait_ms
    )
    loop, handler = build_archiver(settings, config, stop=stop)
    serve_metrics(metrics_port, metrics_host)
    where = config.log_dir or settings.retrain.decision_log_dir
    log.info("archiver ready: group %s -> %s", group_id, where)
    stats = loop.run(idle_exit_s=idle_exit)
    click.echo(
        f"archiver: {handler.decisions} decisions and {handler.labels} labels archived to "
        f"{where} in {handler.writer.files} files, {stats.dead_letters} dead-lettered, "
        f"{stats.retries} retries"
    )
