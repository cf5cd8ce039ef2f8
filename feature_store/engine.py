"""The feature engine: one code path from events to feature vectors, any backend.

``FeatureEngine.process`` takes a micro-batch of transactions, sends it to the
store in one call (one Redis round trip), and derives each vector.
``FeatureEngine.apply_labels`` feeds labels into the label-based risk state.
Both are idempotent: a redelivered transaction reads the vector it read the
first time and counts once; a redelivered label counts once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from contracts.events import Label, Transaction
from feature_store.derive import derive_batch
from feature_store.online.base import OnlineStore, Pending, Reply
from feature_store.plan import (
    PlannedItem,
    label_plan,
    plan_label,
    plan_transaction,
    transaction_plan,
)

__all__ = [
    "DEFAULT_DEDUP_TTL_MS",
    "DEFAULT_LABEL_DEDUP_TTL_MS",
    "FeatureEngine",
    "FeatureRow",
    "SentChunks",
]

#: How long a transaction id is remembered for dedup (redelivery after a crash
#: happens within minutes; a week covers replays of a day's topic too).
DEFAULT_DEDUP_TTL_MS = 7 * 86_400_000
#: A label is remembered longer than a transaction: the same transaction's label
#: can come twice far apart (an analyst's verdict, then the chargeback, which card
#: schemes allow up to 120 days later), and a second copy counted in the 30-day
#: label windows would double the transaction's weight in its merchant's risk.
DEFAULT_LABEL_DEDUP_TTL_MS = 120 * 86_400_000


@dataclass(frozen=True, slots=True)
class FeatureRow:
    """The features of one transaction, as served."""

    tx_id: str
    values: list[float]  # in FEATURE_NAMES order
    duplicate: bool  # True when this delivery was a redelivery
    cold_start: bool  # True when the card had no history before this transaction


@dataclass
class SentChunks:
    """A batch's chunks already sent to the store (``FeatureEngine.send_chunks``)."""

    transactions: Sequence[Transaction]
    sent: deque[tuple[Sequence[Transaction], Pending]]
    rest: Iterator[Sequence[Transaction]]  # chunks not sent yet (``ahead`` reached)


class FeatureEngine:
    """Computes feature vectors with ``store``; holds no state of its own."""

    def __init__(
        self,
        store: OnlineStore,
        dedup_ttl_ms: int = DEFAULT_DEDUP_TTL_MS,
        label_dedup_ttl_ms: int = DEFAULT_LABEL_DEDUP_TTL_MS,
    ) -> None:
        self.store = store
        self._tx_plan = transaction_plan(dedup_ttl_ms)
        self._label_plan = label_plan(label_dedup_ttl_ms)
        self._history_index = self._tx_plan.offsets["card_last"] + 5

    def process(self, transactions: Sequence[Transaction]) -> list[FeatureRow]:
        """Update state with ``transactions`` (in order) and return their vectors."""
        items = self._plan_items(transactions)
        return self._rows(transactions, self.store.apply(self._tx_plan, items))

    def send_chunks(
        self, transactions: Sequence[Transaction], chunk_size: int, ahead: int | None = None
    ) -> SentChunks:
        """Send ``transactions`` to the store in chunks without reading the replies.

        ``process_chunks(..., sent=)`` reads them later: the scorer sends the
        next batch's features before it finishes the current batch, so Redis
        works on them meanwhile. ``ahead`` bounds the chunks sent (default: all).
        """
        size = max(chunk_size, 1)
        chunks = (transactions[start : start + size] for start in range(0, len(transactions), size))
        limit = max(ahead, 1) if ahead is not None else len(transactions) // size + 1
        sent: deque[tuple[Sequence[Transaction], Pending]] = deque()
        for chunk in islice(chunks, limit):
            sent.append((chunk, self.store.submit(self._tx_plan, self._plan_items(chunk))))
        return SentChunks(transactions, sent, chunks)

    def process_chunks(
        self,
        transactions: Sequence[Transaction],
        chunk_size: int,
        ahead: int | None = None,
        *,
        sent: SentChunks | None = None,
    ) -> Iterator[tuple[Sequence[Transaction], list[FeatureRow]]]:
        """``process`` in chunks, sent ahead of reading them back.

        Redis works through the later chunks while the caller uses the earlier
        ones (the scorer scores them), instead of one waiting for the other.
        ``ahead`` bounds the chunks in flight (default: all of them); ``sent``
        is what ``send_chunks`` already sent for these same ``transactions``.
        Chunks are applied in order, each atomically; the vectors are those
        ``process`` gives on the whole sequence.
        """
        if sent is None or sent.transactions is not transactions:
            sent = self.send_chunks(transactions, chunk_size, ahead)
        yield from self._read_chunks(sent)

    def _read_chunks(
        self, sent_chunks: SentChunks
    ) -> Iterator[tuple[Sequence[Transaction], list[FeatureRow]]]:
        sent, chunks = sent_chunks.sent, sent_chunks.rest
        while sent:
            chunk, pending = sent.popleft()
            following = next(chunks, None)
            if following is not None:  # keep Redis busy while this chunk is used
                sent.append(
                    (following, self.store.submit(self._tx_plan, self._plan_items(following)))
                )
            yield chunk, self._rows(chunk, pending.result())

    def _plan_items(self, transactions: Sequence[Transaction]) -> list[PlannedItem]:
        prefix = self.store.key_prefix
        return [plan_transaction(self._tx_plan, prefix, tx) for tx in transactions]

    def _rows(self, transactions: Sequence[Transaction], replies: list[Reply]) -> list[FeatureRow]:
        duplicate = [reply[0] == 1 for reply in replies]
        cold = [int(reply[self._history_index]) == 0 for reply in replies]
        matrix = derive_batch(self._tx_plan, transactions, replies)
        return [
            FeatureRow(tx.tx_id, values, duplicate=dup, cold_start=is_cold)
            for tx, values, dup, is_cold in zip(
                transactions, matrix.tolist(), duplicate, cold, strict=True
            )
        ]

    def apply_labels(self, labels: Sequence[Label]) -> int:
        """Count ``labels`` into the risk state; returns how many were new (not redelivered).

        Labels without any of device / IP / merchant change nothing but are
        still recorded as seen (callers resolve entities before calling).
        """
        prefix = self.store.key_prefix
        items = [plan_label(self._label_plan, prefix, label) for label in labels]
        replies = self.store.apply(self._label_plan, items)
        return sum(1 for reply in replies if reply[0] == 0)
