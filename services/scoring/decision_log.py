"""Decision records in Redis: a redelivered transaction re-emits its first decision.

The feature store already makes a redelivery read the same vector; this makes
the *decision* identical too, even if the model or rules were swapped between
the two deliveries. One round trip per batch: a small script runs
``SET key value PX ttl NX GET`` for each decision, which stores ours, or returns
the decision some earlier delivery stored (which then wins, byte for byte).

One script call instead of a pipeline of one ``SET`` per decision: the client
packs and parses one command per batch, not 256 (redis-py spends ~15 µs of
Python per pipelined command; the script costs Redis ~1 µs per key). Like the
feature store's batch script, it needs the batch's keys on one Redis (see
``feature_store.online.redis``); the keys keep their hash tags for the day
they are routed per slot.

Key: ``<prefix>:{tx:<id>}:decision`` (same hash tag as the feature dedup record).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from contracts.codec import decode_as, encode
from contracts.events import Decision
from feature_store.exceptions import StoreUnavailableError

__all__ = ["DecisionRecords"]

# KEYS: one decision key per decision; ARGV: ttl (ms), then one payload per key.
# Returns, per key, false (nil: ours is stored now) or the payload stored before.
_SETTLE = """
local ttl = ARGV[1]
local earlier = {}
for i, key in ipairs(KEYS) do
  earlier[i] = redis.call('SET', key, ARGV[i + 1], 'PX', ttl, 'NX', 'GET')
end
return earlier
"""


class DecisionRecords:
    def __init__(self, client: redis.Redis, key_prefix: str, ttl_ms: int) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.ttl_ms = ttl_ms
        # redis-py loads the script on first use (and again after a SCRIPT FLUSH).
        self._settle = client.register_script(_SETTLE)

    def key(self, tx_id: str) -> str:
        return f"{self.key_prefix}:{{tx:{tx_id}}}:decision"

    def settle(self, decisions: Sequence[Decision]) -> tuple[list[Decision], int]:
        """The decisions to emit (first one wins per tx) and how many were earlier ones."""
        settled, earlier = self.settle_encoded(decisions, [encode(d) for d in decisions])
        return [decision for decision, _ in settled], earlier

    def settle_encoded(
        self, decisions: Sequence[Decision], payloads: Sequence[bytes]
    ) -> tuple[list[tuple[Decision, bytes]], int]:
        """``settle`` for decisions already encoded (``payloads[i]`` is ``encode(decisions[i])``).

        Returns each decision to emit with its bytes, so the caller produces
        them without encoding again: a decision is encoded once on the hot path.
        """
        if not decisions:
            return [], 0
        key = self.key
        keys = [key(decision.tx_id) for decision in decisions]
        try:
            previous = self._settle(keys=keys, args=[self.ttl_ms, *payloads])
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"decision records: {exc}", backend="redis") from exc
        if not isinstance(previous, list) or len(previous) != len(decisions):
            raise StoreUnavailableError(
                f"decision records: expected {len(decisions)} replies, got {previous!r:.80}",
                backend="redis",
            )
        settled: list[tuple[Decision, bytes]] = []
        earlier = 0
        for decision, payload, stored in zip(decisions, payloads, previous, strict=True):
            if stored is None:
                settled.append((decision, payload))
            else:
                first = decode_as(stored, Decision)
                settled.append((first, encode(first)))
                earlier += 1
        return settled, earlier
