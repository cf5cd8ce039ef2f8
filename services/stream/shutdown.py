"""Graceful stop: SIGTERM / SIGINT set a flag; the loop finishes its batch, commits, exits."""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["StopFlag", "install_signal_handlers"]


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


def install_signal_handlers(flag: StopFlag) -> None:
    """Route SIGTERM and SIGINT to ``flag`` (main thread only, as Python requires)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        flag.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
