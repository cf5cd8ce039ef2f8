"""A token bucket that paces a producer to a target rate by the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Hands out ``rate`` tokens per second, holding at most ``burst``.

    The bucket starts empty, so a run does not open with a burst. After a
    stall (a slow consumer of the generator, a GC pause) up to ``burst`` tokens
    have piled up and are spent at once: short hiccups are caught up, long ones
    are not turned into a flood.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = 0.0
        self._last = clock()

    def take(self, n: int) -> None:
        """Block until ``n`` tokens are available, then spend them."""
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.burst}")
        while True:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            # A hair of tolerance: float rounding must not turn a due wait into a
            # loop of ever smaller sleeps that never quite fill the bucket.
            if self._tokens >= n - 1e-6:
                self._tokens = max(0.0, self._tokens - n)
                return
            self._sleep((n - self._tokens) / self.rate)
