"""Compile the declarations into a plan: per entity, which states it updates and reads.

Both backends execute the same plan (``online/lua/apply_batch.lua`` and
``online/memory.py``), and ``derive`` reads their replies by the offsets the
plan computes here. Amounts travel as integer cents so sums are exact and do
not depend on the order of additions.

A plan is a list of entity *groups*. Each group owns one entity record (its
windows, last event, hour profile and small distinct sets, see
``online/keys.py``) and the entity's large distinct sets (sorted sets). An item
(one transaction or label) carries:

* keys: the dedup key, then per group the record key and one key per sorted set
  (``""`` when the entity is absent);
* args: ``t, value, dcount, hour, lat, lon``, then the lower bound of each
  sorted-set window (``"(t-w"``, so the script formats no number), and one
  member per distinct-set attribute (``""`` when absent). The event time and
  amount travel once, not once per state.

A reply is ``[dup_flag, *values]``, the values of each group's states in order.
"""

from __future__ import annotations

import functools
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
from feature_store.online.keys import (
    ENTITY_RECORDS,
    dedup_key,
    entity_record_key,
    in_record,
    label_dedup_key,
    state_key,
)

__all__ = [
    "ENTITY_ATTR",
    "FIXED_ARGS",
    "MEMBER_ATTR",
    "Arg",
    "CompiledPlan",
    "GroupSpec",
    "OpSpec",
    "PlannedItem",
    "cents",
    "label_plan",
    "plan_label",
    "plan_transaction",
    "transaction_plan",
]

Arg = int | str
HOUR_MS = 3_600_000
#: Per item, the arguments before the distinct-set members: t, value, dcount, hour, lat, lon.
FIXED_ARGS = 6


@dataclass(frozen=True)
class PlannedItem:
    keys: list[str]
    args: list[Arg]


@dataclass(frozen=True)
class OpSpec:
    """One state of the plan as the executors see it."""

    kind: str  # W (window update), R (window read), S (set in the record), D (sorted set), L, H
    state: State
    width: int  # values this op appends to the reply
    tag: str = ""  # the state's tag in the entity record (record states only)
    member: int = -1  # distinct sets: index of its member among the item's members

    def as_json(self, arg_index: dict[object, int]) -> dict[str, Any]:
        """The op for the script; ``arg_index``: bucket size / window -> item arg (1-based)."""
        s = self.state
        spec: dict[str, Any] = {"k": self.kind, "t": self.tag}
        if isinstance(s, Window):
            spec.update(B=s.bucket_ms, ns=list(s.windows), N=s.longest, mx=int(s.with_max))
        elif isinstance(s, DistinctSet) and self.kind == "S":
            spec.update(cap=s.cap, ws=list(s.windows_ms), m=arg_index[("member", self.member)])
        elif isinstance(s, DistinctSet):
            # Expiry is pushed back when a new member arrives or after 1/16 of it.
            spec.update(cap=s.cap, ttl=s.ttl_ms, slack=s.ttl_ms // 16)
            spec.update(wi=[arg_index[("since", w)] for w in s.windows_ms])
            spec.update(m=arg_index[("member", self.member)])
        return spec


@dataclass(frozen=True)
class GroupSpec:
    entity: str
    record_ops: tuple[OpSpec, ...]
    set_ops: tuple[OpSpec, ...]
    ttl_ms: int

    def as_json(self, arg_index: dict[object, int]) -> dict[str, Any]:
        return {
            "hs": [op.as_json(arg_index) for op in self.record_ops],
            "zs": [op.as_json(arg_index) for op in self.set_ops],
            "ttl": self.ttl_ms,
            "slack": self.ttl_ms // 16,
        }


def _width(state: State) -> int:
    if isinstance(state, Window):
        return 2 * len(state.windows) + int(state.with_max)
    if isinstance(state, DistinctSet):
        return 1 + len(state.windows_ms)
    if isinstance(state, LastEvent):
        return 6
    return 2  # HourProfile


@dataclass(frozen=True)
class CompiledPlan:
    groups: tuple[GroupSpec, ...]
    dedup_ttl_ms: int
    json: str
    offsets: dict[str, int]  # state name -> index of its first value in a reply (after dup flag)
    member_attrs: tuple[str, ...]  # the Transaction attributes the distinct sets record
    set_windows: tuple[int, ...]  # the distinct-set windows whose lower bounds each item carries
    #: The label plan: items carry their transaction's other verdict's dedup key second.
    verdicts: bool = False
    #: Per key prefix, the groups with their key halves precomputed (filled on first use).
    keyed: dict[str, list[_KeyedGroup]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, states: Sequence[tuple[str, State]], dedup_ttl_ms: int, *, verdicts: bool = False
    ) -> CompiledPlan:
        """``verdicts``: the label plan, whose items carry their transaction's other
        verdict's dedup key too, so a changed verdict corrects the one counted."""
        by_entity: dict[str, list[tuple[str, State]]] = {}
        for kind, state in states:
            by_entity.setdefault(state.entity, []).append((kind, state))
        groups, member_attrs = [], []
        for entity, entries in by_entity.items():
            layout = ENTITY_RECORDS[entity]
            record_ops, set_ops = [], []
            for kind, state in entries:
                if isinstance(state, DistinctSet):
                    # Sets over the same attribute (card id) share one member argument.
                    attr = MEMBER_ATTR[state.member]
                    if attr not in member_attrs:
                        member_attrs.append(attr)
                    member = member_attrs.index(attr)
                    if in_record(state):
                        tag = layout.tags[state.name]
                        record_ops.append(OpSpec("S", state, _width(state), tag, member=member))
                    else:
                        set_ops.append(OpSpec(kind, state, _width(state), member=member))
                else:
                    record_ops.append(OpSpec(kind, state, _width(state), layout.tags[state.name]))
            groups.append(GroupSpec(entity, tuple(record_ops), tuple(set_ops), layout.ttl_ms))
        offsets: dict[str, int] = {}
        position = 1  # reply[0] is the dup flag
        for group in groups:
            for op in (*group.record_ops, *group.set_ops):
                offsets[op.state.name] = position
                position += op.width
        windows = tuple(
            dict.fromkeys(
                w
                for g in groups
                for op in g.set_ops
                if isinstance(op.state, DistinctSet)
                for w in op.state.windows_ms
            )
        )
        # Item arguments after the fixed six, in this order (1-based positions).
        extra: list[object] = [("since", w) for w in windows]
        extra += [("member", i) for i in range(len(member_attrs))]
        arg_index = {name: FIXED_ARGS + 1 + i for i, name in enumerate(extra)}
        payload = {
            "groups": [g.as_json(arg_index) for g in groups],
            "dedup_ttl": dedup_ttl_ms,
            "nargs": FIXED_ARGS + len(extra),
            "nkeys": 1 + int(verdicts) + sum(1 + len(g.set_ops) for g in groups),
            "verdicts": int(verdicts),
        }
        text = json.dumps(payload, separators=(",", ":"))
        return cls(
            tuple(groups), dedup_ttl_ms, text, offsets, tuple(member_attrs), windows, verdicts
        )

    @property
    def member_offset(self) -> int:
        """Index of the first member in an item's args."""
        return FIXED_ARGS + len(self.set_windows)

    @property
    def ops(self) -> tuple[OpSpec, ...]:
        """Every op, in reply order."""
        return tuple(op for g in self.groups for op in (*g.record_ops, *g.set_ops))

    @functools.cached_property
    def reply_width(self) -> int:
        return 1 + sum(op.width for op in self.ops)


def transaction_plan(dedup_ttl_ms: int) -> CompiledPlan:
    states = [(_kind_of(s), s) for s in TRANSACTION_STATES] + [("R", s) for s in LABEL_STATES]
    return CompiledPlan.build(states, dedup_ttl_ms)


def label_plan(dedup_ttl_ms: int) -> CompiledPlan:
    return CompiledPlan.build([("W", s) for s in LABEL_STATES], dedup_ttl_ms, verdicts=True)


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
class _KeyedGroup:
    id_attr: str
    head: str  # "fs1:{card:"
    tail: str  # "}:e1a2b3c"
    set_tails: tuple[str, ...]  # "}:d9f8e7d" per distinct set (same head)
    absent: tuple[str, ...]  # the group's keys when the entity is absent


def _keyed_groups(plan: CompiledPlan, prefix: str) -> list[_KeyedGroup]:
    cached = plan.keyed.get(prefix)
    if cached is not None:
        return cached
    keyed = []
    for g in plan.groups:
        head, tail = entity_record_key(prefix, g.entity, "\0").split("\0")
        set_tails = tuple(state_key(prefix, op.state, "\0").split("\0")[1] for op in g.set_ops)
        absent = ("",) * (1 + len(set_tails))
        keyed.append(_KeyedGroup(ENTITY_ATTR[g.entity], head, tail, set_tails, absent))
    plan.keyed[prefix] = keyed
    return keyed


def plan_transaction(plan: CompiledPlan, prefix: str, tx: Transaction) -> PlannedItem:
    """Keys and arguments of one transaction under ``plan`` (hot path: kept lean)."""
    t = tx.event_time_ms
    keys = [dedup_key(prefix, tx.tx_id)]
    for g in _keyed_groups(plan, prefix):
        entity_id = getattr(tx, g.id_attr)
        if entity_id is None:
            keys += g.absent
            continue
        head = g.head + entity_id
        keys.append(head + g.tail)
        keys += [head + tail for tail in g.set_tails]
    located = tx.lat is not None and tx.lon is not None
    args: list[Arg] = [
        t, cents(tx.amount), 1, (t // HOUR_MS) % 24,
        repr(tx.lat) if located else "", repr(tx.lon) if located else "",
    ]  # fmt: skip
    args += [f"({t - window}" for window in plan.set_windows]
    for attr in plan.member_attrs:
        member = getattr(tx, attr)
        args.append("" if member is None else member)
    return PlannedItem(keys, args)


def plan_label(plan: CompiledPlan, prefix: str, label: Label) -> PlannedItem:
    """Keys and arguments of one label under the label plan (absent entities are skipped)."""
    keys = [
        label_dedup_key(prefix, label.tx_id, label.is_fraud),
        label_dedup_key(prefix, label.tx_id, not label.is_fraud),
    ]
    ids = {"device": label.device_id, "ip": label.ip, "merchant": label.merchant_id}
    for g in plan.groups:
        entity_id = ids.get(g.entity)
        keys.append("" if entity_id is None else entity_record_key(prefix, g.entity, entity_id))
    t = label.known_at_ms
    args: list[Arg] = [t, int(label.is_fraud), 1, 0, "", ""]
    return PlannedItem(keys, args)
