"""Where simulated events go: Parquet/CSV files, Kafka at a rate, and the CLI around both."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from contracts.codec import decode
from contracts.events import Label, Transaction, UserMessage
from contracts.settings import KafkaSettings, Settings
from services.cli.main import cli
from services.kafka.clients import make_producer
from services.simulator import SimulationSummary, SimulatorConfig, simulate
from services.simulator.sinks.files import FileSink, arrow_schema
from services.simulator.sinks.kafka import KafkaSink, stream_to_kafka
from services.simulator.sinks.pacing import TokenBucket
from services.simulator.world import SimulatedEvent

SMALL = SimulatorConfig(seed=5, customers=400, days=5, fraud_rate=0.03)
TRUTH_COLUMNS = {
    Transaction: ["is_fraud", "scenario", "episode_id"],
    UserMessage: ["category", "scenario", "episode_id"],
    Label: [],
}


def test_parquet_files_hold_every_event_and_its_ground_truth(tmp_path: Path) -> None:
    generated = list(simulate(SMALL))
    summary = SimulationSummary()
    with FileSink(tmp_path, "parquet", batch_rows=1000) as sink:  # several row groups
        for item in generated:
            sink.write(item)
            summary.observe(item)
    tables = {
        kind: pq.read_table(tmp_path / f"{stem}.parquet")
        for kind, stem in (
            (Transaction, "transactions"),
            (UserMessage, "messages"),
            (Label, "labels"),
        )
    }
    for kind, table in tables.items():
        fields = [f.name for f in msgspec.structs.fields(kind) if f.name != "v"]
        assert table.column_names == fields + TRUTH_COLUMNS[kind]
        assert table.schema == arrow_schema(kind)
    transactions = tables[Transaction].to_pylist()
    assert len(transactions) == summary.transactions
    assert sum(row["is_fraud"] for row in transactions) == summary.fraud_transactions > 0
    assert all((row["scenario"] is not None) == row["is_fraud"] for row in transactions)
    assert tables[UserMessage].num_rows == summary.messages
    assert tables[Label].num_rows == summary.labels
    assert all(row["category"] for row in tables[UserMessage].to_pylist())
    # Each row converts back into exactly the event that was generated.
    originals = [i.event for i in generated if isinstance(i.event, Transaction)]
    for row, original in zip(transactions, originals, strict=True):
        for column in TRUTH_COLUMNS[Transaction]:
            del row[column]
        assert msgspec.convert(row, Transaction) == original


def test_csv_files_are_readable_with_the_same_columns(tmp_path: Path) -> None:
    summary = SimulationSummary()
    with FileSink(tmp_path, "csv") as sink:
        for item in simulate(SMALL):
            sink.write(item)
            summary.observe(item)
    transactions = pa_csv.read_csv(tmp_path / "transactions.csv")
    assert transactions.schema.names == arrow_schema(Transaction).names
    assert transactions.num_rows == summary.transactions
    messages = pa_csv.read_csv(tmp_path / "messages.csv")
    assert messages.num_rows == summary.messages
    labels = pa_csv.read_csv(tmp_path / "labels.csv")
    assert labels.num_rows == summary.labels
    assert set(labels.column("source").to_pylist()) >= {"import", "chargeback"}


def test_cli_file_mode_writes_files_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--out", str(out), "--days", "3", "--customers", "300"]
    args += ["--fraud-rate", "0.02", "--mix", "card_testing=0.5,app_scam=0.5", "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configured"]["mix"]["card_testing"] == 0.5
    assert summary["configured"]["mix"]["proxy_ip"] == 0.0
    assert summary["scenarios"]["proxy_ip"]["transactions"] == 0
    assert summary["transactions"] == pq.read_table(out / "transactions.parquet").num_rows
    assert "fraud tx" in result.output and "labels" in result.output


def test_cli_refuses_kafka_options_in_file_mode(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path), "--rate", "10"])
    assert result.exit_code == 2
    assert "--rate" in result.output


def test_cli_reports_a_bad_mix_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--out", str(tmp_path), "--mix", "phishing=1"])
    assert result.exit_code != 0
    assert "unknown scenario 'phishing'" in str(result.exception)


def test_token_bucket_hands_out_tokens_at_its_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=200.0, burst=50.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(100):
        bucket.take(10)
    # 1,000 tokens at 200/s from an empty bucket: 5 simulated seconds.
    assert now[0] - 100.0 == pytest.approx(5.0, rel=1e-6)
    with pytest.raises(ValueError, match="cannot take"):
        bucket.take(51)


def test_token_bucket_catches_up_a_short_stall_but_not_a_long_one() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=100.0, burst=20.0, clock=lambda: now[0], sleep=sleep)
    now[0] = 10.0  # a 10 s stall fills the bucket up to its burst (20), not to 1,000
    bucket.take(20)
    assert slept == []
    bucket.take(10)  # empty again: 10 tokens take 0.1 s
    assert sum(slept) == pytest.approx(0.1)


# -- a run that does not finish ---------------------------------------------------------


class Interrupted(Exception):
    """Stands in for Ctrl-C, a full disk or a crash halfway through a run."""


def _interrupted_after(events: int, config: SimulatorConfig) -> Iterator[SimulatedEvent]:
    for number, item in enumerate(simulate(config)):
        if number == events:
            raise Interrupted
        yield item


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_a_run_that_fails_midway_leaves_the_previous_files_as_they_were(tmp_path: Path) -> None:
    with FileSink(tmp_path, "parquet", batch_rows=500) as sink:
        for item in simulate(SMALL):
            sink.write(item)
    before = _snapshot(tmp_path)
    rerun = SimulatorConfig(seed=6, customers=400, days=5, fraud_rate=0.03)
    with pytest.raises(Interrupted), FileSink(tmp_path, "parquet", batch_rows=500) as sink:
        for item in _interrupted_after(1_500, rerun):  # several batches already flushed
            sink.write(item)
    assert _snapshot(tmp_path) == before  # same files, same bytes, no leftovers


def test_cli_rerun_that_fails_midway_keeps_the_previous_files_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--out", str(out), "--days", "2", "--customers", "200", "--no-progress"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    before = _snapshot(out)
    assert "summary.json" in before
    monkeypatch.setattr(
        "services.simulator.generator.simulate",
        lambda config: _interrupted_after(200, config),
    )
    result = CliRunner().invoke(cli, [*args, "--seed", "7"])
    assert isinstance(result.exception, Interrupted)
    assert _snapshot(out) == before


_KILLED_RUN = """
import os, sys
from pathlib import Path
from services.simulator import SimulatorConfig, simulate
from services.simulator.sinks.files import FileSink
config = SimulatorConfig(seed=int(sys.argv[2]), customers=200, days=10)
sink = FileSink(Path(sys.argv[1]), "parquet", batch_rows=200)
for number, item in enumerate(simulate(config)):
    sink.write(item)
    if number == 1_000 and sys.argv[2] == "2":
        os._exit(137)  # as SIGKILL or the OOM killer would: no cleanup runs
sink.close()
"""


def test_a_killed_run_leaves_the_previous_files_readable(tmp_path: Path) -> None:
    def run(seed: int) -> int:
        command = [sys.executable, "-c", _KILLED_RUN, str(tmp_path), str(seed)]
        return subprocess.run(command, check=False, timeout=120).returncode

    assert run(1) == 0
    rows = {path.name: pq.read_metadata(path).num_rows for path in tmp_path.glob("*.parquet")}
    assert len(rows) == 3
    assert run(2) == 137
    assert {
        path.name: pq.read_metadata(path).num_rows for path in tmp_path.glob("*.parquet")
    } == rows


# -- Kafka (real broker) ----------------------------------------------------------------


def _stream_config() -> SimulatorConfig:
    import time

    return SimulatorConfig(
        seed=9, customers=300, start_ms=int(time.time() * 1000), days=None, fraud_rate=0.05
    )


def test_stream_to_kafka_at_a_rate_and_consume_it_back(settings: Settings, consume_all) -> None:
    summary = SimulationSummary()
    sink = KafkaSink(settings.kafka)
    report = stream_to_kafka(
        simulate(_stream_config()), sink, summary, rate=2000.0, count=400, progress=False
    )
    assert report.ok and report.sent == report.delivered == 400
    topics = settings.kafka.topics
    counts = Counter(
        {
            Transaction: summary.transactions,
            UserMessage: summary.messages,
            Label: summary.labels,
        }
    )
    assert counts[Transaction] > 300
    for kind, topic in (
        (Transaction, topics.transactions),
        (UserMessage, topics.user_messages),
        (Label, topics.labels),
    ):
        records = consume_all(settings, topic, count=counts[kind] or None, raw=True)
        assert len(records) == counts[kind], topic
        for record in records:
            event = decode(record.value)
            assert isinstance(event, kind)
            if isinstance(event, Transaction):
                assert record.key == event.card_id.encode()
            elif isinstance(event, UserMessage):
                assert record.key == event.customer_id.encode()
            else:
                assert record.key == (event.card_id or event.tx_id).encode()


def test_cli_kafka_mode_puts_valid_events_on_the_broker(settings: Settings, consume_all) -> None:
    args = ["simulate", "--rate", "1500", "--count", "300", "--customers", "200", "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "delivered 300" in result.output
    topics = settings.kafka.topics
    events = []
    for topic in (topics.transactions, topics.user_messages, topics.labels):
        events += consume_all(settings, topic)
    assert len(events) == 300
    assert sum(isinstance(e, Transaction) for e in events) > 250


def test_delivery_failures_are_counted_and_reported_not_dropped() -> None:
    # A real producer pointed at a port nobody listens on: every message times out.
    dead = KafkaSettings(bootstrap_servers="127.0.0.1:9")
    producer = make_producer(dead, **{"message.timeout.ms": 300, "log_level": 0})
    sink = KafkaSink(dead, producer=producer)
    summary = SimulationSummary()
    report = stream_to_kafka(
        simulate(SMALL), sink, summary, rate=None, count=50, flush_timeout_s=10, progress=False
    )
    assert report.sent == 50
    assert report.delivered == 0
    assert report.failed + report.undelivered == 50
    assert not report.ok
    assert sum(report.errors.values()) == report.failed > 0
