"""The archiver on the real broker: durable day files before the commit, redeliveries read once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition

from contracts.codec import encode
from contracts.events import Decision, Label
from contracts.settings import Settings
from feature_store import COLD_START_FEATURES, FEATURE_NAMES
from models.decision_log import snapshot_at
from services.archive.reader import read_decision_log
from services.archive.wiring import ArchiverConfig, build_archiver
from services.kafka.clients import make_consumer
from tests.conftest import consume_all, settings_env
from tests.feature_store.conftest import make_tx
from tests.services.scoring.helpers import T0

DAY = 86_400_000


def _decision(i: int, event_time_ms: int) -> Decision:
    return Decision(
        tx_id=f"tx-{i}",
        card_id=f"card-{i % 5}",
        customer_id=f"cust-{i % 5}",
        event_time_ms=event_time_ms,
        decided_at_ms=T0 + 5 * DAY,
        action="flag" if i % 7 == 0 else "allow",
        score=(i % 10) / 10,
        reasons=["S_FLAG"] if i % 7 == 0 else [],
        model_version="fraudstream-scorer/3",
        rule_set_version="2026.11-1",
        cold_start=i % 5 == 0,
        features={"amount": 10.0 + i, "card_count_1h": float(i % 3), "device_fraud_rate": None},
    )


def _label(i: int) -> Label:
    return Label(
        tx_id=f"tx-{i}",
        is_fraud=i % 2 == 0,
        source="analyst",
        known_at_ms=T0 + DAY + i * 60_000,
        event_time_ms=T0 + i * 60_000,
        card_id=f"card-{i % 5}",
    )


def _produce(
    settings: Settings, producer: Producer, decisions: list[Decision], labels: list[Label] = ()
) -> None:
    topics = settings.kafka.topics
    for d in decisions:
        producer.produce(topics.decisions, value=encode(d), key=d.card_id.encode())
    for label in labels:
        producer.produce(topics.labels, value=encode(label), key=b"card")
    assert producer.flush(10) == 0


def _committed(settings: Settings, group: str, topic: str) -> int:
    """Messages committed by ``group`` on ``topic`` (the sum of committed offsets)."""
    consumer = make_consumer(settings.kafka, group)
    try:
        wanted = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(wanted, timeout=10))
    finally:
        consumer.close()


def test_decisions_and_labels_land_in_day_files_before_the_offsets_are_committed(
    settings: Settings, kafka_producer, tmp_path: Path
) -> None:
    # Two event days of decisions; a Transaction and junk on the topic are refused.
    decisions = [_decision(i, T0 + (i % 2) * DAY + i * 60_000) for i in range(30)]
    labels = [_label(i) for i in range(10)]
    _produce(settings, kafka_producer, decisions, labels)
    stray = encode(make_tx(1))
    kafka_producer.produce(settings.kafka.topics.decisions, value=stray, key=b"k")
    kafka_producer.produce(settings.kafka.topics.decisions, value=b"\x00junk", key=b"k")
    kafka_producer.flush(10)

    root = tmp_path / "log"
    config = ArchiverConfig(group_id="archiver-a", log_dir=root, max_wait_ms=500)
    loop, handler = build_archiver(settings, config)
    stats = loop.run(max_messages=42, idle_exit_s=30)
    assert stats.messages == 42 and stats.dead_letters == 2
    assert (handler.decisions, handler.labels) == (30, 10)

    days = sorted(p.name for p in (root / "decisions").iterdir())
    assert days == ["date=2025-01-06", "date=2025-01-07"]
    assert sorted(p.name for p in (root / "labels").iterdir()) == ["date=2025-01-07"]
    every_file = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in every_file)

    log = read_decision_log(root)
    assert sorted(log.decisions["tx_id"]) == sorted(d.tx_id for d in decisions)
    by_tx = log.decisions.set_index("tx_id")
    assert by_tx.loc["tx-4", "amount"] == 14.0 and by_tx.loc["tx-4", "card_count_1h"] == 1.0
    assert by_tx["device_fraud_rate"].isna().all()  # served as missing, kept as missing
    assert by_tx.loc["tx-7", "action"] == "flag" and bool(by_tx.loc["tx-5", "cold_start"])
    assert sorted(log.labels["tx_id"]) == sorted(label.tx_id for label in labels)
    assert log.labels["known_at_ms"].tolist() == sorted(log.labels["known_at_ms"])

    letters = consume_all(settings, settings.kafka.topics.dead_letter, count=2, raw=True)
    assert {r.value for r in letters} == {stray, b"\x00junk"}
    reasons = [dict(r.headers)["error.reason"].decode() for r in letters]
    assert any("does not belong in the decision log" in r for r in reasons)

    topics = settings.kafka.topics
    assert _committed(settings, "archiver-a", topics.decisions) == 32
    assert _committed(settings, "archiver-a", topics.labels) == 10


def test_a_batch_redelivered_after_a_crash_is_archived_twice_and_read_once(
    settings: Settings, kafka_producer, tmp_path: Path
) -> None:
    decisions = [_decision(i, T0 + i * 60_000) for i in range(40)]
    _produce(settings, kafka_producer, decisions)
    root = tmp_path / "log"
    config = ArchiverConfig(group_id="archiver-crash", log_dir=root, max_wait_ms=1000)

    loop, handler = build_archiver(settings, config)
    archive = handler.__call__

    def crash_after_writing(batch):  # the files are durable, the process dies before committing
        archive(batch)
        raise RuntimeError("power cut")

    loop.handle = crash_after_writing
    with pytest.raises(RuntimeError, match="power cut"):
        loop.run(max_messages=40, idle_exit_s=30)
    written = handler.decisions
    assert written > 0
    assert _committed(settings, "archiver-crash", settings.kafka.topics.decisions) == 0

    again, rerun = build_archiver(settings, config)
    assert again.run(max_messages=40, idle_exit_s=30).messages == 40
    assert rerun.decisions == 40

    log = read_decision_log(root)
    assert len(log.decisions) == 40 + written
    snapshot = snapshot_at(
        log.decisions,
        log.labels,
        cutoff_ms=T0 + DAY,
        feature_names=FEATURE_NAMES,
        cold_start_features=COLD_START_FEATURES,
    )
    assert snapshot.counts.duplicates == written
    assert sorted(snapshot.frame["tx_id"]) == sorted(d.tx_id for d in decisions)


def test_an_unwritable_log_holds_the_batch_until_it_can_be_written(
    settings: Settings, kafka_producer, tmp_path: Path
) -> None:
    decisions = [_decision(i, T0 + i * 60_000) for i in range(5)]
    _produce(settings, kafka_producer, decisions)
    root = tmp_path / "log"
    root.write_text("a file where the log directory should be", encoding="utf-8")
    loop, handler = build_archiver(
        settings, ArchiverConfig(group_id="archiver-disk", log_dir=root, max_wait_ms=500)
    )
    loop.backoff = (0.05, 0.2)
    thread = threading.Thread(target=loop.run, kwargs={"max_messages": 5, "idle_exit_s": 30})
    thread.start()
    deadline = time.monotonic() + 30
    while loop.stats.retries < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop.stats.retries >= 2, "the write never failed"
    assert _committed(settings, "archiver-disk", settings.kafka.topics.decisions) == 0
    root.unlink()  # the disk is fixed
    thread.join(30)
    assert not thread.is_alive()
    assert handler.decisions == 5
    assert len(read_decision_log(root).decisions) == 5
    assert _committed(settings, "archiver-disk", settings.kafka.topics.decisions) == 5


def test_the_archiver_command_archives_and_stops_cleanly_on_sigterm(
    settings: Settings, kafka_producer, tmp_path: Path
) -> None:
    decisions = [_decision(i, T0 + i * 60_000) for i in range(3)]
    _produce(settings, kafka_producer, decisions)
    root = tmp_path / "log"
    command = [str(Path(sys.executable).parent / "fraudstream"), "run", "archiver"]
    command += ["--log-dir", str(root), "--max-wait-ms", "300", "--no-log-json"]
    output = tmp_path / "archiver.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, **settings_env(settings)},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not list(root.glob("decisions/*/part-*.parquet")):
            assert process.poll() is None, output.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "nothing was archived"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert "archiver: 3 decisions and 0 labels archived" in output.read_text(encoding="utf-8")
    assert _committed(settings, "fraudstream-archiver", settings.kafka.topics.decisions) == 3
