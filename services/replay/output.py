"""Files a replay can leave behind: the normalised transactions, the rejected rows.

``--out FILE.parquet`` has one column per ``Transaction`` field (the names a
replay maps by default, so the file replays again with no options), plus
``is_fraud`` and ``label_known_at_ms`` when the history had labels: a public
dataset becomes a training file in the project's own schema.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.events import Label, Transaction
from services.replay.options import LABEL_KNOWN_AT_COLUMN, TRANSACTION_FIELDS
from services.replay.records import Rejection

__all__ = ["ParquetWriter", "RejectionsCsv", "TRANSACTIONS_SCHEMA"]

_TYPES = {
    "event_time_ms": pa.int64(),
    "account_created_ms": pa.int64(),
    "amount": pa.float64(),
    "lat": pa.float64(),
    "lon": pa.float64(),
}
TRANSACTIONS_SCHEMA = pa.schema(
    [pa.field(name, _TYPES.get(name, pa.string())) for name in TRANSACTION_FIELDS]
    + [pa.field("is_fraud", pa.bool_()), pa.field(LABEL_KNOWN_AT_COLUMN, pa.int64())]
)


class ParquetWriter:
    """Collects accepted transactions in event-time order; writes the file on ``close``.

    Written to a temporary name and renamed, so a failed replay never leaves a
    half-written file where a training job would pick it up.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._columns: dict[str, list[object]] = {name: [] for name in TRANSACTIONS_SCHEMA.names}
        self._labelled = False

    def add(self, transaction: Transaction, label: Label | None) -> None:
        for name in TRANSACTION_FIELDS:
            self._columns[name].append(getattr(transaction, name))
        self._columns["is_fraud"].append(label.is_fraud if label else None)
        self._columns[LABEL_KNOWN_AT_COLUMN].append(label.known_at_ms if label else None)
        self._labelled = self._labelled or label is not None

    def close(self) -> int:
        """Write the file; returns the number of rows written."""
        schema = TRANSACTIONS_SCHEMA
        columns = dict(self._columns)
        if not self._labelled:
            schema = pa.schema(
                [f for f in schema if f.name not in ("is_fraud", LABEL_KNOWN_AT_COLUMN)]
            )
            columns = {name: columns[name] for name in schema.names}
        table = pa.Table.from_pydict(columns, schema=schema)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        pq.write_table(table, partial)
        os.replace(partial, self.path)
        return int(table.num_rows)


class RejectionsCsv:
    """Every rejected row as ``row,field,problem`` (the report only shows the first few)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["row", "field", "problem"])

    def write(self, rejection: Rejection) -> None:
        self._writer.writerow([rejection.row, rejection.field or "", rejection.problem])

    def close(self) -> None:
        self._file.close()
