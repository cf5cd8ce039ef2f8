"""Compile the declarations into a plan: per item, which keys and arguments each op gets.

Both backends execute the same plan (``online/lua/apply_batch.lua`` and
``online/memory.py``), and ``derive`` reads their replies by the offsets the
plan computes here. Amounts travel as integer cents so sums are exact and do
not depend on the order of additions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.events import Label, Transaction
from feature_store.definitions import (
    LABEL_STATES,
    TRANSACTION_STATES,
    DistinctSet,
    LastEvent,
    State,
    Window,
)
from feature_store.online.keys import dedup_key, label_dedup_key, state_key

__all__ = [
    "ENTITY_ATTR",
    "MEMBER_ATTR",
    "Arg",
    "CompiledPlan",
    "PlannedItem",
    "cents",
    "label_plan",
    "plan_label",
    "plan_transaction",
    "transaction_plan",
]

Arg = int | str
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class PlannedItem:
    keys: list[str]  # dedup key first, then one per op ("" = entity absent)
    args: list[Arg]


@dataclass(frozen=True)
class OpSpec:
    """One op of the plan as the executors see it."""

    kind: str  # W (window update), R (window read), D, L, H
    state: State
    width: int  # values this op appends to the reply

    def as_json(self) -> dict[str, Any]:
        s = self.state
        spec: dict[str, Any] = {"k": self.kind}
        if isinstance(s, Window):
            spec.update(
                B=s.bucket_ms, ns=list(s.windows), N=s.longest, mx=int(s.with_max), ttl=s.expiry_ms
            )
        elif isinstance(s, DistinctSet):
            spec.update(ws=list(s.windows_ms), cap=s.cap, ttl=s.ttl_ms)
        else:
            spec.update(ttl=s.ttl_ms)
        return spec


def _width(kind: str, state: State) -> int:
    if isinstance(state, Window):
        return 2 * len(state.windows) + int(state.with_max)
    if isinstance(state, DistinctSet):
        return 1 + len(state.windows_ms)
    if isinstance(state, LastEvent):
        return 6
    return 2  # HourProfile


@dataclass(frozen=True)
class CompiledPlan:
    ops: tuple[OpSpec, ...]
    dedup_ttl_ms: int
    json: str
    offsets: dict[str, int]  # state name -> index of its first value in a reply (after dup flag)
    #: Per key prefix, the ops with their key halves precomputed (filled on first use).
    keyed: dict[str, list[_KeyedOp]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, ops: Sequence[OpSpec], dedup_ttl_ms: int, mode: str) -> CompiledPlan:
        offsets: dict[str, int] = {}
        position = 1  # reply[0] is the dup flag
        for op in ops:
            offsets[op.state.name] = position
            position += op.width
        payload = {"ops": [op.as_json() for op in ops], "dedup_ttl": dedup_ttl_ms, "mode": mode}
        return cls(tuple(ops), dedup_ttl_ms, json.dumps(payload, separators=(",", ":")), offsets)

    @property
    def reply_width(self) -> int:
        return 1 + sum(op.width for op in self.ops)


def _op(kind: str, state: State) -> OpSpec:
    return OpSpec(kind, state, _width(kind, state))


def transaction_plan(dedup_ttl_ms: int) -> CompiledPlan:
    ops = [_op(_kind_of(s), s) for s in TRANSACTION_STATES]
    ops += [_op("R", s) for s in LABEL_STATES]
    return CompiledPlan.build(ops, dedup_ttl_ms, "tx")


def label_plan(dedup_ttl_ms: int) -> CompiledPlan:
    return CompiledPlan.build([_op("W", s) for s in LABEL_STATES], dedup_ttl_ms, "label")


def _kind_of(state: State) -> str:
    if isinstance(state, Window):
        return "W"
    if isinstance(state, DistinctSet):
        return "D"
    if isinstance(state, LastEvent):
        return "L"
    return "H"  # HourProfile


def cents(amount: float) -> int:
    return round(amount * 100)


# Which Transaction attribute holds each entity's id / each distinct member.
ENTITY_ATTR = {
    "card": "card_id", "customer": "customer_id", "device": "device_id",
    "ip": "ip", "merchant": "merchant_id",
}  # fmt: skip
MEMBER_ATTR = {**ENTITY_ATTR, "card": "card_id", "country": "country", "payee": "payee_id"}


@dataclass(frozen=True)
class _KeyedOp:
    kind: str
    id_attr: str
    member_attr: str | None
    head: str  # "fs1:{card:"
    tail: str  # "}:w1a2b3c"


def _keyed_ops(plan: CompiledPlan, prefix: str) -> list[_KeyedOp]:
    cached = plan.keyed.get(prefix)
    if cached is not None:
        return cached
    keyed = []
    for op in plan.ops:
        s = op.state
        member = MEMBER_ATTR[s.member] if isinstance(s, DistinctSet) else None
        probe = state_key(prefix, s, "\0")
        head, tail = probe.split("\0")
        keyed.append(_KeyedOp(op.kind, ENTITY_ATTR[s.entity], member, head, tail))
    plan.keyed[prefix] = keyed
    return keyed


def plan_transaction(plan: CompiledPlan, prefix: str, tx: Transaction) -> PlannedItem:
    """Keys and arguments of one transaction under ``plan`` (hot path: kept lean)."""
    t = tx.event_time_ms
    amount_c = cents(tx.amount)
    keys = [dedup_key(prefix, tx.tx_id)]
    args: list[Arg] = []
    for op in _keyed_ops(plan, prefix):
        entity_id = getattr(tx, op.id_attr)
        kind = op.kind
        if kind == "W":
            args += (t, amount_c, 1)
        elif kind == "D":
            member = getattr(tx, op.member_attr)  # type: ignore[arg-type]
            if member is None:
                entity_id = None
                member = ""
            args += (t, member)
        elif kind == "R":
            args.append(t)
        elif kind == "L":
            if tx.lat is not None and tx.lon is not None:
                args += (t, repr(tx.lat), repr(tx.lon))
            else:
                args += (t, "", "")
        else:
            args.append((t // HOUR_MS) % 24)
        keys.append("" if entity_id is None else op.head + entity_id + op.tail)
    return PlannedItem(keys, args)


def plan_label(plan: CompiledPlan, prefix: str, label: Label) -> PlannedItem:
    """Keys and arguments of one label under the label plan (entities must be known)."""
    keys = [label_dedup_key(prefix, label.tx_id, label.is_fraud)]
    args: list[Arg] = []
    ids = {"device": label.device_id, "ip": label.ip, "merchant": label.merchant_id}
    for op in plan.ops:
        entity_id = ids.get(op.state.entity)
        keys.append(state_key(prefix, op.state, entity_id) if entity_id is not None else "")
        args += [label.known_at_ms, int(label.is_fraud), 1]
    return PlannedItem(keys, args)
