"""Errors with keyword-only fields survive pickling (the LLM worker fetches adapters in a
child process, and what it raises comes back through a pipe)."""

from __future__ import annotations

import pickle

from models.exceptions import ModelNotFoundError, RegistryError
from models.llm.exceptions import AdapterError


def _round_trip(error: Exception) -> Exception:
    back: Exception = pickle.loads(pickle.dumps(error))  # noqa: S301 - our bytes, as multiprocessing
    return back


def test_registry_errors_come_back_whole() -> None:
    for error in (
        RegistryError("store is locked", action="resolve alias"),
        ModelNotFoundError("no version 7", action="download m version 7", error_code="NOT_FOUND"),
    ):
        back = _round_trip(error)
        assert isinstance(back, RegistryError) and type(back) is type(error)
        assert (back.message, back.action, back.error_code, str(back)) == (
            error.message,
            error.action,
            error.error_code,
            str(error),
        )


def test_adapter_errors_come_back_with_their_task() -> None:
    for error in (AdapterError("trained on another base model", task="explain"), AdapterError("x")):
        back = _round_trip(error)
        assert isinstance(back, AdapterError)
        assert (back.task, str(back)) == (error.task, str(error))
