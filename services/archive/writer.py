"""Append decisions and labels to the decision log: one Parquet file per batch and day, atomically.

``LogWriter.append`` returns only once every file is durable: written to a
hidden temporary name in its partition directory, flushed and fsynced,
renamed into place, and the directory fsynced so the rename survives a power
cut. The archiver commits its Kafka offsets after that, never before.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.events import Decision, Label
from services.archive.layout import FEATURE_PREFIX, Kind, part_name, partition_dir
from services.simulator.sinks.files import arrow_schema

__all__ = ["LogWriter", "Provenance", "decisions_table", "labels_table"]

_DECISION_FIELDS: list[tuple[str, pa.DataType]] = [
    ("tx_id", pa.string()),
    ("card_id", pa.string()),
    ("customer_id", pa.string()),
    ("event_time_ms", pa.int64()),
    ("decided_at_ms", pa.int64()),
    ("action", pa.string()),
    ("score", pa.float64()),
    ("model_version", pa.string()),
    ("rule_set_version", pa.string()),
    ("cold_start", pa.bool_()),
    ("degraded", pa.bool_()),
    ("reasons", pa.list_(pa.string())),
    ("shadow_rules", pa.list_(pa.string())),
    ("tags", pa.list_(pa.string())),
]
_PROVENANCE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("source_topic", pa.string()),
    ("source_partition", pa.int32()),
    ("source_offset", pa.int64()),
    ("archived_at_ms", pa.int64()),
]


@dataclass(frozen=True)
class Provenance:
    """Where an archived record was read from (kept with it for audits)."""

    topic: str
    partition: int
    offset: int


def decisions_table(rows: Sequence[tuple[Decision, Provenance]], archived_at_ms: int) -> pa.Table:
    """Decisions as one table; feature columns are the union of the batch's feature names."""
    names: dict[str, None] = {}  # ordered set: the served order of the first vector first
    for decision, _ in rows:
        names.update(dict.fromkeys(decision.features))
    columns: dict[str, list[object]] = {name: [] for name, _ in _DECISION_FIELDS}
    for decision, _ in rows:
        for name, _type in _DECISION_FIELDS:
            columns[name].append(getattr(decision, name))
    fields = [pa.field(name, dtype) for name, dtype in _DECISION_FIELDS]
    arrays = [pa.array(columns[name], type=dtype) for name, dtype in _DECISION_FIELDS]
    for feature in names:
        fields.append(pa.field(FEATURE_PREFIX + feature, pa.float64()))
        arrays.append(pa.array([d.features.get(feature) for d, _ in rows], type=pa.float64()))
    fields, arrays = _with_provenance(fields, arrays, [p for _, p in rows], archived_at_ms)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def labels_table(rows: Sequence[tuple[Label, Provenance]], archived_at_ms: int) -> pa.Table:
    """Labels as one table: every ``Label`` field, then the provenance columns."""
    schema = arrow_schema(Label)
    values = [msgspec.structs.astuple(label)[1:] for label, _ in rows]  # drop ``v``
    columns = list(zip(*values, strict=True)) if values else [() for _ in schema]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    fields, arrays = _with_provenance(list(schema), arrays, [p for _, p in rows], archived_at_ms)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class LogWriter:
    """Writes tables into the decision log under ``root`` (see ``services.archive.layout``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0

    def append(self, kind: Kind, table: pa.Table, time_column: str) -> list[Path]:
        """Split ``table`` by the UTC day of ``time_column``, write one durable file per day."""
        if table.num_rows == 0:
            return []
        archived_at = int(time.time() * 1000)
        by_dir: dict[Path, list[int]] = defaultdict(list)
        for index, time_ms in enumerate(table.column(time_column).to_pylist()):
            by_dir[partition_dir(self.root, kind, int(time_ms))].append(index)
        written = []
        for directory, indices in sorted(by_dir.items()):
            part = table.take(pa.array(indices, type=pa.int64()))
            written.append(self._write(directory, part, archived_at))
        return written

    def _write(self, directory: Path, table: pa.Table, archived_at_ms: int) -> Path:
        created = not directory.is_dir()
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / part_name(archived_at_ms)
        temporary = directory / f".{final.name}.tmp"
        try:
            with temporary.open("wb") as sink:
                pq.write_table(table, sink, compression="zstd")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_dir(directory)
        if created:
            # A new day's directory must itself survive: its parent holds the entry.
            _fsync_dir(directory.parent)
            _fsync_dir(directory.parent.parent)
        self.files += 1
        self.bytes += final.stat().st_size
        return final


def _with_provenance(
    fields: list[pa.Field],
    arrays: list[pa.Array],
    sources: Sequence[Provenance],
    archived_at_ms: int,
) -> tuple[list[pa.Field], list[pa.Array]]:
    values: list[list[object]] = [
        [p.topic for p in sources],
        [p.partition for p in sources],
        [p.offset for p in sources],
        [archived_at_ms] * len(sources),
    ]
    for (name, dtype), column in zip(_PROVENANCE_FIELDS, values, strict=True):
        fields.append(pa.field(name, dtype))
        arrays.append(pa.array(column, type=dtype))
    return fields, arrays


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
