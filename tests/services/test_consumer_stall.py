"""A consumer stalled past its group session timeout goes on instead of exiting.

The whole process is frozen (SIGSTOP, by a helper process) in the middle of
handling a batch for longer than the session timeout (6 s), as a SCHED_IDLE
LLM worker on a saturated machine, or a paused VM, can be: the group drops it,
and the batch's commit then fails with UNKNOWN_MEMBER_ID. The loop used to
raise that and the process exited (seen with `fraudstream run llm-worker`
frozen for 10 s). Now the batch is redelivered and the loop goes on.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter

import pytest
from confluent_kafka import Message

from contracts.settings import Settings
from services.kafka.clients import make_consumer, make_producer
from services.stream.batch_consumer import BatchResult, MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.delivery import DeliveryTracker

pytestmark = pytest.mark.slow


def test_a_loop_frozen_past_its_session_timeout_redelivers_the_batch_and_goes_on(
    settings: Settings, kafka_producer
) -> None:
    topic = settings.kafka.topics.transactions
    for i in range(40):
        kafka_producer.produce(topic, value=f"m{i}".encode(), key=b"k")  # one partition
    kafka_producer.flush(10)

    handled: Counter[bytes] = Counter()
    frozen = []

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        if not frozen:  # the first batch: freeze this whole process for 9 s, mid-batch
            frozen.append(subprocess.Popen(
                ["sh", "-c", f"kill -STOP {os.getpid()}; sleep 9; kill -CONT {os.getpid()}"]
            ))  # fmt: skip
            time.sleep(2)  # stopped in here
        handled.update(value for _, value in batch)
        return BatchResult()

    producer = make_producer(settings.kafka)
    loop: MicroBatchConsumer[bytes] = MicroBatchConsumer(
        make_consumer(settings.kafka, f"{topic}-stall"),
        producer,
        [topic],
        lambda data: data,
        handle,
        DeadLetterSink(producer, settings.kafka.topics.dead_letter, DeliveryTracker()),
        max_batch=10,
    )
    try:
        loop.run(idle_exit_s=15)  # raised KafkaError (UNKNOWN_MEMBER_ID) before
    finally:
        for helper in frozen:
            helper.wait(30)
    assert set(handled) == {f"m{i}".encode() for i in range(40)}
    # The frozen batch's commit was refused, so it came back: handled twice.
    assert [value for value, n in handled.items() if n > 1] != []
