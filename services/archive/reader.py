"""Read the decision log back as DataFrames (for retraining and the drift report).

Decisions come back in the decision-log frame layout of ``models.decision_log``:
the decision's scalar fields, with feature columns under their own names
(``feature.amount`` -> ``amount``). List columns (reasons, shadow rules, tags)
are not read: training has no use for them. Repeats are *not* removed here
(that is the snapshot's job, with its stated policy); files are read in the
order they were archived.

With ``until_ms``, partitions of later days are skipped without being opened
(decisions by event day, labels by the day they became known).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.archive.exceptions import ArchiveError
from services.archive.layout import FEATURE_PREFIX, Kind, is_part_file, partition_day

__all__ = ["DecisionLog", "read_decision_log"]

_LABEL_COLUMNS = {
    "tx_id": pa.string(),
    "is_fraud": pa.bool_(),
    "source": pa.string(),
    "known_at_ms": pa.int64(),
}


@dataclass(frozen=True)
class DecisionLog:
    decisions: pd.DataFrame
    labels: pd.DataFrame
    decision_files: int
    label_files: int


def read_decision_log(root: Path, *, until_ms: int | None = None) -> DecisionLog:
    """Every decision and label archived under ``root`` (days after ``until_ms`` skipped)."""
    if not (root / "decisions").is_dir():
        raise ArchiveError(
            f"no decision log at {root} (is `fraudstream run archiver` running, "
            "and does --log-dir / FRAUDSTREAM_RETRAIN__DECISION_LOG_DIR point at its directory?)"
        )
    last_day = None if until_ms is None else _day(until_ms)
    decision_files = _files(root, "decisions", last_day)
    label_files = _files(root, "labels", last_day)
    if not decision_files:
        raise ArchiveError(f"the decision log at {root} has no decisions yet")
    decisions = _read(decision_files).to_pandas()
    decisions = decisions.rename(
        columns={c: c[len(FEATURE_PREFIX) :] for c in decisions.columns if _is_feature(c)}
    )
    if decisions.columns.duplicated().any():
        clash = decisions.columns[decisions.columns.duplicated()][0]
        raise ArchiveError(f"a feature is named like a decision field: {clash!r}")
    if label_files:
        labels = _read(label_files).select(list(_LABEL_COLUMNS)).to_pandas()
    else:
        labels = pa.schema(_LABEL_COLUMNS).empty_table().to_pandas()
    return DecisionLog(decisions, labels, len(decision_files), len(label_files))


def _files(root: Path, kind: Kind, last_day: dt.date | None) -> list[Path]:
    directory = root / kind
    if not directory.is_dir():
        return []
    found = []
    for partition in sorted(directory.iterdir()):
        day = partition_day(partition)
        if day is None or (last_day is not None and day > last_day):
            continue
        found += [path for path in partition.iterdir() if is_part_file(path)]
    return sorted(found, key=lambda path: path.name)


def _read(files: list[Path]) -> pa.Table:
    tables = []
    for path in files:
        try:
            schema = pq.read_schema(path)
            columns = [f.name for f in schema if not pa.types.is_list(f.type)]
            tables.append(pq.read_table(path, columns=columns))
        except (OSError, pa.ArrowException) as exc:
            raise ArchiveError(f"cannot read {path}: {exc}") from exc
    # Files of different days may carry different feature sets: missing ones read as null.
    return pa.concat_tables(tables, promote_options="default")


def _is_feature(column: str) -> bool:
    return column.startswith(FEATURE_PREFIX)


def _day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()
