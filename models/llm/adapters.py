"""Adapter folders on disk: peft's files plus ``fraudstream_adapter.json`` (what it is, how good).

The metadata says which task the adapter serves, which base model (GGUF
digest) and prompt layout it was trained for, its training parameters and its
evaluation metrics. Loading checks the first three, so an adapter never runs
on a base or prompt it was not trained for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import msgspec

from models.llm.exceptions import AdapterError

__all__ = ["ADAPTER_META", "TASKS", "AdapterMeta", "Task", "read_meta", "write_meta"]

Task = Literal["explain", "analyse"]
TASKS: tuple[Task, ...] = ("explain", "analyse")
ADAPTER_META = "fraudstream_adapter.json"


class AdapterMeta(msgspec.Struct, kw_only=True):
    task: Task
    base_sha256: str
    prompt_version: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    #: Token ids of the training answers: the adapter's output vocabulary for
    #: explanations and message summaries, see ``models.llm.vocab``. Empty (or an
    #: analyse adapter trained before summaries were restricted): every token.
    vocabulary: list[int] = msgspec.field(default_factory=list)
    #: Registry version once registered ("" for a local, unregistered adapter).
    version: str = ""
    created_at: str = ""


def write_meta(directory: Path, meta: AdapterMeta) -> None:
    data = msgspec.to_builtins(meta)
    (directory / ADAPTER_META).write_text(json.dumps(data, indent=2), encoding="utf-8")


def read_meta(directory: Path, *, task: Task | None = None) -> AdapterMeta:
    """The adapter's metadata; ``AdapterError`` when missing, corrupt or for another task."""
    path = directory / ADAPTER_META
    try:
        meta = msgspec.json.decode(path.read_bytes(), type=AdapterMeta)
    except FileNotFoundError as exc:
        raise AdapterError(f"{path} is missing: not a fraudstream adapter", task=task) from exc
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise AdapterError(f"cannot read {path}: {exc}", task=task) from exc
    if task is not None and meta.task != task:
        raise AdapterError(f"{directory} holds a {meta.task} adapter", task=task)
    return meta
