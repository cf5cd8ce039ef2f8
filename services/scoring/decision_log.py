"""Decision records in Redis: a redelivered transaction re-emits its first decision.

The feature store already makes a redelivery read the same vector; this makes
the *decision* identical too, even if the model or rules were swapped between
the two deliveries. One round trip per batch: a small script runs
``SET key value PX ttl NX GET`` for each decision, which stores ours, or returns
the decision some earlier delivery stored (which then wins, byte for byte).
What is stored is the decision's compact record (``compact_record``: MessagePack,
the feature vector as bare values, ~0.9 KB instead of ~2.5 KB of JSON).

``send`` and ``receive`` split the call, so the scorer can score the next
batch while Redis writes these records (``MicroBatchConsumer`` calls the
handler's ``finish``, which receives them and produces, after the next batch).
Given the feature store (``ordered=``), the call goes out on the connection of
the feature calls, so Redis answers it right after the feature call sent before
it. On a connection of its own it waited behind the *next* batch's feature
call too (Redis serves its connections in turn, not in the order calls were
sent): at full speed the scorer spent ~10 % of its time waiting there.

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
from dataclasses import dataclass
from typing import Any

import redis
from redis.connection import Connection

from contracts.codec import encode
from contracts.events import Decision
from feature_store.exceptions import FeatureStoreError, StoreUnavailableError
from feature_store.online.redis import PendingCall, RedisOnlineStore, evalsha_command
from services.scoring.compact_record import pack_decision, unpack_decision

__all__ = ["DecisionRecords", "SentRecords"]

# KEYS: one decision key per decision; ARGV: ttl (ms), then one record per key.
# Returns, per key, false (nil: ours is stored now) or the payload stored before.
_SETTLE = """
local ttl = ARGV[1]
local earlier = {}
for i, key in ipairs(KEYS) do
  earlier[i] = redis.call('SET', key, ARGV[i + 1], 'PX', ttl, 'NX', 'GET')
end
return earlier
"""


@dataclass
class SentRecords:
    """A settle call sent and not read yet (``DecisionRecords.send``)."""

    decisions: Sequence[Decision]
    payloads: Sequence[bytes]  # what is produced: each decision's JSON
    records: list[bytes]  # what is stored: each decision's compact record
    keys: list[str]
    connection: Connection | None  # sent on a connection of its own
    pending: PendingCall[Any] | None = None  # sent on the ordered connection
    # Neither: nothing was sent (empty, or it must be redone the blocking way).


class DecisionRecords:
    def __init__(
        self,
        client: redis.Redis,
        key_prefix: str,
        ttl_ms: int,
        *,
        ordered: RedisOnlineStore | None = None,
    ) -> None:
        self.client = client
        self.key_prefix = key_prefix
        self.ttl_ms = ttl_ms
        # The feature store whose connection the settle calls share (see above).
        self.ordered = ordered
        # redis-py loads the script on first use (and again after a SCRIPT FLUSH).
        self._settle = client.register_script(_SETTLE)
        self._loaded = False

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
        return self.receive(self.send(decisions, payloads))

    def send(self, decisions: Sequence[Decision], payloads: Sequence[bytes]) -> SentRecords:
        """Send the settle call for ``decisions`` without waiting for the answer."""
        key = self.key
        sent = SentRecords(
            decisions,
            payloads,
            [pack_decision(d) for d in decisions],
            [key(d.tx_id) for d in decisions],
            None,
        )
        if not decisions:
            return sent
        connection = None
        try:
            if not self._loaded:
                self.client.script_load(_SETTLE)
                self._loaded = True
            if self.ordered is not None:
                sent.pending = self._send_ordered(self.ordered, sent)
                return sent
            connection = self.client.connection_pool.get_connection()
            connection.send_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._settle.sha, len(sent.keys), *sent.keys, self.ttl_ms, *sent.records
            )
        except redis.RedisError as exc:
            if connection is not None:
                connection.disconnect()  # type: ignore[no-untyped-call]
                self.client.connection_pool.release(connection)
            raise StoreUnavailableError(f"decision records: {exc}", backend="redis") from exc
        sent.connection = connection
        return sent

    def _send_ordered(self, store: RedisOnlineStore, sent: SentRecords) -> PendingCall[Any]:
        # The raw reply as is: ``receive`` checks it, whichever way it was sent.
        command = evalsha_command(self._settle.sha, sent.keys, [self.ttl_ms, *sent.records])
        return store.submit_call(command, decode=lambda raw: raw, redo=lambda: self._blocking(sent))

    def _blocking(self, sent: SentRecords) -> Any:
        """The settle call, waited for (redis-py loads the script if Redis lost it)."""
        return self._settle(keys=sent.keys, args=[self.ttl_ms, *sent.records])

    def receive(self, sent: SentRecords) -> tuple[list[tuple[Decision, bytes]], int]:
        """The answer to ``send``: each decision to emit with its bytes, and how many
        were earlier ones."""
        decisions, payloads = sent.decisions, sent.payloads
        if not decisions:
            return [], 0
        connection, sent.connection = sent.connection, None
        pending, sent.pending = sent.pending, None
        try:
            if pending is not None:
                previous: Any = pending.result()
            elif connection is None:  # not sent: the blocking call
                previous = self._blocking(sent)
            else:
                try:
                    previous = connection.read_response()
                except redis.exceptions.NoScriptError:
                    # Redis lost its scripts: nothing ran; the blocking call reloads it.
                    self._loaded = False
                    previous = self._blocking(sent)
                except redis.RedisError:
                    connection.disconnect()  # type: ignore[no-untyped-call]
                    raise
                finally:
                    self.client.connection_pool.release(connection)
        except StoreUnavailableError:
            raise
        except (redis.RedisError, FeatureStoreError) as exc:
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
                first = unpack_decision(stored, decision)
                settled.append((first, encode(first)))
                earlier += 1
        return settled, earlier
