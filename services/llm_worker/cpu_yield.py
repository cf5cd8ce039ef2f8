"""Step aside while the machine is busy: the model thread pauses between steps.

Why, when the worker already runs under ``SCHED_IDLE`` in a nice-19 autogroup
(``services.llm_worker.priority``): measured with ``bench e2e --llm-worker``
on two cores, the generating thread still got 30-40 % of a core, and each of
its steps streams the model's ~0.5 GB of weights through the caches and the
memory bus that the scorer, Redis and the broker share, so the scorer ran at
half speed beside it even when it had a core to itself (in-process p50
2.8 -> 5.7 ms). A scheduling class cannot fix that; not computing can.

So, like a volunteer-computing client that suspends while the computer is in
use, the model thread measures how much CPU *other* processes used (all
cores' busy time from ``/proc/stat`` minus this process' own) and, while that
is more than ``busy_cores``, sleeps between steps: ``pause_s`` at a time,
re-measuring after each sleep (while it sleeps, everything measured is the
others'), until the machine has been calm for ``calm_s`` or the request's
deadline passes (the engine then computes nothing more for it); without a
deadline, for at most ``max_pause_s``. It is also called before a generation starts (its prompt's
forward pass is the costliest step); after more than ``stale_s`` without a
call, it first looks at one ``window_s`` of the machine, as the last
measurement is too old to tell. A request that cannot finish before its
deadline this way gets the template, which is the point: the language model
never slows a decision. On a host of its own the worker never pauses.

Why not a step every ``max_pause_s`` (2 s) while the machine stays busy, as
before: at 1,000 tx/s on two cores the machine is busy all the time, so every
request timed out anyway (0 model explanations, 32 templates per 10 s phase),
and the forced steps took 8-12 % of a core; the scorer's in-process p99 beside
the worker was 1.14-1.27x of alone, above the 0.80-1.12x its do-nothing
control gives (``bench e2e --llm-worker`` / ``--control``, four rounds pooled);
pausing to the deadline: 4-7 % of a core, 0.72-1.20x.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from services.llm_worker import metrics

__all__ = ["PROC_STAT", "CpuYield", "busy_seconds"]

log = logging.getLogger(__name__)

PROC_STAT = Path("/proc/stat")
_TICKS = os.sysconf("SC_CLK_TCK")


def busy_seconds(proc_stat: Path = PROC_STAT) -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and I/O wait)."""
    with proc_stat.open() as lines:
        fields = lines.readline().split()
    if not fields or fields[0] != "cpu":
        raise ValueError(f"{proc_stat} does not start with the 'cpu' line")
    ticks = [int(x) for x in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: inside user/nice]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS


class CpuYield:
    """Called by the model between steps (``LlmEngine.between_steps``)."""

    def __init__(
        self,
        *,
        busy_cores: float = 0.5,
        window_s: float = 0.1,
        stale_s: float = 1.0,
        pause_s: float = 0.1,
        max_pause_s: float = 2.0,
        calm_s: float = 0.5,
        machine_busy_s: Callable[[], float] = busy_seconds,
        own_busy_s: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.busy_cores = busy_cores
        self.window_s = window_s
        self.stale_s = stale_s
        self.pause_s = pause_s
        self.max_pause_s = max_pause_s
        self.calm_s = calm_s
        self._machine = machine_busy_s
        self._own = own_busy_s
        self.clock = clock
        self.sleep = sleep
        self._last: tuple[float, float, float] | None = None  # clock, machine, own
        self._available = True
        self._busy = False  # the last verdict: busy until calm_s of calm was seen
        #: Pauses taken and seconds paused (the seconds are a metric too).
        self.pauses = 0
        self.paused_s = 0.0

    def __call__(self, deadline: float | None = None) -> None:
        """Pause while the machine is busy: until it is calm, or ``deadline``
        (``time.monotonic()``) passes, or without one for at most ``max_pause_s``."""
        if not self._available:
            return
        last = self._last
        if last is None or self.clock() - last[0] > self.stale_s:
            # Idle for a while (or never measured): what the machine did then says
            # nothing about now, so look for one short window before computing.
            self._others_cores(min_window_s=0.0)
            self.sleep(self.window_s)
            others = self._others_cores(min_window_s=0.0)
            busy = others is not None and others > self.busy_cores
        else:
            others = self._others_cores(min_window_s=self.window_s)
            # Too soon to measure again (None): the last verdict holds. And after a
            # busy one only calm_s of calm (the loop below) lets the model go on:
            # the next request, right after a pause that ran to its deadline, used
            # to start its prompt pass at once.
            busy = self._busy or (others is not None and others > self.busy_cores)
        self._busy = busy
        if not busy:
            return
        paused = calm = 0.0
        until = deadline if deadline is not None else self.clock() + self.max_pause_s
        while (left := until - self.clock()) > 0.001:  # (not a float's residue)
            nap = min(self.pause_s, left)  # never past the deadline
            self.sleep(nap)
            paused += nap
            self.pauses += 1
            others = self._others_cores(min_window_s=0.0)
            if others is None:
                self._busy = False  # no measurement any more: never pause again
                break
            # One calm nap is not a calm machine: between the broker's bursts a
            # busy stream reads calm for 0.1 s now and then (measured: the model
            # then computed 6-9 % of a core, for nothing, at 1,000 tx/s).
            calm = calm + nap if others <= self.busy_cores else 0.0
            if calm >= self.calm_s - 0.001:
                self._busy = False
                break
        self.paused_s += paused
        metrics.CPU_YIELD_SECONDS.inc(paused)

    def _others_cores(self, *, min_window_s: float) -> float | None:
        """Cores other processes kept busy since the last measurement (None: too soon)."""
        if not self._available:
            return None
        now = self.clock()
        last = self._last
        if last is not None and now - last[0] < min_window_s:
            return None
        try:
            machine = self._machine()
        except (OSError, ValueError) as exc:
            self._available = False  # not Linux, or no /proc: the scheduling policy alone
            log.warning("cannot measure the machine's CPU use (%s): the model will not pause", exc)
            return None
        own = self._own()
        self._last = (now, machine, own)
        if last is None or now <= last[0]:
            return None
        return max((machine - last[1]) - (own - last[2]), 0.0) / (now - last[0])
