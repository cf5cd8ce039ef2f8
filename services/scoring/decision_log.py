"""Decision records in Redis: a redelivered transaction re-emits its first decision.

The feature store already makes a redelivery read the same vector; this makes
the *decision* identical too, even if the model or rules were swapped between
the two deliveries. One pipelined round trip per batch: ``SET key value NX GET``
stores ours, or returns the decision some earlier delivery stored (which then
wins, byte for byte).

Key: ``<prefix>:{tx:<id>}:decision`` (same hash tag as the feature dedup record).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from contracts.codec import decode_as, encode
from contracts.events import Decision
from feature_store.exceptions import StoreUnavailableError

__all__ = ["DecisionRecords"]


class DecisionRecords:
    def __init__(self, client: redis.Redis, key_prefix: str, ttl_ms: int) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.ttl_ms = ttl_ms

    def key(self, tx_id: str) -> str:
        return f"{self.key_prefix}:{{tx:{tx_id}}}:decision"

    def settle(self, decisions: Sequence[Decision]) -> tuple[list[Decision], int]:
        """The decisions to emit (first one wins per tx) and how many were earlier ones."""
        if not decisions:
            return [], 0
        pipe = self.client.pipeline(transaction=False)
        for decision in decisions:
            pipe.set(self.key(decision.tx_id), encode(decision), px=self.ttl_ms, nx=True, get=True)
        try:
            previous = pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"decision records: {exc}", backend="redis") from exc
        settled, earlier = [], 0
        for decision, stored in zip(decisions, previous, strict=True):
            if stored is None:
                settled.append(decision)
            else:
                settled.append(decode_as(stored, Decision))
                earlier += 1
        return settled, earlier
