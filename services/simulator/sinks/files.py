"""Write a simulation to Parquet or CSV files, with the ground truth next to the events.

Output directory::

    transactions.<fmt>  every Transaction field + is_fraud, scenario, episode_id
    messages.<fmt>      every UserMessage field + category, scenario, episode_id
    labels.<fmt>        every Label field
    summary.json        the caller's, handed over with ``FileSink.add_text``
                        (see services.cli.simulate_cmd)

Every file is written under a hidden temporary name beside its final one
(``.transactions.parquet.partial``) and renamed into place only when the run
closes cleanly: a failed, interrupted or killed run leaves the previous run's
files, summary included, as they were. A killed run leaves its ``.partial``
files behind; the next run into the directory overwrites them.

Columns follow the contract structs (``contracts.events``) field by field, so
a schema change there shows up here without editing this module. Rows are
buffered and written in batches, so memory stays flat however long the run.
"""

from __future__ import annotations

import contextlib
import os
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
_FILE_STEM: dict[type[Any], str] = {
    Transaction: "transactions",
    UserMessage: "messages",
    Label: "labels",
}
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


def _partial_path(path: Path) -> Path:
    """Where ``path`` is written until the run ends. In the same directory, so the final
    rename is atomic; hidden, so ``*.parquet`` globs and Arrow's dataset discovery skip it."""
    return path.with_name(f".{path.name}.partial")


def _put_in_place(partial: Path, path: Path) -> None:
    # fsync first: after a power cut a renamed file must hold its data, not zero bytes.
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, path)


class _Table:
    def __init__(self, path: Path, kind: type[Any], fmt: FileFormat) -> None:
        self.path = path
        self.partial = _partial_path(path)
        self.schema = arrow_schema(kind)
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self.partial, self.schema, compression="zstd")
        else:
            self._writer = pa_csv.CSVWriter(self.partial, self.schema)

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
        """Flush and finish the file, still under its temporary name."""
        self.flush()
        self._writer.close()

    def discard(self) -> None:
        # The run failed already: an error closing a half-written file changes nothing.
        with contextlib.suppress(OSError, pa.ArrowException):
            self._writer.close()
        self.partial.unlink(missing_ok=True)


class FileSink:
    """Collects ``SimulatedEvent`` into three files; use as a context manager.

    Nothing replaces the directory's previous files until ``close`` (a clean exit
    from the ``with`` block); an exception in the block discards this run's files.
    """

    def __init__(self, out_dir: Path, fmt: FileFormat = "parquet", batch_rows: int = 50_000):
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.batch_rows = batch_rows
        self._texts: dict[Path, str] = {}
        self._finished = False
        self._tables: dict[type[Any], _Table] = {}
        try:
            for kind, stem in _FILE_STEM.items():
                self._tables[kind] = _Table(out_dir / f"{stem}.{fmt}", kind, fmt)
        except BaseException:
            self.abort()
            raise

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

    def add_text(self, name: str, text: str) -> None:
        """One more file for the directory (``summary.json``), put in place with the others
        by ``close`` so that it never sits beside another run's files."""
        self._texts[self.out_dir / name] = text

    def close(self) -> dict[str, Path]:
        """Finish every file and rename them all into place; the paths written, by kind."""
        if self._finished:
            return self._paths()
        try:
            for table in self._tables.values():
                table.close()
            for path, text in self._texts.items():
                _partial_path(path).write_text(text, encoding="utf-8")
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self._publish()
        return self._paths()

    def abort(self) -> None:
        """Delete this run's temporary files; the directory's previous files stay as they were."""
        if self._finished:
            return
        self._finished = True
        for table in self._tables.values():
            table.discard()
        for path in self._texts:
            _partial_path(path).unlink(missing_ok=True)

    def _publish(self) -> None:
        # Each rename is atomic, the set is not. The old summary goes first and the new
        # one comes last, so a run stopped inside this loop leaves no summary beside
        # files it does not describe.
        for path in self._texts:
            path.unlink(missing_ok=True)
        for table in self._tables.values():
            _put_in_place(table.partial, table.path)
        for path in self._texts:
            _put_in_place(_partial_path(path), path)

    def _paths(self) -> dict[str, Path]:
        return {_FILE_STEM[kind]: table.path for kind, table in self._tables.items()}

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
