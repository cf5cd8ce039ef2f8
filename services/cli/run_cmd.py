"""``fraudstream run``: the long-running processes."""

from __future__ import annotations

import logging

import click

__all__ = ["run"]

log = logging.getLogger(__name__)


@click.group()
def run() -> None:
    """Run a long-lived service (stops cleanly on SIGTERM / Ctrl-C: finishes its batch, commits)."""


@run.command("labels")
@click.option("--group-id", default="fraudstream-labels", show_default=True, help="Consumer group.")
@click.option(
    "--idle-exit", type=float, default=None, help="Exit after this many seconds without messages."
)
def labels(group_id: str, idle_exit: float | None) -> None:
    """Consume labels (verdicts, chargebacks) into the label-based risk features in Redis."""
    from contracts.settings import load_settings
    from services.stream.shutdown import StopFlag, install_signal_handlers
    from services.stream.wiring import label_consumer

    stop = StopFlag()
    install_signal_handlers(stop)
    loop, updater = label_consumer(load_settings(), group_id=group_id, stop=stop)
    stats = loop.run(idle_exit_s=idle_exit)
    click.echo(
        f"labels: {stats.messages} consumed, {updater.applied} applied, "
        f"{stats.dead_letters} dead-lettered, {stats.retries} retries"
    )
