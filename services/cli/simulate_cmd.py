"""``fraudstream simulate``: a seeded stream of payments, messages and late labels.

Cheap to import: the simulator, pyarrow and confluent-kafka load inside the command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["simulate"]

_DEFAULT_FILE_START = "2025-01-06"  # a Monday, so week one starts with a weekday


@click.command()
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed: same seed and options, byte-identical events.",
)
@click.option(
    "--customers",
    type=click.IntRange(min=20),
    default=5_000,
    show_default=True,
    help="Customers in the simulated bank (about 1.4 payments each per day).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Simulated days. File mode: default 30. Kafka mode: default endless.",
)
@click.option(
    "--start",
    default=None,
    metavar="ISO",
    help=f"Simulated start (ISO date or date-time, UTC). File mode: default "
    f"{_DEFAULT_FILE_START}. Kafka mode: default now.",
)
@click.option(
    "--fraud-rate",
    type=click.FloatRange(0.0, 0.5, max_open=True),
    default=0.008,
    show_default=True,
    help="Target share of transactions that are fraudulent.",
)
@click.option(
    "--mix",
    default=None,
    metavar="NAME=SHARE,...",
    help="Scenario mix as shares of fraudulent transactions, e.g. "
    "card_testing=0.3,account_takeover=0.2 (left-out scenarios get none). "
    "Scenarios: card_testing, account_takeover, compromised_terminal, "
    "impossible_travel, proxy_ip, app_scam, bin_attack, new_account_fraud. "
    "Default: all of them.",
)
@click.option(
    "--new-customer-share",
    type=click.FloatRange(0.0, 0.9),
    default=0.25,
    show_default=True,
    help="Share of customers who open their account during the run (new cards: cold start).",
)
@click.option(
    "--card-replacement-rate",
    type=click.FloatRange(0.0, 0.1),
    default=0.003,
    show_default=True,
    help="Chance per card per day of a replacement card (a new card number).",
)
@click.option(
    "--reissue-after-fraud/--no-reissue-after-fraud",
    default=True,
    show_default=True,
    help="Block and reissue a card once its fraud is known.",
)
@click.option(
    "--confirmed-legit-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.02,
    show_default=True,
    help="Share of legitimate transactions later confirmed legitimate (a label).",
)
@click.option(
    "--drain-labels/--no-drain-labels",
    default=True,
    show_default=True,
    help="With a fixed end, still emit labels known after it (at their known time).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="File mode: write transactions, messages, labels and summary.json here.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="File mode: output format.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="EVENTS_PER_S",
    help="Kafka mode: events per second by the wall clock (default 1000; 0 = as fast as possible).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Kafka mode: stop after this many wall-clock seconds.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Kafka mode: stop after this many events.",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
def simulate(
    seed: int,
    customers: int,
    days: int | None,
    start: str | None,
    fraud_rate: float,
    mix: str | None,
    new_customer_share: float,
    card_replacement_rate: float,
    reissue_after_fraud: bool,
    confirmed_legit_share: float,
    drain_labels: bool,
    out: Path | None,
    file_format: str,
    rate: float | None,
    seconds: float | None,
    count: int | None,
    progress: bool,
) -> None:
    """Generate realistic, seeded payments with named fraud scenarios.

    \b
    File mode (--out DIR): a fixed span (--days, from --start) written as
    transactions.<fmt> (with ground truth is_fraud, scenario, episode_id),
    messages.<fmt> (with category), labels.<fmt> and summary.json.
    \b
    Kafka mode (no --out): events go to the transactions, user-messages and
    labels topics at --rate events/s until --seconds or --count (or Ctrl-C).
    Simulated time starts now and runs on the simulated timeline, which is
    faster than the wall clock: a simulated day of N customers is about
    1.4*N events, so at --rate R it passes in 1.4*N/R seconds. Event times
    therefore run ahead of "now"; windows and label delays are all measured
    in event time, so the stream is self-consistent.
    \b
    Examples:
      fraudstream simulate --out data/sim --days 30 --customers 5000
      fraudstream simulate --rate 2000 --seconds 10
    """
    from contracts.settings import load_settings
    from services.simulator.config import SimulatorConfig, parse_mix, parse_start

    kafka_options = [name for name, value in
                     (("--rate", rate), ("--seconds", seconds), ("--count", count))
                     if value is not None]  # fmt: skip
    if out is not None and kafka_options:
        raise click.UsageError(f"{', '.join(kafka_options)} apply to Kafka mode, not with --out")
    file_mode = out is not None
    if start is not None:
        start_ms = parse_start(start)
    elif file_mode:
        start_ms = parse_start(_DEFAULT_FILE_START)
    else:
        start_ms = int(time.time() * 1000)
    extra: dict[str, Any] = {} if mix is None else {"mix": parse_mix(mix)}
    config = SimulatorConfig(
        seed=seed,
        customers=customers,
        start_ms=start_ms,
        days=(days or 30) if file_mode else days,
        fraud_rate=fraud_rate,
        confirmed_legit_share=confirmed_legit_share,
        new_customer_share=new_customer_share,
        card_replacement_rate=card_replacement_rate,
        reissue_after_fraud=reissue_after_fraud,
        drain_labels=drain_labels,
        **extra,
    )
    if out is not None:
        _to_files(config, out, file_format, progress)
    else:
        _to_kafka(config, load_settings(), 1_000.0 if rate is None else rate, seconds, count,
                  progress)  # fmt: skip


def _to_files(config: Any, out: Path, file_format: str, progress: bool) -> None:
    from tqdm import tqdm

    from services.simulator.generator import simulate as generate
    from services.simulator.rhythm import DAY_MS
    from services.simulator.sinks.files import FileSink
    from services.simulator.summary import SimulationSummary, format_summary
    from services.simulator.world import stream_time

    summary = SimulationSummary()
    started = time.monotonic()
    day = 0
    with (
        FileSink(out, file_format) as sink,  # type: ignore[arg-type]
        tqdm(total=config.days, unit="day", desc="simulate", disable=not progress) as bar,
    ):
        for item in generate(config):
            sink.write(item)
            summary.observe(item)
            # The bar follows simulated days (drained labels after the end add none).
            now_day = min(config.days, (stream_time(item.event) - config.start_ms) // DAY_MS)
            if now_day > day:
                bar.update(now_day - day)
                day = now_day
        bar.update(config.days - day)
        report = summary.as_dict(config)
        report["elapsed_s"] = round(time.monotonic() - started, 2)
        # Handed to the sink, not written here: it goes into place together with the
        # event files, and not at all if the run fails before they are complete.
        sink.add_text("summary.json", json.dumps(report, indent=2) + "\n")
    click.echo(format_summary(report))
    click.echo(f"wrote {out}/ ({file_format}) in {report['elapsed_s']} s")


def _to_kafka(
    config: Any, settings: Any, rate: float, seconds: float | None, count: int | None,
    progress: bool,
) -> None:  # fmt: skip
    from services.exceptions import KafkaError
    from services.kafka.admin import wait_for_broker
    from services.simulator.generator import simulate as generate
    from services.simulator.sinks.kafka import KafkaSink, stream_to_kafka
    from services.simulator.summary import SimulationSummary, format_summary

    # Fail in seconds with a clear line, not after minutes of timed-out deliveries.
    wait_for_broker(settings.kafka, timeout_s=10.0)
    summary = SimulationSummary()
    sink = KafkaSink(settings.kafka)
    report = stream_to_kafka(
        generate(config), sink, summary, rate=rate or None, seconds=seconds, count=count,
        progress=progress,
    )  # fmt: skip
    click.echo(format_summary(summary.as_dict(config)))
    click.echo(
        f"kafka {settings.kafka.bootstrap_servers}: sent {report.sent:,} in "
        f"{report.elapsed_s:.1f} s ({report.rate:,.0f} ev/s), delivered {report.delivered:,}, "
        f"failed {report.failed:,}, unacknowledged {report.undelivered:,}"
        + (" (interrupted)" if report.interrupted else "")
    )
    if not report.ok:
        raise KafkaError(
            f"{report.failed} events failed delivery {report.errors or ''} and "
            f"{report.undelivered} were never acknowledged",
            retriable=True,
        )
