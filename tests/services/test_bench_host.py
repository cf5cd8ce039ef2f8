"""The host figures printed beside ``bench e2e``: CPU pressure, steal, the reference loop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.bench.host import HostSample, host_reference_ms


def test_a_phase_s_host_load_is_a_share_of_its_wall_time():
    before = HostSample(at=10.0, pressure_us=1_000_000, steal_s=5.0)
    after = HostSample(at=12.0, pressure_us=1_500_000, steal_s=5.4)
    load = before.until(after)
    assert load.cpu_pressure_pct == pytest.approx(25.0)
    assert load.steal_pct == pytest.approx(100 * 0.4 / (2.0 * (os.cpu_count() or 1)))


def test_a_kernel_that_does_not_say_gives_none_not_zero():
    load = HostSample(at=0.0, pressure_us=None, steal_s=None).until(
        HostSample(at=1.0, pressure_us=None, steal_s=None)
    )
    assert load.cpu_pressure_pct is None and load.steal_pct is None


def test_this_kernel_s_counters_are_read_and_never_go_backwards():
    first = HostSample.now()
    host_reference_ms(iterations=100_000, repeats=1)
    second = HostSample.now()
    assert (first.pressure_us is None) == (not Path("/proc/pressure/cpu").exists())
    assert first.steal_s is not None  # /proc/stat is on every Linux
    load = first.until(second)
    assert load.steal_pct is not None and load.steal_pct >= 0.0
    if first.pressure_us is not None:
        assert load.cpu_pressure_pct is not None and 0.0 <= load.cpu_pressure_pct


def test_the_reference_loop_takes_longer_for_more_work():
    short = host_reference_ms(iterations=50_000, repeats=3)
    long = host_reference_ms(iterations=2_000_000, repeats=3)
    assert 0.0 < short < long
