"""The offline twin: point-in-time correct feature frames from history.

History (transactions, and labels with the time each became known) is
replayed in time order through the same ``FeatureEngine`` as the scorer uses,
on the memory backend. A transaction therefore sees exactly the windows, sets
and label counts that existed at its event time — labels known later (a
chargeback 30 days on) never leak into its row. Ties: a label known at the same
millisecond as a transaction counts for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from tqdm import tqdm

from contracts.errors import ContractError
from contracts.events import Label, Transaction
from feature_store.derive import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from feature_store.online.memory import MemoryOnlineStore

__all__ = ["build_feature_frame", "frame_to_labels", "frame_to_transactions", "replay_order"]

_TX_FIELDS = tuple(f for f in Transaction.__struct_fields__ if f != "v")
_LABEL_FIELDS = tuple(f for f in Label.__struct_fields__ if f != "v")
_BATCH = 512


def _integer_fields(kind: type[msgspec.Struct]) -> frozenset[str]:
    """The fields of ``kind`` that hold integers (optional ones included)."""
    info = msgspec.inspect.type_info(kind)
    found = set()
    for field in info.fields if isinstance(info, msgspec.inspect.StructType) else ():
        types = (
            field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        )
        if any(isinstance(t, msgspec.inspect.IntType) for t in types):
            found.add(field.name)
    return frozenset(found)


_INTEGERS: dict[type[msgspec.Struct], frozenset[str]] = {
    kind: _integer_fields(kind) for kind in (Transaction, Label)
}


def _records(
    frame: pd.DataFrame, fields: Sequence[str], kind: type[msgspec.Struct]
) -> list[dict[str, Any]]:
    present = [f for f in fields if f in frame.columns]
    sub = frame[present].astype(object)
    sub = sub.where(sub.notna(), None)
    records: list[dict[str, Any]] = sub.to_dict("records")
    # pandas stores an integer column with gaps (an optional time) as float64;
    # the contract wants its whole numbers back as ints (a fraction stays an error).
    floats = [f for f in present if f in _INTEGERS[kind] and pd.api.types.is_float_dtype(frame[f])]
    for record in records:
        for name in floats:
            value = record[name]
            if isinstance(value, float) and value.is_integer():
                record[name] = int(value)
    return records


def frame_to_transactions(frame: pd.DataFrame) -> list[Transaction]:
    """Validate every row into a ``Transaction``; the first bad row raises ``ContractError``."""
    out = []
    for i, rec in enumerate(_records(frame, _TX_FIELDS, Transaction)):
        try:
            out.append(msgspec.convert(rec, Transaction))
        except msgspec.ValidationError as exc:
            raise ContractError(f"row {i}: {exc}", kind="Transaction") from exc
    return out


def frame_to_labels(frame: pd.DataFrame) -> list[Label]:
    out = []
    for i, rec in enumerate(_records(frame, _LABEL_FIELDS, Label)):
        try:
            out.append(msgspec.convert(rec, Label))
        except msgspec.ValidationError as exc:
            raise ContractError(f"row {i}: {exc}", kind="Label") from exc
    return out


def _with_entities(labels: list[Label], by_tx: dict[str, Transaction]) -> list[Label]:
    """Fill the entity ids of labels from their transactions (when the label lacks them)."""
    out = []
    for label in labels:
        tx = by_tx.get(label.tx_id)
        if tx is None:
            continue  # a label for a transaction outside this history changes nothing here
        if label.device_id is None and label.ip is None and label.merchant_id is None:
            label = msgspec.structs.replace(
                label, device_id=tx.device_id, ip=tx.ip, merchant_id=tx.merchant_id
            )
        out.append(label)
    return out


def replay_order(
    txs: list[Transaction], labels: list[Label]
) -> Iterator[tuple[str, list[Transaction] | list[Label]]]:
    """Runs of transactions and labels, in time order (labels first on ties), in batches."""
    labels = sorted(labels, key=lambda lb: lb.known_at_ms)
    j = 0
    run: list[Transaction] = []
    for tx in txs:
        if j < len(labels) and labels[j].known_at_ms <= tx.event_time_ms:
            if run:
                yield "tx", run
                run = []
            start = j
            while j < len(labels) and labels[j].known_at_ms <= tx.event_time_ms:
                j += 1
            yield "label", labels[start:j]
        run.append(tx)
        if len(run) >= _BATCH:
            yield "tx", run
            run = []
    if run:
        yield "tx", run


def build_feature_frame(
    transactions: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per transaction, in event-time order: ids, ``cold_start`` and ``FEATURE_NAMES``.

    ``transactions`` has the ``Transaction`` field names as columns (extra
    columns are ignored); ``labels`` the ``Label`` field names (``tx_id``,
    ``is_fraud``, ``source``, ``known_at_ms`` at least).
    """
    ordered = transactions.sort_values("event_time_ms", kind="stable")
    txs = frame_to_transactions(ordered)
    label_list = frame_to_labels(labels) if labels is not None and len(labels) else []
    label_list = _with_entities(label_list, {tx.tx_id: tx for tx in txs})

    engine = FeatureEngine(MemoryOnlineStore())
    values = np.empty((len(txs), len(FEATURE_NAMES)), dtype=np.float64)
    cold = np.zeros(len(txs), dtype=bool)
    duplicate = np.zeros(len(txs), dtype=bool)
    row = 0
    with tqdm(total=len(txs), desc="features", unit="tx", disable=not progress) as bar:
        for kind, run in replay_order(txs, label_list):
            if kind == "label":
                engine.apply_labels(run)  # type: ignore[arg-type]
                continue
            for feature_row in engine.process(run):  # type: ignore[arg-type]
                values[row] = feature_row.values
                cold[row] = feature_row.cold_start
                duplicate[row] = feature_row.duplicate
                row += 1
            bar.update(len(run))
    frame = pd.DataFrame(values, columns=list(FEATURE_NAMES))
    frame.insert(0, "tx_id", [tx.tx_id for tx in txs])
    frame.insert(1, "event_time_ms", np.array([tx.event_time_ms for tx in txs], dtype=np.int64))
    frame.insert(2, "card_id", [tx.card_id for tx in txs])
    frame.insert(3, "customer_id", [tx.customer_id for tx in txs])
    frame.insert(4, "cold_start", cold)
    # A repeated tx_id in history is one transaction: keep its first row only.
    return frame.loc[~duplicate].reset_index(drop=True)
