"""The model thread: a bounded request queue, batching by task, a deadline per request.

The Kafka loop submits requests and waits on their futures (each at most
until its own deadline); one daemon thread owns the engine and serves the
queue:

* a request that does not fit (``queue_limit`` waiting) is refused at once:
  ``submit`` returns None and the caller writes its fallback;
* the thread takes the oldest request, then up to ``batch_size - 1`` more of
  the same task that arrive within ``max_wait_ms``, and runs them as one
  batch (one adapter switch per batch);
* a request whose deadline passed, or whose caller gave up on it, is never
  started (``RequestExpired``), and the model stops generating when the
  batch's last deadline passes (an answer finished late is never delivered,
  ``RequestExpired`` too), so a slow spell does not snowball;
* an exception inside the engine fails that batch's futures, not the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, Protocol

from models.llm.analysis import MessageReading
from models.llm.exceptions import DeadlinePassed
from models.llm.facts import CaseFacts
from models.llm.prompts import SanitisedText

__all__ = ["ModelRunner", "Request", "RequestExpired", "TextEngine"]

log = logging.getLogger(__name__)
TaskName = Literal["explain", "analyse"]


class TextEngine(Protocol):
    """What the worker needs of ``models.llm.engine.LlmEngine``."""

    def explain(
        self, cases: Sequence[CaseFacts], *, deadline: float | None = None
    ) -> list[str]: ...

    def analyse(
        self, messages: Sequence[SanitisedText], *, deadline: float | None = None
    ) -> list[MessageReading]: ...


class RequestExpired(Exception):  # noqa: N818 - it names what happened to the request
    """The request's deadline passed before the model could start it."""


@dataclass
class Request:
    task: TaskName
    payload: CaseFacts | SanitisedText
    #: ``time.monotonic()`` after which nobody waits for the answer.
    deadline: float
    future: Future[str | MessageReading]


class ModelRunner:
    """Serves explain / analyse requests from a bounded queue on one thread."""

    def __init__(
        self,
        engine: TextEngine,
        *,
        batch_size: int = 4,
        max_wait_ms: int = 200,
        queue_limit: int = 256,
        on_batch: Callable[[TaskName, int, float], None] | None = None,
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.queue_limit = queue_limit
        self.on_batch = on_batch
        self._queue: deque[Request] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="llm-model", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the batch in progress, fail what is still queued, stop the thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._ready:
            while self._queue:
                future = self._queue.popleft().future
                # A request its caller already gave up on (timeout) is cancelled: leave it.
                if future.set_running_or_notify_cancel():
                    future.set_exception(RequestExpired("worker stopping"))

    def depth(self) -> int:
        with self._ready:
            return len(self._queue)

    def submit(
        self, task: TaskName, payload: CaseFacts | SanitisedText, deadline: float
    ) -> Future[str | MessageReading] | None:
        """Queue a request; None when the queue is full (the caller falls back at once)."""
        future: Future[str | MessageReading] = Future()
        with self._ready:
            if self._stopping or len(self._queue) >= self.queue_limit:
                return None
            self._queue.append(Request(task, payload, deadline, future))
            self._ready.notify()
        return future

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _next_batch(self) -> list[Request] | None:
        """Up to ``batch_size`` live requests of one task; None when stopping."""
        with self._ready:
            while not self._queue and not self._stopping:
                self._ready.wait()
            if self._stopping:
                return None
            first = self._queue.popleft()
            batch = [first]
            fill_until = time.monotonic() + self.max_wait_s
            while len(batch) < self.batch_size and not self._stopping:
                same = next((r for r in self._queue if r.task == first.task), None)
                if same is not None:
                    self._queue.remove(same)
                    batch.append(same)
                    continue
                remaining = fill_until - time.monotonic()
                if remaining <= 0 or self._queue:
                    break  # the wait is over, or another task is waiting: go now
                self._ready.wait(remaining)
        now = time.monotonic()
        live = []
        for request in batch:
            if not request.future.set_running_or_notify_cancel():
                continue  # the caller gave up on it
            if request.deadline <= now:
                request.future.set_exception(RequestExpired("deadline passed in the queue"))
                continue
            live.append(request)
        return live

    def _run(self, batch: list[Request]) -> None:
        task = batch[0].task
        started = time.perf_counter()
        # The model stops when the last of the batch's callers stops waiting:
        # finishing an answer past that only delays the next request.
        deadline = max(r.deadline for r in batch)
        try:
            results: list[str] | list[MessageReading]
            if task == "explain":
                cases = [r.payload for r in batch if isinstance(r.payload, CaseFacts)]
                results = self.engine.explain(cases, deadline=deadline)
            else:
                texts = [r.payload for r in batch if isinstance(r.payload, SanitisedText)]
                results = self.engine.analyse(texts, deadline=deadline)
        except DeadlinePassed:
            # Paused (``CpuYield``) until nobody waited any more: nothing was computed.
            for request in batch:
                request.future.set_exception(RequestExpired("deadline passed in the model"))
            return
        except Exception as exc:  # noqa: BLE001 - any model failure is reported per request
            log.warning("%s batch of %d failed: %s", task, len(batch), exc)
            for request in batch:
                request.future.set_exception(exc)
            return
        answers: Sequence[str | MessageReading] = results
        finished = time.monotonic()
        for request, answer in zip(batch, answers, strict=True):
            if finished > request.deadline:
                # Late, or cut short by the deadline: never an answer.
                request.future.set_exception(RequestExpired("deadline passed in the model"))
            else:
                request.future.set_result(answer)
        if self.on_batch is not None:
            self.on_batch(task, len(batch), time.perf_counter() - started)
