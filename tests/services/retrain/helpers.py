"""Helpers of the retraining tests (plain code; the fixtures are in ``log_fixtures``)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.events import Decision, Label
from services.archive.writer import LogWriter, Provenance, decisions_table, labels_table

__all__ = ["ArchivedLog", "copy_log", "write_log"]


@dataclass(frozen=True)
class ArchivedLog:
    root: Path
    decisions: int
    #: Decisions archived twice (the redelivered batches).
    repeated: int
    labels: int
    fraud: int


def write_log(
    root: Path, decisions: Sequence[Decision], labels: Sequence[Label], *, offset: int = 0
) -> None:
    """Append ``decisions`` and ``labels`` with the archiver's writer (one file per day)."""
    writer = LogWriter(root)
    source = [Provenance("in-process", 0, offset + i) for i in range(len(decisions))]
    writer.append(
        "decisions", decisions_table(list(zip(decisions, source, strict=True)), 0), "event_time_ms"
    )
    source = [Provenance("in-process", 1, offset + i) for i in range(len(labels))]
    writer.append("labels", labels_table(list(zip(labels, source, strict=True)), 0), "known_at_ms")


def copy_log(log: ArchivedLog, destination: Path) -> Path:
    shutil.copytree(log.root, destination)
    return destination
