"""Where the decision log lives on disk and what its files hold.

Layout (``settings.retrain.decision_log_dir``)::

    decisions/date=YYYY-MM-DD/part-<archived_at_ms>-<random>.parquet   by the event's UTC day
    labels/date=YYYY-MM-DD/part-<archived_at_ms>-<random>.parquet      by the day it became known

One file per archived batch and day. A file appears only complete (written
as ``.part-....tmp`` next to it, fsynced, renamed); readers ignore anything
that is not ``part-*.parquet``. Partitioning decisions by event day and
labels by known day lets a reader with a cutoff skip every later day.

Decision files: the decision's fields (``tx_id``, ``card_id``, ``customer_id``,
``event_time_ms``, ``decided_at_ms``, ``action``, ``score``, ``model_version``,
``rule_set_version``, ``cold_start``, ``degraded``, ``reasons``,
``shadow_rules``, ``tags``), then one ``feature.<name>`` column per entry of
``Decision.features`` exactly as served (float64, null = missing), then where
the record came from (``source_topic``, ``source_partition``,
``source_offset``) and ``archived_at_ms``. Label files: every ``Label`` field,
then the same provenance columns.

A redelivered batch (crash between writing and committing) is archived
again: readers drop repeats by ``tx_id`` (decisions) or by the whole label.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Literal

__all__ = [
    "FEATURE_PREFIX",
    "Kind",
    "is_part_file",
    "part_name",
    "partition_day",
    "partition_dir",
]

Kind = Literal["decisions", "labels"]
#: Feature columns are namespaced so a feature can never shadow a decision field.
FEATURE_PREFIX = "feature."
_PARTITION = "date="


def partition_dir(root: Path, kind: Kind, time_ms: int) -> Path:
    """``root/kind/date=YYYY-MM-DD`` for the UTC day of ``time_ms``."""
    day = dt.datetime.fromtimestamp(time_ms / 1000, tz=dt.UTC).date()
    return root / kind / f"{_PARTITION}{day.isoformat()}"


def partition_day(directory: Path) -> dt.date | None:
    """The day a ``date=YYYY-MM-DD`` directory holds; None for anything else."""
    if not directory.name.startswith(_PARTITION):
        return None
    try:
        return dt.date.fromisoformat(directory.name[len(_PARTITION) :])
    except ValueError:
        return None


def part_name(archived_at_ms: int) -> str:
    """A new file name; sorting names sorts files by when they were archived."""
    return f"part-{archived_at_ms:013d}-{uuid.uuid4().hex[:12]}.parquet"


def is_part_file(path: Path) -> bool:
    return path.name.startswith("part-") and path.name.endswith(".parquet") and path.is_file()
