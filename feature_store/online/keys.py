"""The Redis key layout of the online store, in one place.

Every key starts with the layout version (``fs1``, from ``RedisSettings.key_prefix``)
and carries the entity in a hash tag, so all of one entity's state lands in one
Redis Cluster slot::

    fs1:{card:4242}:e1a2b3c      the entity hash: every Window, LastEvent and
                                 HourProfile of the card, fields prefixed by a tag
    fs1:{card:4242}:d9f8e7d      a DistinctSet  (sorted set: member -> last seen ms)
    fs1:{tx:T-991}:seen2         dedup record   (the first reply as text, with TTL)
    fs1:{tx:T-991}:label1.2      label dedup    (the label's verdict, 1 fraud / 0 legit)

One hash per entity means one HMGET and one HSET per entity and transaction,
whatever the number of windows. Inside it, each state owns the fields that
start with its one-letter tag (``ENTITY_HASHES``); for a Window tagged ``a``::

    ah          head bucket (epoch ms // bucket_ms of the newest event)
    ac<b> as<b> am<b>   count, cent sum, cent max of bucket b
    ao          the occupied buckets, comma-separated (parsed only when the head moves)
    aC<n> aS<n> running count and sum of the window of n buckets; aM the max

a LastEvent ``<t>t <t>g <t>a <t>o <t>f <t>n`` (previous time, previous located
time, its latitude and longitude, first seen, count), an HourProfile ``<t>0`` ..
``<t>23`` and ``<t>n``. ``~x`` is the event time the hash's expiry was last
pushed back and ``~z<i>`` the same for the entity's i-th sorted set.

The suffix after the entity is derived from the declarations (their
``state_suffix`` and tags), so a changed definition starts fresh state instead
of misreading old state. Changing a window of an entity starts that whole
entity hash afresh; sorted sets keep their own suffix.
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
    "ENTITY_HASHES",
    "EntityHash",
    "dedup_key",
    "entity_hash_key",
    "entity_keys",
    "label_dedup_key",
    "state_key",
]

_TAGS = "abcdefghijklmnopqrstuvw"


@dataclass(frozen=True)
class EntityHash:
    """Which states share an entity's hash, their field tags, and the hash's expiry."""

    entity: Entity
    tags: dict[str, str]  # state name -> field tag
    suffix: str
    ttl_ms: int  # the longest expiry of its states


def _entity_hashes() -> dict[str, EntityHash]:
    hashes: dict[str, EntityHash] = {}
    catalogue: tuple[State, ...] = (*TRANSACTION_STATES, *LABEL_STATES)
    for entity in dict.fromkeys(s.entity for s in catalogue):
        states = [s for s in catalogue if s.entity == entity and not isinstance(s, DistinctSet)]
        if len(states) > len(_TAGS):
            raise ValueError(f"{entity}: more hash states than tags")
        tags = {s.name: _TAGS[i] for i, s in enumerate(states)}
        text = "|".join(tags[s.name] + s.state_suffix for s in states)
        suffix = "e" + hashlib.blake2s(text.encode(), digest_size=3).hexdigest()
        ttl = max(s.expiry_ms if hasattr(s, "expiry_ms") else s.ttl_ms for s in states)
        hashes[entity] = EntityHash(entity, tags, suffix, ttl)
    return hashes


#: Per entity kind, the layout of its hash (derived from the catalogue).
ENTITY_HASHES: dict[str, EntityHash] = _entity_hashes()


def entity_hash_key(prefix: str, entity: str, entity_id: str) -> str:
    return f"{prefix}:{{{entity}:{entity_id}}}:{ENTITY_HASHES[entity].suffix}"


def state_key(prefix: str, state: State, entity_id: str) -> str:
    """The key of a state kept in a key of its own (a DistinctSet's sorted set)."""
    return f"{prefix}:{{{state.entity}:{entity_id}}}:{state.state_suffix}"


def entity_keys(prefix: str, entity: str, entity_id: str) -> list[str]:
    """Every key that holds state of one entity (its hash and its sorted sets)."""
    sets = [
        state_key(prefix, s, entity_id)
        for s in TRANSACTION_STATES
        if s.entity == entity and isinstance(s, DistinctSet)
    ]
    return [entity_hash_key(prefix, entity, entity_id), *sets]


def dedup_key(prefix: str, tx_id: str) -> str:
    return f"{prefix}:{{tx:{tx_id}}}:seen2"


def label_dedup_key(prefix: str, tx_id: str, is_fraud: bool) -> str:
    return f"{prefix}:{{tx:{tx_id}}}:label{int(is_fraud)}.2"
