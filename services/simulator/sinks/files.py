"""Write a simulation to Parquet or CSV files, with the ground truth next to the events.

Output directory::

    transactions.<fmt>  every Transaction field + is_fraud, scenario, episode_id
    messages.<fmt>      every UserMessage field + category, scenario, episode_id
    labels.<fmt>        every Label field
    summary.json        written by the caller (see services.cli.simulate_cmd)

Columns follow the contract structs (``contracts.events``) field by field, so
a schema change there shows up here without editing this module. Rows are
buffered and written in batches, so memory stays flat however long the run.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from contracts.events import Label, Transaction, UserMessage
from services.simulator.world import SimulatedEvent

__all__ = ["FileFormat", "FileSink", "arrow_schema"]

FileFormat = Literal["parquet", "csv"]

_TRUTH: dict[type[Any], list[tuple[str, pa.DataType]]] = {
    Transaction: [("is_fraud", pa.bool_()), ("scenario", pa.string()), ("episode_id", pa.string())],
    UserMessage: [
        ("category", pa.string()),
        ("scenario", pa.string()),
        ("episode_id", pa.string()),
    ],
    Label: [],
}
_FILE_STEM = {Transaction: "transactions", UserMessage: "messages", Label: "labels"}
_ARROW_TYPES: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


def arrow_schema(kind: type[Any]) -> pa.Schema:
    """The file schema of one event kind: its contract fields (minus ``v``) + ground truth."""
    fields = [
        pa.field(f.name, _arrow_type(f.type), nullable=True)
        for f in msgspec.structs.fields(kind)
        if f.name != "v"
    ]
    fields += [pa.field(name, dtype, nullable=True) for name, dtype in _TRUTH[kind]]
    return pa.schema(fields)


def _arrow_type(annotation: Any) -> pa.DataType:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _arrow_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner)
    if origin is Literal:
        return pa.string()
    return _ARROW_TYPES[annotation]


class _Table:
    def __init__(self, path: Path, kind: type[Any], fmt: FileFormat) -> None:
        self.path = path
        self.schema = arrow_schema(kind)
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self._writer = pa_csv.CSVWriter(path, self.schema)

    def flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        arrays = [
            pa.array(column, type=field.type)
            for column, field in zip(columns, self.schema, strict=True)
        ]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.written += len(self.rows)
        self.rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()


class FileSink:
    """Collects ``SimulatedEvent`` into three files; use as a context manager."""

    def __init__(self, out_dir: Path, fmt: FileFormat = "parquet", batch_rows: int = 50_000):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.batch_rows = batch_rows
        self._tables = {
            kind: _Table(out_dir / f"{stem}.{fmt}", kind, fmt) for kind, stem in _FILE_STEM.items()
        }

    def write(self, item: SimulatedEvent) -> None:
        event = item.event
        table = self._tables[type(event)]
        values = msgspec.structs.astuple(event)[1:]  # drop the schema version
        if isinstance(event, Transaction):
            table.rows.append((*values, item.is_fraud, item.scenario, item.episode))
        elif isinstance(event, UserMessage):
            table.rows.append((*values, item.category, item.scenario, item.episode))
        else:
            table.rows.append(values)
        if len(table.rows) >= self.batch_rows:
            table.flush()

    def close(self) -> dict[str, Path]:
        """Flush and close every file; the paths written, by kind."""
        for table in self._tables.values():
            table.close()
        return {_FILE_STEM[kind]: table.path for kind, table in self._tables.items()}

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
