"""The worker's adapters, fetched from the registry in another process while the model loads.

Why: resolving an alias through MLflow costs the worker ~2 s of its start
(importing MLflow, opening its store) before anything else could begin, and
importing torch, transformers and peft, then reading the base model, takes
~5 s more that never needs the adapters. In a process of its own (spawned:
the worker may already run threads, which a fork would copy mid-flight) the
fetch runs on the other core meanwhile; the engine asks for the folders once
the base is in memory.

If that process cannot run (no process can be started, it died), the
adapters are fetched here instead, as before: slower, never wrong. Errors the
fetch raises on purpose (an unknown alias, a broken registry) come back as
themselves.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType

from contracts.settings import LlmSettings, MlflowSettings
from models.llm.adapters import Task

__all__ = ["AdapterFetch", "fetch_adapters"]

log = logging.getLogger(__name__)


def fetch_adapters(
    mlflow: MlflowSettings, llm: LlmSettings, refs: Mapping[Task, str]
) -> dict[Task, Path]:
    """Each task's adapter folder for its reference (a version number or an alias)."""
    from models.llm.registry import AdapterRegistry

    registry = AdapterRegistry(mlflow, llm)
    return {task: registry.fetch(task, ref) for task, ref in refs.items()}


class AdapterFetch:
    """``with AdapterFetch(...) as fetch:`` starts the fetch; ``fetch.result()`` waits for it."""

    def __init__(self, mlflow: MlflowSettings, llm: LlmSettings, refs: Mapping[Task, str]) -> None:
        self._args = (mlflow, llm, dict(refs))
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[dict[Task, Path]] | None = None

    def __enter__(self) -> AdapterFetch:
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
            self._future = self._pool.submit(fetch_adapters, *self._args)
        except (OSError, RuntimeError) as exc:
            log.warning("adapters fetched in the worker itself (no fetch process: %s)", exc)
            self._close()
        return self

    def result(self) -> dict[Task, Path]:
        if self._future is not None:
            try:
                return self._future.result()
            except BrokenProcessPool as exc:
                log.warning("adapters fetched in the worker itself (fetch process died: %s)", exc)
        return fetch_adapters(*self._args)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        # Not waiting for the process to exit: winding down MLflow's imports took
        # it ~1 s of the worker's start. It exits by itself once told to.
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
