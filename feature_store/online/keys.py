"""The Redis key layout of the online store, in one place.

Every key starts with the layout version (``fs1``, from ``RedisSettings.key_prefix``)
and carries the entity in a hash tag, so all of one entity's state lands in one
Redis Cluster slot::

    fs1:{card:4242}:b1a2b3c      the entity record: every Window, LastEvent and
                                 HourProfile of the card, one MessagePack string
    fs1:{ip:10.0.0.1}:d9f8e7d    a large DistinctSet (sorted set: member -> last seen ms)
    fs1:{tx:T-991}:seen3         dedup record   (the first reply as text, with TTL)
    fs1:{tx:T-991}:label1.v-9bb064  label dedup (per verdict, 1 fraud / 0 legit):
                                 "<ms counted at>:<ms known at>:<reply>"; a label
                                 of the other verdict known later corrects this one
                                 and deletes it

One string per entity means one GET and one SET per entity and transaction,
whatever the number of windows, and no field names for the script to build.
The record is a MessagePack map from each state's one-letter tag
(``ENTITY_RECORDS``) to that state's numbers:

    Window      [h, hc, hs, hm, older, M, C1, S1, C2, S2, ...]
                head bucket (epoch ms // bucket_ms of the newest event), the
                head bucket's count, cent sum and cent max, the other occupied
                buckets (a MessagePack string of [b, c, s, m, ...] ascending,
                unpacked only when the head moves or a late event arrives), the
                max over the retained buckets, and the running count and sum of
                each window
    LastEvent   [previous time, previous located time, its lat, its lon,
                first seen, count]  (-1 / "" when unknown)
    HourProfile [count at hour 0, ..., count at hour 23, total]
    DistinctSet [member, last seen, member, last seen, ...] for the small
                sets (cap <= RECORD_SET_CAP: a card's devices, IPs, countries,
                merchants, a customer's payees), which a linear scan in Lua
                serves faster than three sorted-set commands; the large ones
                (cards per device, IP, merchant) stay sorted sets.

``~<i>`` is the event time the expiry of the entity's i-th sorted set was last
pushed back; the record itself gets its expiry with every SET.

The suffix after the entity is derived from the declarations (their
``state_suffix`` and tags), so a changed definition starts fresh state instead
of misreading old state. Changing a window of an entity starts that whole
entity record afresh; sorted sets keep their own suffix. The record's suffix
starts with ``b`` (the hash-per-entity layout before it used ``e``), so a store
upgraded in place never reads an old hash as a record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from feature_store.definitions import (
    LABEL_STATES,
    TRANSACTION_STATES,
    DistinctSet,
    Entity,
    State,
)

__all__ = [
    "ENTITY_RECORDS",
    "RECORD_SET_CAP",
    "EntityRecord",
    "dedup_key",
    "entity_record_key",
    "entity_keys",
    "in_record",
    "label_dedup_key",
    "state_key",
]

_TAGS = "abcdefghijklmnopqrstuvw"

#: Distinct sets up to this cap live inside the entity record; larger ones are
#: sorted sets of their own (a scan of 128 members still beats 3 commands; a
#: merchant's 1,000 cards would not).
RECORD_SET_CAP = 128


def in_record(state: State) -> bool:
    """Whether ``state`` is kept inside its entity's record (else a key of its own)."""
    return not isinstance(state, DistinctSet) or state.cap <= RECORD_SET_CAP


@dataclass(frozen=True)
class EntityRecord:
    """Which states share an entity's record, their tags, and the record's expiry."""

    entity: Entity
    tags: dict[str, str]  # state name -> field tag
    suffix: str
    ttl_ms: int  # the longest expiry of its states


def _entity_records() -> dict[str, EntityRecord]:
    records: dict[str, EntityRecord] = {}
    catalogue: tuple[State, ...] = (*TRANSACTION_STATES, *LABEL_STATES)
    for entity in dict.fromkeys(s.entity for s in catalogue):
        states = [s for s in catalogue if s.entity == entity and in_record(s)]
        if len(states) > len(_TAGS):
            raise ValueError(f"{entity}: more record states than tags")
        tags = {s.name: _TAGS[i] for i, s in enumerate(states)}
        text = "|".join(tags[s.name] + s.state_suffix for s in states)
        suffix = "b" + hashlib.blake2s(text.encode(), digest_size=3).hexdigest()
        ttl = max(s.expiry_ms if hasattr(s, "expiry_ms") else s.ttl_ms for s in states)
        records[entity] = EntityRecord(entity, tags, suffix, ttl)
    return records


#: Per entity kind, the layout of its record (derived from the catalogue).
ENTITY_RECORDS: dict[str, EntityRecord] = _entity_records()


def entity_record_key(prefix: str, entity: str, entity_id: str) -> str:
    return f"{prefix}:{{{entity}:{entity_id}}}:{ENTITY_RECORDS[entity].suffix}"


def state_key(prefix: str, state: State, entity_id: str) -> str:
    """The key of a state kept in a key of its own (a DistinctSet's sorted set)."""
    return f"{prefix}:{{{state.entity}:{entity_id}}}:{state.state_suffix}"


def entity_keys(prefix: str, entity: str, entity_id: str) -> list[str]:
    """Every key that holds state of one entity (its record and its sorted sets)."""
    sets = [
        state_key(prefix, s, entity_id)
        for s in TRANSACTION_STATES
        if s.entity == entity and not in_record(s)
    ]
    return [entity_record_key(prefix, entity, entity_id), *sets]


def reply_layout(updated: tuple[State, ...], read: tuple[State, ...] = ()) -> str:
    """A digest of the reply the script gives for a plan that updates ``updated``
    and reads ``read``: their order and every parameter of each (its ``repr``:
    the reply's width follows from some, such as a distinct set's look-backs,
    that its ``state_suffix`` leaves out). The plan's code (plan.py) shapes the
    reply too: a change there that moves values must rename the suffixes below."""
    roles = (("u", updated), ("r", read))
    text = "|".join(f"{role}:{in_record(s)}:{s!r}" for role, states in roles for s in states)
    return hashlib.blake2s(text.encode(), digest_size=3).hexdigest()


def _dedup_suffix(layout: str, named: dict[str, str], stem: str) -> str:
    # A dedup record holds its first reply, returned as is on redelivery: a
    # release whose replies are laid out differently must not read it (the
    # decoder would refuse its width, and the consumer stop on every
    # redelivered transaction), so the key follows the layout. The layouts from
    # before this rule keep the suffix they had: upgrading changes no key.
    return named.get(layout, f"{stem}-{layout}")


# seen3: the record layout's replies (seen2 was the hash layout's). A label's
# record also holds when it was counted and known ("<ms>:<ms>:<reply>", so a
# changed verdict can correct it where it was counted, and an older one redelivered
# is told apart): ".v-" + layout; ".2" held the reply alone.
_SEEN = _dedup_suffix(reply_layout(TRANSACTION_STATES, LABEL_STATES), {"c87221": ":seen3"}, ":seen")
_LABEL = _dedup_suffix(reply_layout(LABEL_STATES), {}, ".v")


def dedup_key(prefix: str, tx_id: str) -> str:
    return f"{prefix}:{{tx:{tx_id}}}{_SEEN}"


def label_dedup_key(prefix: str, tx_id: str, is_fraud: bool) -> str:
    return f"{prefix}:{{tx:{tx_id}}}:label{int(is_fraud)}{_LABEL}"
