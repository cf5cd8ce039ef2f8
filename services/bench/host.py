"""What the host itself does to a benchmark's figures, measured beside them.

This is a shared 2-core host: its speed swings 2-3x between hours, and during
``bench e2e`` the broker, Redis, the app and the benchmark's own clients want
more CPU than there is. Latency tails that come from waiting for a CPU are the
host's, not the code's; these figures say how much of that there was.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostLoad", "HostSample", "cpu_seconds", "host_reference_ms"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def host_reference_ms(iterations: int = 2_000_000, repeats: int = 3) -> float:
    """Milliseconds this host takes for a fixed pure-Python loop (the best of ``repeats``).

    Printed beside a benchmark's figures, it says whether two runs (on other
    hours or days) can be compared at all.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


@dataclass(frozen=True)
class HostLoad:
    """Shares of a phase's wall time (percent; None where the kernel does not say)."""

    #: Some runnable task was waiting for a CPU (Linux PSI, /proc/pressure/cpu "some").
    cpu_pressure_pct: float | None
    #: CPU time the hypervisor gave to other guests, of all CPUs' time (/proc/stat steal).
    steal_pct: float | None


@dataclass(frozen=True)
class HostSample:
    at: float
    pressure_us: int | None
    steal_s: float | None

    @classmethod
    def now(cls) -> HostSample:
        return cls(time.monotonic(), _pressure_total_us(), _steal_seconds())

    def until(self, later: HostSample) -> HostLoad:
        wall = max(later.at - self.at, 1e-9)
        pressure = steal = None
        if self.pressure_us is not None and later.pressure_us is not None:
            pressure = 100 * (later.pressure_us - self.pressure_us) / 1e6 / wall
        if self.steal_s is not None and later.steal_s is not None:
            steal = 100 * (later.steal_s - self.steal_s) / (wall * (os.cpu_count() or 1))
        return HostLoad(pressure, steal)


def _pressure_total_us() -> int | None:
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    total = fields.get("total")
    return int(total) if total is not None and total.isdigit() else None


def _steal_seconds() -> float | None:
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    values = line.split()
    if values[0] != "cpu" or len(values) < 9:
        return None
    return int(values[8]) / _CLOCK_TICKS


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it cannot be read)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
