"""Daily and weekly rhythm: when in a day people (and bots) pay.

Profiles are weights per local hour. A simulated day is any 24-hour window
(file mode starts at midnight UTC, Kafka mode at "now"); a local time of day is
placed at the one instant in the window with that UTC time of day, so the
rhythm holds whatever the window's start, and no event leaves its window.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random

import numpy as np

__all__ = [
    "BOT_PROFILE",
    "DAYTIME_PROFILE",
    "DAY_MS",
    "HourProfile",
    "day_factor",
    "legit_profile",
    "place_in_window",
    "place_one",
]

DAY_MS = 86_400_000

# Weights per local hour 0..23: quiet nights, a lunch bump, an evening peak.
_WEEKDAY = (0.3, 0.15, 0.1, 0.08, 0.1, 0.3, 1.0, 2.4, 3.6, 4.0, 4.4, 5.2,
            6.2, 5.6, 4.8, 4.8, 5.4, 6.4, 6.6, 5.6, 4.4, 3.2, 1.8, 0.8)  # fmt: skip
# Weekends start late and spread through the afternoon.
_WEEKEND = (0.5, 0.35, 0.2, 0.12, 0.1, 0.15, 0.4, 1.0, 2.2, 3.8, 5.2, 6.2,
            6.6, 6.4, 6.2, 6.0, 5.8, 5.8, 5.6, 5.0, 4.0, 3.0, 2.0, 1.1)  # fmt: skip
# Monday .. Sunday: Friday and Saturday busiest, Sunday shops mostly closed.
_WEEKDAY_FACTOR = (0.97, 0.97, 1.0, 1.02, 1.12, 1.15, 0.72)


class HourProfile:
    """A distribution over the 86,400 seconds of a local day, from hourly weights."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        if len(weights) != 24:
            raise ValueError("an hour profile has 24 weights")
        total = sum(weights)
        self.p = np.array(weights) / total
        self._cum = list(itertools.accumulate(w / total for w in weights))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` local seconds-of-day (float)."""
        hours = rng.choice(24, size=n, p=self.p)
        return hours * 3600.0 + rng.random(n) * 3600.0

    def sample_one(self, rng: random.Random) -> float:
        hour = min(23, bisect.bisect_right(self._cum, rng.random()))
        return hour * 3600.0 + rng.random() * 3600.0


_WEEKDAY_PROFILE = HourProfile(_WEEKDAY)
_WEEKEND_PROFILE = HourProfile(_WEEKEND)
#: Bots and card testers do not sleep.
BOT_PROFILE = HourProfile((1.0,) * 24)
#: Scammers phone victims and takeovers happen while people (and call centres) are up.
DAYTIME_PROFILE = HourProfile((0.1,) * 7 + (1.0,) * 14 + (0.3,) * 3)


def _weekday(window_start_ms: int) -> int:
    return dt.datetime.fromtimestamp(window_start_ms / 1000, tz=dt.UTC).weekday()


def legit_profile(window_start_ms: int) -> HourProfile:
    """Customers' hourly rhythm for the day starting at ``window_start_ms``."""
    return _WEEKEND_PROFILE if _weekday(window_start_ms) >= 5 else _WEEKDAY_PROFILE


def day_factor(window_start_ms: int) -> float:
    """How busy this weekday is relative to an average day."""
    return _WEEKDAY_FACTOR[_weekday(window_start_ms)]


def place_in_window(
    window_start_ms: int, local_seconds: np.ndarray, utc_offset_h: np.ndarray | int
) -> np.ndarray:
    """Epoch ms in ``[window_start, window_start + 1 day)`` with the given local time of day."""
    local_ms = (local_seconds * 1000.0).astype(np.int64)
    utc_ms = np.mod(local_ms - np.int64(3_600_000) * utc_offset_h, DAY_MS)
    placed: np.ndarray = window_start_ms + np.mod(utc_ms - window_start_ms % DAY_MS, DAY_MS)
    return placed


def place_one(window_start_ms: int, local_seconds: float, utc_offset_h: int) -> int:
    """Scalar ``place_in_window`` for one event."""
    utc_ms = (int(local_seconds * 1000.0) - 3_600_000 * utc_offset_h) % DAY_MS
    return window_start_ms + (utc_ms - window_start_ms % DAY_MS) % DAY_MS
