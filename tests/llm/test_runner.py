"""The model thread's queue: bounded, batched by task, deadlines, failures per request.

The engine here is a recording stand-in: these tests are about the queue's
logic (what is batched with what, what is refused or expired), which must not
depend on how fast a real model happens to be on a shared machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from models.llm.analysis import MessageReading
from models.llm.exceptions import DeadlinePassed
from models.llm.facts import CaseFacts, case_facts
from models.llm.prompts import SanitisedText, sanitise_customer_text
from services.llm_worker.runner import ModelRunner, RequestExpired
from tests.llm.helpers import make_decision


class RecordingEngine:
    def __init__(self, *, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.batches: list[tuple[str, int]] = []
        self.deadlines: list[float | None] = []
        self.gate = gate
        self.fail = fail

    def explain(self, cases: Sequence[CaseFacts], *, deadline: float | None = None) -> list[str]:
        self.deadlines.append(deadline)
        self._enter("explain", len(cases))
        return [f"text for {c.tx_id}" for c in cases]

    def analyse(
        self, messages: Sequence[SanitisedText], *, deadline: float | None = None
    ) -> list[MessageReading]:
        self._enter("analyse", len(messages))
        return [
            MessageReading(label="benign", label_scores={"benign": 1.0}, summary="", signals=())
            for _ in messages
        ]

    def _enter(self, task: str, size: int) -> None:
        self.batches.append((task, size))
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("model exploded")


def _facts(i: int) -> CaseFacts:
    return case_facts(make_decision(f"tx-{i}"))


def _later(seconds: float = 30.0) -> float:
    return time.monotonic() + seconds


@contextmanager
def _running(engine: RecordingEngine, **queue: int) -> Iterator[ModelRunner]:
    """A started runner over ``engine`` (batch_size, max_wait_ms, queue_limit), stopped after."""
    runner = ModelRunner(engine, **queue)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _taken(runner: ModelRunner) -> None:
    """Wait until the model thread has taken everything queued (it then waits at the gate)."""
    give_up = time.monotonic() + 10
    while runner.depth() and time.monotonic() < give_up:
        time.sleep(0.01)
    assert runner.depth() == 0


def test_requests_are_batched_by_task_and_answered_in_order():
    gate = threading.Event()
    engine = RecordingEngine(gate=gate)
    with _running(engine, batch_size=3, max_wait_ms=0, queue_limit=100) as runner:
        first = runner.submit("explain", _facts(0), _later())
        _taken(runner)  # the thread took the first request alone and waits at the gate
        futures = [runner.submit("explain", _facts(i), _later()) for i in range(1, 5)]
        message = runner.submit("analyse", sanitise_customer_text("hello"), _later())
        gate.set()
        assert first is not None and first.result(10) == "text for tx-0"
        assert [f.result(10) for f in futures if f] == [f"text for tx-{i}" for i in range(1, 5)]
        assert message is not None and message.result(10).label == "benign"
    assert engine.batches[0] == ("explain", 1)
    assert ("explain", 3) in engine.batches and ("analyse", 1) in engine.batches
    assert sum(size for task, size in engine.batches if task == "explain") == 5


def test_the_thread_waits_a_little_to_fill_a_batch():
    engine = RecordingEngine()
    with _running(engine, batch_size=2, max_wait_ms=5000, queue_limit=10) as runner:
        futures = [runner.submit("explain", _facts(i), _later()) for i in range(2)]
        assert [f.result(10) for f in futures if f] == ["text for tx-0", "text for tx-1"]
    assert engine.batches == [("explain", 2)]


def test_a_full_queue_refuses_at_once():
    gate = threading.Event()
    with _running(RecordingEngine(gate=gate), batch_size=1, max_wait_ms=0, queue_limit=2) as runner:
        busy = runner.submit("explain", _facts(0), _later())
        _taken(runner)  # the first request is in the model, the queue is empty again
        queued = [runner.submit("explain", _facts(i), _later()) for i in (1, 2)]
        refused = runner.submit("explain", _facts(3), _later())
        assert busy is not None and all(queued)
        assert refused is None
        assert runner.depth() == 2
        gate.set()
        assert [f.result(10) for f in queued if f] == ["text for tx-1", "text for tx-2"]


def test_an_expired_request_is_never_started():
    gate = threading.Event()
    engine = RecordingEngine(gate=gate)
    with _running(engine, batch_size=1, max_wait_ms=0, queue_limit=10) as runner:
        busy = runner.submit("explain", _facts(0), _later())
        _taken(runner)
        expired = runner.submit("explain", _facts(1), time.monotonic() - 1.0)
        gate.set()
        assert busy is not None and busy.result(10) == "text for tx-0"
        assert expired is not None
        with pytest.raises(RequestExpired):
            expired.result(10)
    assert engine.batches == [("explain", 1)]  # the expired one never reached the model


def test_the_model_gets_the_batch_s_last_deadline_and_a_late_answer_is_never_delivered():
    gate = threading.Event()
    engine = RecordingEngine(gate=gate)
    with _running(engine, batch_size=2, max_wait_ms=5000, queue_limit=10) as runner:
        soon, later = time.monotonic() + 2.0, _later()
        short = runner.submit("explain", _facts(0), soon)
        long = runner.submit("explain", _facts(1), later)
        _taken(runner)  # both are in the model, which waits at the gate
        time.sleep(max(soon - time.monotonic(), 0) + 0.05)
        gate.set()  # the model answers both, one of them after its caller stopped waiting
        assert long is not None and long.result(10) == "text for tx-1"
        assert short is not None
        with pytest.raises(RequestExpired, match="in the model"):
            short.result(10)
    assert engine.batches == [("explain", 2)]
    assert engine.deadlines == [later]


def test_a_model_failure_fails_its_requests_not_the_thread():
    engine = RecordingEngine(fail=True)
    with _running(engine, batch_size=2, max_wait_ms=20, queue_limit=10) as runner:
        failed = runner.submit("explain", _facts(0), _later())
        assert failed is not None
        with pytest.raises(RuntimeError, match="model exploded"):
            failed.result(10)
        engine.fail = False
        later = runner.submit("explain", _facts(1), _later())
        assert later is not None and later.result(10) == "text for tx-1"


class PausedPastTheDeadline(RecordingEngine):
    """An engine whose pause (``CpuYield``) outlasted the deadline: it computed nothing."""

    def analyse(
        self, messages: Sequence[SanitisedText], *, deadline: float | None = None
    ) -> list[MessageReading]:
        self._enter("analyse", len(messages))
        raise DeadlinePassed("deadline passed before a label was scored")


def test_a_deadline_passed_in_the_model_expires_its_requests_not_the_thread():
    engine = PausedPastTheDeadline()
    with _running(engine, batch_size=2, max_wait_ms=20, queue_limit=10) as runner:
        message = sanitise_customer_text("Someone called me pretending to be the bank.")
        expired = runner.submit("analyse", message, _later())
        assert expired is not None
        with pytest.raises(RequestExpired, match="in the model"):
            expired.result(10)
        answered = runner.submit("explain", _facts(1), _later())
        assert answered is not None and answered.result(10) == "text for tx-1"


def test_the_fallback_reason_says_where_a_request_expired():
    """The handler's reason for a template names the queue or the model (read by analysts)."""
    from services.llm_worker.handler import _wait

    engine = PausedPastTheDeadline()
    with _running(engine, batch_size=1, max_wait_ms=0, queue_limit=10) as runner:
        message = sanitise_customer_text("Someone called me pretending to be the bank.")
        in_model = runner.submit("analyse", message, _later())
        assert _wait(in_model, _later()) == (None, "timeout: deadline passed in the model")
        in_queue = runner.submit("explain", _facts(2), time.monotonic() - 1.0)
        assert _wait(in_queue, _later()) == (None, "timeout: deadline passed in the queue")


def test_stop_fails_what_is_still_queued():
    gate = threading.Event()
    runner = ModelRunner(RecordingEngine(gate=gate), batch_size=1, max_wait_ms=0, queue_limit=10)
    runner.start()
    busy = runner.submit("explain", _facts(0), _later())
    _taken(runner)
    waiting = runner.submit("explain", _facts(1), _later())
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    give_up = time.monotonic() + 10
    while not runner._stopping and time.monotonic() < give_up:  # stop() has begun
        time.sleep(0.01)
    gate.set()
    stopper.join(10)
    assert busy is not None and busy.result(10) == "text for tx-0"
    assert waiting is not None
    with pytest.raises(RequestExpired):
        waiting.result(10)
    assert runner.submit("explain", _facts(2), _later()) is None


def test_stop_leaves_requests_their_callers_gave_up_on():
    gate = threading.Event()
    runner = ModelRunner(RecordingEngine(gate=gate), batch_size=1, max_wait_ms=0, queue_limit=10)
    runner.start()
    busy = runner.submit("explain", _facts(0), _later())
    _taken(runner)
    abandoned = runner.submit("explain", _facts(1), _later())
    assert abandoned is not None and abandoned.cancel()  # the handler's timeout did this

    def open_gate_once_stopping() -> None:
        give_up = time.monotonic() + 10
        while not runner._stopping and time.monotonic() < give_up:
            time.sleep(0.01)
        gate.set()

    threading.Thread(target=open_gate_once_stopping).start()
    runner.stop()  # drains the queue, which still holds the abandoned request
    assert busy is not None and busy.result(10) == "text for tx-0"
    assert abandoned.cancelled()
