"""Keep the customers' recent activity bounded: newest N per customer, and no older than D days.

* After every ingest batch, in the same transaction, the customers that batch
  touched are cut back to their newest ``per_customer`` transactions and
  messages: bounded work per batch (the batch's customers only), index-served.
* Every so often (``prune_by_age``) rows older than ``days`` are deleted. Age
  is measured from the newest event time in the store, not the wall clock, so
  a replay of last year's data keeps its history like a live stream does.

A transaction that is a case is never pruned: the case view shows it. Nor is
one the count cap reaches before its decision said ``allow``: its case may
still be on its way (the cases topic lags the transactions topic in a burst,
or when the consumer catches up), and the verdict's label takes its device,
IP and merchant from this row; without them the label-based risk features
never learn from the verdict. Age alone removes those rows, so transactions
whose decision never comes (the scorer down, or a transaction it
dead-lettered) are bounded by ``days``, not by the count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, delete, exists, func, select

from services.review.tables import cases, message_analyses, recent_transactions, user_messages

__all__ = ["prune_by_age", "prune_customers"]

_DAY_MS = 86_400_000
# Bound parameters per IN list (SQLite's limit is far above; keeps statements small).
_CHUNK = 500


def prune_customers(connection: Connection, customers: Iterable[str], per_customer: int) -> int:
    """Cut ``customers`` back to their newest ``per_customer`` rows; returns rows deleted."""
    deleted = 0
    for chunk in _chunks(sorted(customers)):
        deleted += _cap_transactions(connection, chunk, per_customer)
        deleted += _cap_messages(connection, chunk, per_customer)
    return deleted


def _cap_transactions(connection: Connection, customers: list[str], keep: int) -> int:
    rt = recent_transactions
    rank = func.row_number().over(
        partition_by=rt.c.customer_id, order_by=(rt.c.event_time_ms.desc(), rt.c.tx_id.desc())
    )
    ranked = select(rt.c.tx_id, rank.label("rank")).where(rt.c.customer_id.in_(customers))
    excess = ranked.subquery()
    statement = (
        delete(rt)
        .where(rt.c.tx_id.in_(select(excess.c.tx_id).where(excess.c.rank > keep)))
        .where(rt.c.action == "allow")  # no case to come (see the module's docstring)
        .where(~exists().where(cases.c.tx_id == rt.c.tx_id))
    )
    return connection.execute(statement).rowcount


def _cap_messages(connection: Connection, customers: list[str], keep: int) -> int:
    um = user_messages
    rank = func.row_number().over(
        partition_by=um.c.customer_id,
        order_by=(um.c.event_time_ms.desc(), um.c.message_id.desc()),
    )
    ranked = select(um.c.message_id, rank.label("rank")).where(um.c.customer_id.in_(customers))
    excess = ranked.subquery()
    statement = delete(um).where(
        um.c.message_id.in_(select(excess.c.message_id).where(excess.c.rank > keep))
    )
    return connection.execute(statement).rowcount


def prune_by_age(connection: Connection, days: int) -> int:
    """Delete activity older than ``days`` before the newest event seen; returns rows deleted."""
    newest = connection.execute(select(func.max(recent_transactions.c.event_time_ms))).scalar()
    newest_message = connection.execute(select(func.max(user_messages.c.event_time_ms))).scalar()
    reference = max((t for t in (newest, newest_message) if t is not None), default=None)
    if reference is None:
        return 0
    cutoff = int(reference) - days * _DAY_MS
    rt = recent_transactions
    deleted = connection.execute(
        delete(rt)
        .where(rt.c.event_time_ms < cutoff)
        .where(~exists().where(cases.c.tx_id == rt.c.tx_id))
    ).rowcount
    deleted += connection.execute(
        delete(user_messages).where(user_messages.c.event_time_ms < cutoff)
    ).rowcount
    deleted += connection.execute(
        delete(message_analyses).where(message_analyses.c.analysed_at_ms < cutoff)
    ).rowcount
    return deleted


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
