"""``fraudstream run review``: the analysts' review queue (API, web page, ingest, labels)."""

from __future__ import annotations

import click

__all__ = ["review"]


@click.command("review")
@click.option(
    "--host", default=None, help="Address to listen on [default: review.host, 127.0.0.1]."
)
@click.option(
    "--port", type=int, default=None, help="Port (0 = any free one) [default: review.port, 8000]."
)
@click.option("--group-id", default="fraudstream-review", show_default=True, help="Consumer group.")
@click.option("--max-batch", default=500, show_default=True, help="Most events per DB transaction.")
@click.option(
    "--max-wait-ms", default=50, show_default=True, help="Longest wait to fill a batch (ms)."
)
@click.option("--log-json/--no-log-json", default=True, show_default=True, help="JSON log lines.")
@click.option(
    "--idle-exit",
    type=float,
    default=None,
    help="Exit after this many seconds without new events (tests, demos).",
)
def review(
    host: str | None,
    port: int | None,
    group_id: str,
    max_batch: int,
    max_wait_ms: int,
    log_json: bool,
    idle_exit: float | None,
) -> None:
    """Serve the review queue: cases, explanations and messages in; verdicts out as labels.

    One process: the HTTP API (/api, Bearer tokens) and the analysts' pages
    (/, log in with a user from `fraudstream review users add`), a consumer of
    the cases, decisions, transactions, explanations, user-messages and
    message-analyses topics into the case store (review.database_url; SQLite
    in the state directory by default), and the publisher of verdict labels to
    the labels topic. Stops cleanly on SIGTERM / Ctrl-C.
    """
    from services.stream.shutdown import StopFlag, install_signal_handlers

    stop = StopFlag()
    install_signal_handlers(stop)
    from contracts.settings import load_settings
    from services.logs import configure_json_logging
    from services.review.database import database_url, describe
    from services.review.service import ReviewService, ReviewServiceConfig

    if log_json:
        configure_json_logging()
    settings = load_settings()
    config = ReviewServiceConfig(
        host=host or settings.review.host,
        port=settings.review.port if port is None else port,
        group_id=group_id,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
    )
    service = ReviewService(settings, config, stop=stop)
    click.echo(
        f"review: serving {service.url} (store {describe(database_url(settings))})", err=True
    )
    stats = service.run(idle_exit_s=idle_exit)
    written = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.written.items())) or "nothing"
    click.echo(
        f"review: {stats.consumed.messages} consumed ({written}), "
        f"{stats.consumed.dead_letters} dead-lettered, {stats.labels_sent} labels sent"
    )
