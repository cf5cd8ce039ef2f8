"""The Redis key layout of the online store, in one place.

Every key starts with the layout version (``fs1``, from ``RedisSettings.key_prefix``)
and carries the entity in a hash tag, so all of one entity's state lands in one
Redis Cluster slot::

    fs1:{card:4242}:w1a2b3c      a Window       (hash: h, c<b>, s<b>, m<b>, C<n>, S<n>)
    fs1:{card:4242}:d9f8e7d      a DistinctSet  (sorted set: member -> last seen ms)
    fs1:{card:4242}:l0a1b2c      a LastEvent    (hash: t, gt, lat, lon, f, n)
    fs1:{card:4242}:h3c4d5e      an HourProfile (hash: "0".."23", n)
    fs1:{tx:T-991}:seen          dedup record   (msgpack of the first reply, with TTL)
    fs1:{tx:T-991}:label1        label dedup    (the label's verdict, 1 fraud / 0 legit)

The suffix after the entity is the declaration's ``state_suffix``: a readable
kind letter and a short hash of its parameters, so a changed definition starts
fresh state. Window fields: ``h`` is the head bucket (epoch ms // bucket_ms of the
newest event), ``c<b>``/``s<b>``/``m<b>`` count, cent sum and cent max of bucket
``b``, ``C<n>``/``S<n>`` running count and sum of the window of ``n`` buckets.
"""

from __future__ import annotations

from feature_store.definitions import State

__all__ = ["dedup_key", "label_dedup_key", "state_key"]


def state_key(prefix: str, state: State, entity_id: str) -> str:
    return f"{prefix}:{{{state.entity}:{entity_id}}}:{state.state_suffix}"


def dedup_key(prefix: str, tx_id: str) -> str:
    return f"{prefix}:{{tx:{tx_id}}}:seen"


def label_dedup_key(prefix: str, tx_id: str, is_fraud: bool) -> str:
    return f"{prefix}:{{tx:{tx_id}}}:label{int(is_fraud)}"
