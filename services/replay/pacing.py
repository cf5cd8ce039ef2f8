"""Pace a replay: N times real time between event times, and/or at most R events/s.

The clock and sleep are injected so tests check the schedule without waiting.
Short waits are not slept one by one (a 10 kHz sleep loop costs more than
it paces); the schedule accumulates and is slept off once it passes
``min_sleep_s``, so the average pace holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Pacer"]


class Pacer:
    """``speed``: 0 = as fast as possible; 60 = one hour of history per minute.
    ``rate``: 0 = no cap; else at most this many sends per second (never bursts to
    catch up, unlike ``speed``, which does catch up after a slow stretch)."""

    def __init__(
        self,
        speed: float = 0.0,
        rate: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_sleep_s: float = 0.002,
    ) -> None:
        if speed < 0 or rate < 0:
            raise ValueError("speed and rate cannot be negative")
        self.speed = speed
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._min_sleep_s = min_sleep_s
        self._start_s: float | None = None
        self._first_ms: int | None = None
        self._next_slot_s = 0.0

    @property
    def active(self) -> bool:
        return self.speed > 0 or self.rate > 0

    def wait(self, stream_ms: int | None) -> None:
        """Block until the item with stream time ``stream_ms`` is due (``None``: no clock)."""
        if not self.active:
            return
        now = self._clock()
        if self._start_s is None:
            self._start_s = now
            self._next_slot_s = now
        due = now
        if self.speed > 0 and stream_ms is not None:
            if self._first_ms is None:
                self._first_ms = stream_ms
            due = max(due, self._start_s + (stream_ms - self._first_ms) / 1000.0 / self.speed)
        if self.rate > 0:
            slot = max(due, self._next_slot_s)
            self._next_slot_s = slot + 1.0 / self.rate
            due = slot
        delay = due - now
        if delay >= self._min_sleep_s:
            self._sleep(delay)
