"""A consumer stalled past its group session timeout goes on instead of exiting.

The whole process is frozen (SIGSTOP, by a helper process) in the middle of
handling a batch for longer than the session timeout (6 s), as a SCHED_IDLE
LLM worker on a saturated machine, or a paused VM, can be: the group drops it
(here made certain by another member joining meanwhile), and the batch's
commit then fails with UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION. The loop used to
raise that and the process exited (seen with `fraudstream run llm-worker`
frozen for 10 s). Now the batch is redelivered and the loop goes on.

Also here: the idle time of ``run(idle_exit_s=...)`` counts from when the last
batch was handled, not from when it arrived, so a slow batch is not idleness.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Message

from contracts.settings import Settings
from services.stream.batch_consumer import BatchResult
from services.stream.shutdown import StopFlag
from tests.services.loops import bytes_loop

pytestmark = pytest.mark.slow

# Freeze the test process, then join its group with another consumer: the
# coordinator can only finish that rebalance by evicting the frozen member
# after its session timeout (left alone, the embedded broker may not evict an
# idle group's member at all). The other consumer leaves without committing,
# and the test process is let go: its commit must now be refused.
_TAKE_OVER_WHILE_FROZEN = """
import os, signal, sys
pid, done_fd, servers, group, topic = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
os.kill(pid, signal.SIGSTOP)  # first thing: the test process waits for us mid-batch
try:
    import time
    from confluent_kafka import Consumer
    other = Consumer({"bootstrap.servers": servers, "group.id": group,
                      "session.timeout.ms": 6000, "enable.auto.commit": False})
    other.subscribe([topic])
    deadline = time.monotonic() + 10  # past the frozen member's 6 s session timeout
    while time.monotonic() < deadline:
        other.poll(0.2)
    other.close()
finally:
    os.kill(pid, signal.SIGCONT)
    os.write(done_fd, b"x")
"""


def test_a_loop_frozen_past_its_session_timeout_redelivers_the_batch_and_goes_on(
    settings: Settings, kafka_producer
) -> None:
    topic = settings.kafka.topics.transactions
    for i in range(40):
        kafka_producer.produce(topic, value=f"m{i}".encode(), key=b"k")  # one partition
    kafka_producer.flush(10)

    handled: Counter[bytes] = Counter()
    frozen: list[subprocess.Popen[bytes]] = []
    done = StopFlag()
    group = f"{topic}-stall"

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        if not frozen:  # the first batch: freeze this whole process, mid-batch
            wake, woken = os.pipe()
            frozen.append(subprocess.Popen(
                [sys.executable, "-c", _TAKE_OVER_WHILE_FROZEN, str(os.getpid()), str(woken),
                 settings.kafka.bootstrap_servers, group, topic],
                pass_fds=(woken,),
            ))  # fmt: skip
            os.close(woken)
            os.read(wake, 1)  # frozen in here, until the helper has let go
            os.close(wake)
        handled.update(value for _, value in batch)
        if len(handled) == 40 and max(handled.values()) > 1:
            done.set()  # all handled, the frozen batch again too: no need to wait out idleness
        return BatchResult()

    loop = bytes_loop(settings, group, handle, max_batch=10, stop=done)
    try:
        # A rejoin after the freeze takes seconds, more on a slow host: idle exit is a backstop.
        loop.run(idle_exit_s=60)  # raised KafkaError (UNKNOWN_MEMBER_ID) before
    finally:
        for helper in frozen:
            helper.wait(60)
    assert [helper.returncode for helper in frozen] == [0]  # it froze us and let go
    assert set(handled) == {f"m{i}".encode() for i in range(40)}
    # The frozen batch's commit was refused, so it came back: handled twice.
    assert [value for value, n in handled.items() if n > 1] != []


def test_time_spent_handling_a_batch_is_not_idle_time(settings: Settings, kafka_producer) -> None:
    topic = settings.kafka.topics.transactions
    for i in range(5):
        kafka_producer.produce(topic, value=f"early{i}".encode(), key=b"k")
    kafka_producer.flush(10)
    handled: list[bytes] = []
    timers: list[threading.Timer] = []

    def produce_late() -> None:
        for i in range(5):
            kafka_producer.produce(topic, value=f"late{i}".encode(), key=b"k")
        kafka_producer.flush(10)

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        if not handled:
            time.sleep(14)  # a slow batch, longer than the idle limit below
            # The next messages come 1 s after this batch is handled: not idle that long.
            timers.append(threading.Timer(1.0, produce_late))
            timers[0].start()
        handled.extend(value for _, value in batch)
        return BatchResult()

    loop = bytes_loop(settings, f"{topic}-idle", handle, max_batch=5)
    # The limit outlasts the group join (~3 s, more on a slow host) but not the slow batch.
    try:
        stats = loop.run(max_messages=10, idle_exit_s=12)  # stopped after the slow batch before
    finally:
        for timer in timers:
            timer.join(10)
    assert stats.messages == 10
    assert sorted(handled) == sorted([f"early{i}".encode() for i in range(5)]
                                     + [f"late{i}".encode() for i in range(5)])  # fmt: skip
