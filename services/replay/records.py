"""Validate normalised rows into events, and order them as a live stream would.

Each row is validated exactly as a consumer will validate it: encoded to the
wire format and decoded with ``contracts.codec.decode_as``, so every
rejection carries the same ``ContractError`` field and problem the scorer
would put on its dead-letter topic. Row numbers are 1-based data rows (row 1
is the first row after a CSV header).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import pandas as pd

from contracts.codec import decode_as, encode
from contracts.errors import ContractError
from contracts.events import Label, Transaction
from services.replay.cells import is_missing
from services.replay.normalise import KNOWN_AT, LABEL, POSITION, PROBLEM, NormalisedFrame
from services.replay.options import LABEL_KNOWN_AT_COLUMN, TRANSACTION_FIELDS

__all__ = [
    "AcceptedRow",
    "RejectedRow",
    "Rejection",
    "StreamItem",
    "interleave_labels",
    "iter_rows",
    "raw_row",
]

_CHUNK_ROWS = 50_000
_MAX_SHOWN = 80
_ENCODER = msgspec.json.Encoder(enc_hook=str)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one row was not sent: ``field`` is the JSON path (``$.amount``) when known."""

    row: int
    field: str | None
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field or '(row)'}: {self.problem}"


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    row: int
    transaction: Transaction
    label: Label | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row: int
    error: ContractError
    #: The row as it was in the file (JSON-ready), for the dead-letter topic.
    raw: dict[str, Any]

    @property
    def rejection(self) -> Rejection:
        return Rejection(self.row, self.error.field, self.error.problem)


class StreamItem(NamedTuple):
    """One thing to send. ``pace_ms`` is its stream time, ``None`` = send without waiting."""

    pace_ms: int | None
    item: AcceptedRow | RejectedRow | Label


def iter_rows(normalised: NormalisedFrame) -> Iterator[AcceptedRow | RejectedRow]:
    """Every row of the file exactly once, in event-time order, accepted or rejected."""
    frame = normalised.frame
    fields = [name for name in TRANSACTION_FIELDS if name in frame.columns]
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start : start + _CHUNK_ROWS]
        columns = [chunk[name].astype("object").tolist() for name in fields]
        extras = zip(
            chunk[POSITION].tolist(),
            chunk[LABEL].tolist(),
            chunk[KNOWN_AT].tolist(),
            chunk[PROBLEM].tolist(),
            strict=True,
        )
        for values, (position, flag, known_at, problem) in zip(
            zip(*columns, strict=True), extras, strict=True
        ):
            row = int(position) + 1
            try:
                if isinstance(problem, tuple):  # a cell that could not be read at all
                    raise ContractError(problem[1], field=problem[0], kind="Transaction")
                transaction = _transaction(fields, values)
                label = _label(transaction, flag, known_at, normalised.label_delay_ms)
            except ContractError as exc:
                yield RejectedRow(row, exc, raw_row(normalised.raw, int(position)))
            else:
                yield AcceptedRow(row, transaction, label)


def interleave_labels(rows: Iterable[AcceptedRow | RejectedRow]) -> Iterator[StreamItem]:
    """Transactions at their event time, each label at its ``known_at_ms``.

    A label known at or before a transaction's time goes out before it, as it
    would in production. Labels known after the last transaction follow it
    unpaced: waiting out a week of label delay at the end helps nobody.
    """
    pending: list[tuple[int, int, Label]] = []
    for sequence, row in enumerate(rows):
        if isinstance(row, RejectedRow):
            yield StreamItem(None, row)
            continue
        event_ms = row.transaction.event_time_ms
        while pending and pending[0][0] <= event_ms:
            known_ms, _, label = heapq.heappop(pending)
            yield StreamItem(known_ms, label)
        yield StreamItem(event_ms, row)
        if row.label is not None:
            heapq.heappush(pending, (row.label.known_at_ms, sequence, row.label))
    while pending:
        yield StreamItem(None, heapq.heappop(pending)[2])


def raw_row(raw: pd.DataFrame, position: int) -> dict[str, Any]:
    """One row of the file as JSON-ready values (missing cells become ``None``)."""
    return {str(name): _json_value(value) for name, value in raw.iloc[position].items()}


def _transaction(fields: list[str], values: tuple[Any, ...]) -> Transaction:
    payload: dict[str, Any] = {"type": "transaction"}
    for name, value in zip(fields, values, strict=True):
        # The normaliser leaves only str, int, float, None, NaN and pd.NA here.
        if value is None or value is pd.NA or value != value:
            continue
        payload[name] = value
    try:
        return decode_as(_ENCODER.encode(payload), Transaction)
    except ContractError as exc:
        # Name the offending value too: "Expected `float` > 0.0 (value: -5.0)" is fixable.
        name = (exc.field or "").removeprefix("$.")
        shown = repr(payload.get(name))
        if name in payload and name != "type" and shown not in exc.problem:
            shown = shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."
            raise ContractError(
                f"{exc.problem} (value: {shown})", field=exc.field, kind=exc.kind
            ) from exc
        raise


def _label(transaction: Transaction, flag: object, known_at: Any, delay_ms: int) -> Label | None:
    """The row's label, known at the file's time for it (``known_at``: an int, or ``<NA>``
    when the file has none), else ``delay_ms`` after the transaction."""
    if not isinstance(flag, bool):  # unlabelled row (None, or NaN after a pandas round trip)
        return None
    label = Label(
        tx_id=transaction.tx_id,
        is_fraud=flag,
        source="import",
        known_at_ms=_known_at_ms(transaction, known_at, delay_ms),
        event_time_ms=transaction.event_time_ms,
        card_id=transaction.card_id,
        device_id=transaction.device_id,
        ip=transaction.ip,
        merchant_id=transaction.merchant_id,
    )
    # Structs built in Python skip the contract's bounds: round-trip it as consumers will.
    return decode_as(encode(label), Label)


def _known_at_ms(transaction: Transaction, known_at: Any, delay_ms: int) -> int:
    if is_missing(known_at):
        return transaction.event_time_ms + delay_ms
    known_at_ms = int(known_at)
    # Checked here, not left to Label: its own check raises a bare ValueError on
    # construction, which would end the replay instead of rejecting this row.
    if known_at_ms < transaction.event_time_ms:
        raise ContractError(
            f"label known before its transaction happened ({known_at_ms} < event time "
            f"{transaction.event_time_ms})",
            field=f"$.{LABEL_KNOWN_AT_COLUMN}",
            kind="Label",
        )
    return known_at_ms


def _json_value(value: Any) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
