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
    """Model latency: one row, per row in a batch of 512, and one row's exact SHAP."""
    from models.bench import benchmark_registered, benchmark_synthetic_xgboost, format_latency

    if registered:
        from contracts.settings import load_settings

        report = benchmark_registered(load_settings().mlflow, alias="champion")
    else:
        report = benchmark_synthetic_xgboost()
    click.echo(format_latency(report))


def _rates(ctx: click.Context, param: click.Parameter, text: str) -> tuple[int | None, ...]:
    """``"1000,5000,max"`` -> ``(1000, 5000, None)``."""
    rates: list[int | None] = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        if part != "max" and not (part.isdigit() and int(part) > 0):
            raise click.BadParameter(f"{part!r} is neither a positive number of tx/s nor 'max'")
        rates.append(None if part == "max" else int(part))
    if not rates:
        raise click.BadParameter("no rates given")
    return tuple(rates)


@bench.command("e2e")
@click.option(
    "--rates",
    default="1000,5000,max",
    show_default=True,
    callback=_rates,
    help="Offered rates in tx/s, comma-separated; 'max' offers a backlog as fast as possible.",
)
@click.option("--seconds", default=10.0, show_default=True, help="Length of each paced phase.")
@click.option(
    "--max-count", default=50_000, show_default=True, help="Backlog size of the 'max' phase."
)
@click.option("--partitions", default=4, show_default=True, help="Partitions of the fresh topics.")
@click.option("--max-batch", default=256, show_default=True, help="Micro-batch size of both apps.")
@click.option(
    "--max-wait-ms", default=5, show_default=True, help="Longest wait to fill a batch (both apps)."
)
@click.option(
    "--llm-worker",
    is_flag=True,
    help="Run each rate beside the LLM worker too, in rounds between phases alone (needs "
    "`fraudstream llm train`): the scorer's latency beside it vs alone.",
)
@click.option(
    "--control",
    is_flag=True,
    help="--llm-worker with a do-nothing process in the worker's place: the ratio "
    "the benchmark's own noise gives (needs no adapters).",
)
@click.option(
    "--rounds",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --llm-worker / --control: rounds per rate, each a fresh scorer on fresh "
    "topics, one phase alone and one beside the worker (an even number runs each first "
    "equally often: the second phase of a round is the slower one).",
)
def e2e(
    rates: tuple[int | None, ...],
    seconds: float,
    max_count: int,
    partitions: int,
    max_batch: int,
    max_wait_ms: int,
    llm_worker: bool,
    control: bool,
    rounds: int,
) -> None:
    """End to end on the running stack: the scorer next to a do-nothing echo app (the floor).

    Needs `fraudstream stack up` (or configured Kafka and Redis) and a champion
    model (`fraudstream train` + `fraudstream promote`). Uses fresh topics and a
    fresh Redis key prefix, deleted afterwards. Per rate: sustained throughput,
    end-to-end latency p50/p99/p99.9 of the scorer and of the echo floor, and
    their difference; the scorer's in-process time per stage; CPU of the
    scorer, the broker and Redis. Takes about 2 x seconds per rate + start-up
    (with --llm-worker, per round 2 x seconds + starting a scorer and the worker).

    With --llm-worker, each rate then runs --rounds rounds: a fresh scorer on
    fresh topics with `fraudstream run llm-worker` started beside it (as
    deployed: its own session, SCHED_IDLE, one torch thread), one phase with the
    scorer alone (the worker frozen with SIGSTOP) and one beside the running
    worker, alternating which runs first. The embedded broker slows down as a
    topic's log grows, so phases are compared within a round only; the verdict
    pools all the rounds' decisions. Add --control to run a do-nothing process
    in the worker's place: the ratio that noise alone gives.
    """
    from contracts.settings import load_settings
    from services.bench.e2e import E2EConfig, run_e2e_bench

    config = E2EConfig(
        rates=rates,
        seconds=seconds,
        max_count=max_count,
        partitions=partitions,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        llm_worker=llm_worker or control,
        control=control,
        rounds=rounds,
    )
    click.echo(run_e2e_bench(load_settings(), config).report)
