"""``fraudstream run``: the long-running processes."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import click

from services.cli.lazy import LazyGroup
from services.cli.options import idle_exit_option, log_json_option, metrics_options, serve_metrics

__all__ = ["run"]

log = logging.getLogger(__name__)


# Services that live in their own modules (imported only when run).
_SERVICES: dict[str, str] = {
    "llm-worker": "services.cli.run_llm_worker:llm_worker",
    "review": "services.cli.run_review:review",
    "retrainer": "services.cli.run_retrainer:retrainer",
    "archiver": "services.cli.run_archiver:archiver",
}


@click.group(cls=LazyGroup, lazy=_SERVICES)
def run() -> None:
    """Run a long-lived service (stops cleanly on SIGTERM / Ctrl-C: finishes its batch, commits)."""


@run.command("labels")
@click.option("--group-id", default="fraudstream-labels", show_default=True, help="Consumer group.")
@idle_exit_option
def labels(group_id: str, idle_exit: float | None) -> None:
    """Consume labels (verdicts, chargebacks) into the label-based risk features in Redis."""
    from contracts.settings import load_settings
    from services.stream.shutdown import StopFlag, install_signal_handlers
    from services.stream.wiring import label_consumer

    stop = StopFlag()
    install_signal_handlers(stop)
    settings = load_settings()
    loop, updater = label_consumer(settings, group_id=group_id, stop=stop)
    log.info(
        "labels ready: group %s, topic %s -> Redis at %s",
        group_id,
        settings.kafka.topics.labels,
        urlsplit(settings.redis.url).hostname,  # (the URL may carry a password)
    )
    stats = loop.run(idle_exit_s=idle_exit)
    click.echo(
        f"labels: {stats.messages} consumed, {updater.applied} applied, "
        f"{stats.dead_letters} dead-lettered, {stats.retries} retries"
    )


@run.command("scorer")
@click.option("--group-id", default="fraudstream-scorer", show_default=True, help="Consumer group.")
@click.option("--max-batch", default=256, show_default=True, help="Most transactions per batch.")
@click.option(
    "--max-wait-ms", default=5, show_default=True, help="Longest wait to fill a batch (ms)."
)
@click.option(
    "--feature-chunk",
    default=64,
    show_default=True,
    help="Transactions per feature-store call; a batch's calls go out together and each "
    "chunk is scored while Redis works on the next.",
)
@click.option(
    "--in-flight",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Batches scored before the oldest one's decisions must be acknowledged; each "
    "batch's offsets are committed once its own decisions are (1 = wait after every batch).",
)
@click.option(
    "--degraded",
    type=click.Choice(["retry", "rules-only"]),
    default="retry",
    show_default=True,
    help="When Redis is down: hold the batch and retry, or decide by rules alone now.",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Rule set YAML (reloaded when it changes; default: the packaged rule set).",
)
@click.option("--model-alias", default="champion", show_default=True, help="Registry alias.")
@metrics_options(9108)
@log_json_option
@idle_exit_option
def scorer(
    group_id: str,
    max_batch: int,
    max_wait_ms: int,
    feature_chunk: int,
    in_flight: int,
    degraded: str,
    rules_path: Path | None,
    model_alias: str,
    metrics_port: int,
    metrics_host: str,
    log_json: bool,
    idle_exit: float | None,
) -> None:
    """Score transactions: features, models, rules -> decisions (and cases) on Kafka."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from services.stream.shutdown import StopFlag, install_signal_handlers

    # First, before the heavy imports: a SIGTERM during start-up is a clean stop too.
    stop = StopFlag()
    install_signal_handlers(stop)

    from contracts.settings import load_settings
    from services.logs import configure_json_logging
    from services.scoring.wiring import DEFAULT_RULES, ScorerConfig, build_scorer

    if log_json:
        configure_json_logging()
    config = ScorerConfig(
        group_id=group_id,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        feature_chunk=feature_chunk,
        in_flight=in_flight,
        degraded=degraded,  # type: ignore[arg-type]
        rules_path=rules_path or DEFAULT_RULES,
        model_alias=model_alias,
    )
    loop, handler = build_scorer(load_settings(), config, stop=stop)
    if stop.is_set():
        return
    serve_metrics(metrics_port, metrics_host)
    log.info("scorer ready: group %s, batch %d / %d ms", group_id, max_batch, max_wait_ms)
    # Start-up leaves ~430k long-lived objects (models, libraries); a full
    # collection walking them all takes ~250 ms, a latency spike each time.
    # Freezing them keeps the collector to what the batches allocate.
    gc.collect()
    gc.freeze()
    stats = loop.run(idle_exit_s=idle_exit)
    click.echo(
        f"scorer: {stats.messages} consumed, {handler.emitted} decisions, "
        f"{stats.dead_letters} dead-lettered, {stats.retries} retries"
    )
