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


@bench.command("models")
@click.option(
    "--registered/--synthetic",
    default=False,
    show_default=True,
    help="The champion from the registry, or a synthetic 300-tree XGBoost.",
)
def models_bench(registered: bool) -> None:
    """Model scoring latency: one row, and per row in a batch of 512."""
    from models.bench import benchmark_registered, benchmark_synthetic_xgboost, format_latency

    if registered:
        from contracts.settings import load_settings

        report = benchmark_registered(load_settings().mlflow, alias="champion")
    else:
        report = benchmark_synthetic_xgboost()
    click.echo(format_latency(report))
