"""``fraudstream stack``: the local broker and Redis for development (no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from contracts.settings import Settings
    from services.stack import LocalStack, ServiceStatus

__all__ = ["stack"]


@click.group()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FRAUDSTREAM_STATE_DIR",
    default=None,
    help="Where pid files, logs and stack.toml live "
    "[env FRAUDSTREAM_STATE_DIR; default: settings' state_dir, .fraudstream].",
)
@click.pass_context
def stack(ctx: click.Context, state_dir: Path | None) -> None:
    """Run the local stack: the embedded Kafka-compatible broker (tansu) and redis-server.

    Both listen on 127.0.0.1 only and keep everything in memory. `up` writes
    <state-dir>/stack.toml, which every other fraudstream command reads, so
    nothing else needs configuring. The system Redis (port 6379) is never used.
    """
    ctx.obj = state_dir


def _local_stack(
    ctx: click.Context,
    settings: Settings | None = None,
    *,
    kafka_port: int | None = None,
    redis_port: int | None = None,
    ready_timeout_s: float = 20.0,
) -> LocalStack:
    from contracts.settings import load_settings
    from services.stack import LocalStack

    settings = settings or load_settings()
    return LocalStack(
        ctx.obj or settings.state_dir,
        kafka_port=settings.stack.kafka_port if kafka_port is None else kafka_port,
        redis_port=settings.stack.redis_port if redis_port is None else redis_port,
        ready_timeout_s=ready_timeout_s,
    )


@stack.command()
@click.option(
    "--kafka-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Preferred broker port (0 = any free port) [default: settings' stack.kafka_port, 19092].",
)
@click.option(
    "--redis-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Preferred Redis port (0 = any free port) [default: settings' stack.redis_port, 16379].",
)
@click.option(
    "--timeout",
    "ready_timeout_s",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Seconds to wait for each server to answer.",
)
@click.pass_context
def up(
    ctx: click.Context, kafka_port: int | None, redis_port: int | None, ready_timeout_s: float
) -> None:
    """Start the broker and Redis (if not running), create all topics, write stack.toml.

    Safe to repeat: running servers are left alone, dead ones are restarted on
    their previous ports, topics that exist are kept. A taken port falls back
    to a free one.
    """
    from contracts.settings import load_settings, stack_file

    settings = load_settings()
    local = _local_stack(
        ctx,
        settings,
        kafka_port=kafka_port,
        redis_port=redis_port,
        ready_timeout_s=ready_timeout_s,
    )
    result = local.up(settings.kafka)
    for name, record, address in (
        ("kafka", result.kafka, result.kafka_address),
        ("redis", result.redis, result.redis_url),
    ):
        state = "started" if name in result.started else "already running"
        click.echo(f"{name:<6} {address:<28} pid {record.pid:<8} {state}")
        if name in result.port_fallbacks:
            preferred, used = result.port_fallbacks[name]
            click.echo(f"       port {preferred} was taken; using {used}")
    created = sum(result.topics.values())
    click.echo(
        f"topics {len(result.topics)} ensured ({created} created, "
        f"{len(result.topics) - created} already there), "
        f"{settings.kafka.partitions} partitions each when created"
    )
    verb = "wrote" if result.stack_file_written else "kept"
    click.echo(f"{verb} {local.stack_file}")
    if stack_file().resolve() != local.stack_file.resolve():
        click.echo(
            f"note: other commands find this stack with FRAUDSTREAM_STATE_DIR={local.state_dir}"
        )
    effective = load_settings()
    if effective.kafka.bootstrap_servers != result.kafka_address:
        click.echo(
            "note: your configuration overrides the stack's broker address "
            f"(commands will use {effective.kafka.bootstrap_servers})",
            err=True,
        )


@stack.command()
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@click.pass_context
def down(ctx: click.Context, timeout_s: float) -> None:
    """Stop the broker and Redis and remove stack.toml. Fine when nothing runs.

    Everything they held (topics, messages, keys) is gone: both keep data in memory only.
    """
    local = _local_stack(ctx)
    for name, outcome in local.down(timeout_s=timeout_s).items():
        click.echo(f"{name:<6} {outcome}")


@stack.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show addresses, pids, health and topics. Exit code 0 when all is up, 1 otherwise."""
    local = _local_stack(ctx)
    report = local.status()
    for service in (report.kafka, report.redis):
        click.echo(_describe(service))
    if report.topics is not None:
        click.echo(f"topics ({len(report.topics)}):")
        for name, partitions in report.topics.items():
            click.echo(f"  {name:<32} {partitions} partitions")
    elif report.topics_error is not None:
        click.echo(f"topics: unavailable ({report.topics_error})")
    present = "present" if report.stack_file.is_file() else "absent"
    click.echo(f"stack file: {report.stack_file} ({present})")
    if not report.healthy:
        # Not ctx.exit(): the entry point runs click with standalone_mode=False,
        # which turns ctx.exit's code into a return value the shell never sees.
        raise SystemExit(1)


def _describe(service: ServiceStatus) -> str:
    head = f"{service.name:<6} {service.address or '-':<28}"
    if service.alive:
        health = "up" if service.responding else "alive but not answering"
        return f"{head} pid {service.pid:<8} {health}"
    if service.stale_pid_file_removed:
        return f"{head} pid {service.pid:<8} dead (stale pid file removed; log: {service.log_file})"
    return f"{head} {'':<12} not running"
