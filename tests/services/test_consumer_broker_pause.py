"""A broker that stops acknowledging is waited for, not given up on.

The loop used to flush for 30 s once and then raise, and the process exited:
a broker outage longer than that stopped every scorer. Now it waits (logging
each round) until each message is delivered or librdkafka gives up on it
(``message.timeout.ms``), or until it is asked to stop; nothing is committed
meanwhile. Here the embedded broker is frozen (SIGSTOP) for longer than a round, shortened
to 0.5 s so the test needs no 30 s outage.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from confluent_kafka import Message, TopicPartition

from contracts.settings import Settings
from services.exceptions import KafkaError
from services.kafka.clients import make_consumer, make_producer
from services.kafka.reader import read_topic
from services.stream import batch_consumer
from services.stream.batch_consumer import BatchResult
from services.stream.shutdown import StopFlag
from tests.services.loops import bytes_loop

pytestmark = pytest.mark.slow


def test_a_broker_frozen_for_several_flush_rounds_is_waited_out(
    local_stack: Settings, settings: Settings, kafka_producer, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(batch_consumer, "_FLUSH_ROUND_S", 0.5)
    broker = _broker_pid(local_stack)
    source, out = settings.kafka.topics.transactions, settings.kafka.topics.decisions
    values = [f"m{i}".encode() for i in range(6)]
    for value in values:
        kafka_producer.produce(source, value=value, key=b"k")  # one partition
    assert kafka_producer.flush(10) == 0

    producer = make_producer(settings.kafka)
    thaw: list[threading.Timer] = []
    partitions: set[int] = set()

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        for msg, value in batch:
            partitions.add(msg.partition() or 0)
            producer.produce(out, value=value, key=b"k")
        if not thaw:  # the first batch's outputs wait for a frozen broker (< session timeout)
            os.kill(broker, signal.SIGSTOP)
            thaw.append(threading.Timer(3.0, os.kill, (broker, signal.SIGCONT)))
            thaw[0].start()
        return BatchResult()

    group = f"{source}-pause"
    loop = bytes_loop(settings, group, handle, producer=producer, max_batch=3)
    try:
        with caplog.at_level("WARNING", logger=batch_consumer.__name__):
            stats = loop.run(max_messages=len(values), idle_exit_s=30)  # raised KafkaError before
    finally:
        for timer in thaw:
            timer.join(10)
        os.kill(broker, signal.SIGCONT)  # never leave the session's broker frozen

    assert stats.messages == len(values)
    assert any("broker not acknowledging" in r.getMessage() for r in caplog.records)
    # Each output once: the frozen batch was delivered, not redone.
    delivered = read_topic(settings.kafka, out, idle_ms=700)
    assert sorted(r.value for r in delivered) == values
    (partition,) = partitions
    assert _committed(settings, group, partition) == len(values)


def test_a_stop_request_ends_the_wait_for_a_frozen_broker(
    local_stack: Settings, settings: Settings, kafka_producer
) -> None:
    """SIGTERM while the broker does not answer: the loop stops waiting (its batch
    uncommitted, so redelivered) instead of waiting the broker out."""
    broker = _broker_pid(local_stack)
    source, out = settings.kafka.topics.transactions, settings.kafka.topics.decisions
    kafka_producer.produce(source, value=b"m0", key=b"k")
    assert kafka_producer.flush(10) == 0
    producer = make_producer(settings.kafka)
    timers: list[threading.Timer] = []
    stop = StopFlag()
    partitions: set[int] = set()

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        for msg, value in batch:
            partitions.add(msg.partition() or 0)
            producer.produce(out, value=value, key=b"k")
        os.kill(broker, signal.SIGSTOP)  # frozen for 8 s; the stop comes after 1.5 s
        timers.extend([threading.Timer(1.5, stop.set),
                       threading.Timer(8.0, os.kill, (broker, signal.SIGCONT))])  # fmt: skip
        for timer in timers:
            timer.start()
        return BatchResult()

    group = f"{source}-stop"
    loop = bytes_loop(settings, group, handle, producer=producer, stop=stop)
    try:
        # Before, the flush waited out the freeze, then committed as if never asked to stop.
        with pytest.raises(KafkaError, match="undelivered"):
            loop.run(max_messages=1, idle_exit_s=30)
    finally:
        for timer in timers:
            timer.join(15)
        os.kill(broker, signal.SIGCONT)
    (partition,) = partitions
    assert _committed(settings, group, partition) < 0, "not committed: the batch is redelivered"


def _broker_pid(local_stack: Settings) -> int:
    return int((local_stack.state_dir / "stack" / "kafka.pid").read_text().splitlines()[0])


def _committed(settings: Settings, group: str, partition: int) -> int:
    """The group's committed offset of the transactions topic's ``partition`` (< 0: none)."""
    probe = make_consumer(settings.kafka, group)
    try:
        topic = settings.kafka.topics.transactions
        (committed,) = probe.committed([TopicPartition(topic, partition)], timeout=10)
    finally:
        probe.close()
    return int(committed.offset)
