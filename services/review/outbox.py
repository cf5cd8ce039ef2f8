"""The label outbox: a verdict's label is stored with the verdict, then published.

Why an outbox: producing to Kafka inside the verdict's database transaction
cannot be atomic with it (a commit may fail after the send, or the send after
the commit). So the verdict transaction writes the label here, and
``publisher.OutboxPublisher`` sends unsent rows and stamps ``sent_at_ms`` once
the broker acknowledged them. ``tx_id`` is unique in this table, so one case
can never produce two different labels.

A crash after the broker's acknowledgement but before the stamp sends that
label again on restart: the topic is at-least-once there, and its consumers
make the effect exactly-once. The feature store counts a label once per
(tx_id, verdict) in the same atomic step that applies it (its Redis dedup
record), and the ground-truth archive keys labels by tx_id. Within one run,
the idempotent producer (``enable.idempotence``) keeps its own retries from
duplicating anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from contracts.codec import encode
from contracts.events import Label
from services.review.tables import label_outbox

__all__ = [
    "OutboxBatch",
    "PendingLabel",
    "analyst_label",
    "count_pending",
    "enqueue_label",
    "mark_sent",
    "take_pending",
]


@dataclass(frozen=True, slots=True)
class PendingLabel:
    id: int
    tx_id: str
    key: bytes
    payload: bytes


@dataclass(frozen=True)
class OutboxBatch:
    """Unsent labels, held in an open transaction: ``mark_sent`` stamps them inside it."""

    labels: list[PendingLabel]
    connection: Connection
    now_ms: Callable[[], int]

    def mark_sent(self, ids: list[int]) -> None:
        mark_sent(self.connection, ids, now_ms=self.now_ms())


def analyst_label(
    tx_id: str,
    *,
    card_id: str,
    event_time_ms: int,
    entities: tuple[str | None, str | None, str | None] | None,
    analyst: str,
    is_fraud: bool,
    note: str,
    now_ms: int,
) -> Label:
    """The label of a verdict. ``entities`` = (device, ip, merchant) of the transaction.

    Without them (the transaction never reached the store) the label is still
    ground truth, but the feature store cannot use it and dead-letters it.
    """
    device_id, ip, merchant_id = entities or (None, None, None)
    return Label(
        tx_id=tx_id,
        is_fraud=is_fraud,
        source="analyst",
        # Never "known" before the transaction itself (clock skew between services).
        known_at_ms=max(now_ms, event_time_ms),
        event_time_ms=event_time_ms,
        card_id=card_id,
        device_id=device_id,
        ip=ip,
        merchant_id=merchant_id,
        analyst=analyst,
        note=note or None,
    )


def enqueue_label(connection: Connection, label: Label, *, now_ms: int) -> None:
    """Store ``label`` for publishing, keyed by card like every label on the topic."""
    connection.execute(
        insert(label_outbox).values(
            tx_id=label.tx_id,
            key=(label.card_id or label.tx_id).encode(),
            payload=encode(label),
            created_at_ms=now_ms,
        )
    )


def take_pending(connection: Connection, limit: int) -> list[PendingLabel]:
    """The oldest unsent labels, locked against other publishers (PostgreSQL).

    ``SKIP LOCKED``: a second process publishing at the same time takes other
    rows instead of waiting for these (SQLite has one writer and ignores it).
    """
    statement = (
        select(label_outbox.c.id, label_outbox.c.tx_id, label_outbox.c.key, label_outbox.c.payload)
        .where(label_outbox.c.sent_at_ms.is_(None))
        .order_by(label_outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        PendingLabel(row.id, row.tx_id, bytes(row.key), bytes(row.payload))
        for row in connection.execute(statement)
    ]


def mark_sent(connection: Connection, ids: list[int], *, now_ms: int) -> None:
    if ids:
        connection.execute(
            update(label_outbox).where(label_outbox.c.id.in_(ids)).values(sent_at_ms=now_ms)
        )


def count_pending(connection: Connection) -> int:
    statement = select(func.count()).where(label_outbox.c.sent_at_ms.is_(None))
    return int(connection.execute(statement).scalar() or 0)
