"""``fraudstream bench``: benchmarks that print figures."""

from __future__ import annotations

import click

__all__ = ["bench"]


@click.group()
def bench() -> None:
    """Measure throughput and latency on this machine (figures are printed, never asserted)."""


@bench.command("features")
@click.option(
    "--count", default=50_000, show_default=True, help="Simulated transactions to push through."
)
@click.option(
    "--batch", default=256, show_default=True, help="Micro-batch size (one Redis round trip each)."
)
@click.option(
    "--naive-count", default=2_000, show_default=True, help="Transactions for the naive comparison."
)
@click.option(
    "--redis-url", default=None, help="Redis to use (default: settings, i.e. the local stack)."
)
def features(count: int, batch: int, naive_count: int, redis_url: str | None) -> None:
    """Online feature store: batched Lua path vs one command per feature, latency, memory."""
    from contracts.settings import load_settings
    from services.bench.features import run_feature_bench

    url = redis_url or load_settings().redis.url
    result = run_feature_bench(url, count=count, batch=batch, naive_count=naive_count)
    click.echo(result.report)
