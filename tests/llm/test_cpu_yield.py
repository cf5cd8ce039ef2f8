"""The LLM worker steps aside while the machine is busy (``services.llm_worker.cpu_yield``)
and lowers its own scheduling group (``services.llm_worker.priority``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.llm_worker.cpu_yield import CpuYield, busy_seconds
from services.llm_worker.priority import lower_session_group


class _Machine:
    """A fake clock and CPU counters: ``run(seconds, others)`` advances them."""

    def __init__(self) -> None:
        self.now = 100.0
        self.machine = 0.0  # busy CPU seconds of the whole machine
        self.own = 0.0  # of this process
        self.others_cores = 0.0  # what the others use while we sleep
        self.slept: list[float] = []

    def run(self, seconds: float, others_cores: float) -> None:
        """This process computes for ``seconds`` while others use ``others_cores``."""
        self.now += seconds
        self.own += seconds
        self.machine += seconds * (1 + others_cores)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.machine += seconds * self.others_cores

    def gate(self, **kwargs: float) -> CpuYield:
        return CpuYield(
            machine_busy_s=lambda: self.machine,
            own_busy_s=lambda: self.own,
            clock=lambda: self.now,
            sleep=self.sleep,
            **kwargs,
        )


def _turning_busy(m: _Machine, **kwargs: float) -> CpuYield:
    """A gate that has had its first look, while the hot path starts: others use 1.5 cores."""
    gate = m.gate(busy_cores=0.5, window_s=0.1, pause_s=0.1, **kwargs)
    gate()
    m.slept.clear()
    m.run(0.2, others_cores=1.5)
    return gate


def test_a_calm_machine_costs_one_look_and_then_no_pause() -> None:
    m = _Machine()
    gate = m.gate(busy_cores=0.5, window_s=0.1, pause_s=0.1)
    gate()  # first call: one window to look at the machine
    assert m.slept == [0.1]
    for _ in range(20):
        m.run(0.05, others_cores=0.2)
        gate()
    assert m.slept == [0.1]  # never paused again
    assert gate.pauses == 0


def test_a_busy_machine_pauses_the_model_until_it_is_calm_again() -> None:
    m = _Machine()
    gate = _turning_busy(m, max_pause_s=2.0)
    m.others_cores = 1.5
    gate()
    assert m.slept == [0.1] * 20  # paused the longest a step may, measuring as it slept
    m.slept.clear()
    m.others_cores = 0.1  # the burst is over
    m.run(0.2, others_cores=1.5)
    gate()
    assert m.slept == [0.1] * 5  # calm for calm_s (0.5 s) in a row: go on
    assert gate.pauses == 25
    assert gate.paused_s == pytest.approx(2.5)


def test_one_calm_nap_between_bursts_does_not_end_the_pause() -> None:
    m = _Machine()
    gate = _turning_busy(m, calm_s=0.3)
    flicker = iter([1.5, 0.0, 1.5, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 1.5])

    def sleep(seconds: float) -> None:  # the others' load changes from nap to nap
        m.others_cores = next(flicker)
        _Machine.sleep(m, seconds)

    gate.sleep = sleep
    gate(m.now + 5.0)
    assert gate.pauses == 9  # it went on only after three calm naps in a row


def test_with_a_deadline_a_busy_machine_pauses_until_it_and_never_past_it() -> None:
    m = _Machine()
    gate = _turning_busy(m, max_pause_s=2.0)
    m.others_cores = 1.5  # busy from here on
    deadline = m.now + 4.55  # further than max_pause_s: the deadline decides
    gate(deadline)
    assert m.now == pytest.approx(deadline)  # ... and the pause ends exactly there
    assert len(m.slept) == 46 and m.slept[-1] == pytest.approx(0.05)
    m.slept.clear()
    gate(deadline)  # already late: no pause at all (the engine then computes nothing)
    assert m.slept == []


def test_right_after_a_pause_that_reached_its_deadline_the_next_request_waits_too() -> None:
    m = _Machine()
    gate = _turning_busy(m)
    m.others_cores = 1.5
    gate(m.now + 1.0)  # paused to the deadline: the request gets its template
    m.slept.clear()
    gate(m.now + 1.0)  # the next request, too soon to measure: still busy, so it waits
    assert sum(m.slept) == pytest.approx(1.0)
    m.slept.clear()
    m.others_cores = 0.0
    m.run(0.15, others_cores=0.0)  # one calm window after a busy verdict is not enough
    gate(m.now + 5.0)
    assert m.slept == [0.1] * 5


def test_with_a_deadline_a_calm_machine_still_ends_the_pause_at_once() -> None:
    m = _Machine()
    gate = _turning_busy(m)
    m.others_cores = 0.1  # the burst is over while it sleeps
    gate(m.now + 5.0)
    assert m.slept == [0.1] * 5  # calm for calm_s, long before the deadline


def test_a_stale_measurement_is_not_trusted() -> None:
    m = _Machine()
    gate = m.gate(busy_cores=0.5, window_s=0.1, pause_s=0.1, stale_s=1.0)
    gate()
    m.run(0.05, others_cores=0.0)
    gate()
    m.slept.clear()
    m.now += 30.0  # idle for half a minute, calm all along ...
    m.others_cores = 1.8  # ... but busy right now
    gate()
    assert m.slept[0] == 0.1 and len(m.slept) > 1  # looked first, then paused


def test_without_proc_stat_the_model_never_pauses(tmp_path: Path) -> None:
    missing = tmp_path / "stat"
    gate = CpuYield(machine_busy_s=lambda: busy_seconds(missing), sleep=lambda s: None)
    for _ in range(3):
        gate()
    assert gate.pauses == 0


def test_this_machine_s_busy_time_grows_with_work() -> None:
    before = busy_seconds()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    assert busy_seconds() - before >= 0.2  # tick-granular, and other processes only add


def test_a_real_busy_process_makes_the_model_pause() -> None:
    """Another process spinning on a core reads as busy (calm is the fake machine's to show:
    other tests may run beside this one)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        gate = CpuYield(busy_cores=0.5, window_s=0.2, pause_s=0.2, max_pause_s=0.6, sleep=sleep)
        time.sleep(0.3)
        gate()
        assert gate.pauses >= 1 and slept[0] == 0.2  # looked, then paused at least once
    finally:
        spinner.kill()
        spinner.wait()


_LOWER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from services.llm_worker.priority import lower_session_group
    print(lower_session_group())
    print(Path("/proc/self/autogroup").read_text().strip())
    """
)


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="kernel without autogroup")
def test_a_session_leader_lowers_its_own_autogroup_and_nobody_else_s() -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    led = subprocess.run(
        [sys.executable, "-c", _LOWER], env=env, start_new_session=True,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    said, group = led.stdout.splitlines()
    assert said == "autogroup nice 19" and group.endswith("nice 19")

    ours = Path("/proc/self/autogroup").read_text()
    followed = subprocess.run(
        [sys.executable, "-c", _LOWER], env=env, capture_output=True, text=True, check=True
    )
    said, group = followed.stdout.splitlines()
    assert said.startswith("autogroup left as is (not a session leader")
    assert Path("/proc/self/autogroup").read_text() == ours  # the test's group unchanged
    # Whether or not pytest leads its session, a missing file is never reported as done.
    assert lower_session_group(Path("/nonexistent/autogroup")) != "autogroup nice 19"
