"""What analysts do to a case: claim it, release it, decide it. Each is one atomic step.

Every change is a conditional ``UPDATE`` whose ``WHERE`` states what must be
true (open; unclaimed, claimed by the caller, or the claim lapsed). The database
serialises concurrent updates of a row, so of two analysts racing for a case
exactly one gets a row count of 1 and the other learns why not
(``CaseConflictError``). Nothing is read first and decided in Python: that
would race.

A verdict writes the case, the audit row and the label's outbox row in the
caller's one transaction (see ``outbox.py``): all three or none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from contracts.events import Label
from services.review import audit
from services.review.exceptions import CaseConflictError, CaseNotFoundError
from services.review.outbox import analyst_label, enqueue_label
from services.review.tables import cases, recent_transactions

__all__ = ["claim", "decide", "release"]

#: Notes are kept whole in the store; the label carries what its contract allows.
MAX_NOTE = 2000


def _available_to(user: str, now_ms: int) -> ColumnElement[bool]:
    """Open, and not held by anyone else right now."""
    return and_(
        cases.c.status == "open",
        or_(
            cases.c.claimed_by.is_(None),
            cases.c.claimed_by == user,
            cases.c.claim_expires_ms <= now_ms,
        ),
    )


def claim(connection: Connection, tx_id: str, user: str, *, now_ms: int, ttl_ms: int) -> int:
    """Claim (or renew a claim on) case ``tx_id`` for ``user``; returns when it lapses."""
    expires = now_ms + ttl_ms
    result = connection.execute(
        update(cases)
        .where(cases.c.tx_id == tx_id, _available_to(user, now_ms))
        .values(claimed_by=user, claim_expires_ms=expires)
    )
    if result.rowcount != 1:
        raise _conflict(connection, tx_id, user, now_ms)
    audit.record(
        connection,
        at_ms=now_ms,
        actor=user,
        action="claim",
        tx_id=tx_id,
        detail={"expires_ms": expires},
    )
    return expires


def release(
    connection: Connection, tx_id: str, user: str, *, now_ms: int, any_holder: bool = False
) -> str | None:
    """Drop the claim on ``tx_id``: one's own, or anyone's when ``any_holder`` (admins).

    Returns whose claim was released, or None when the case was not claimed.
    """
    holder = connection.execute(
        select(cases.c.claimed_by, cases.c.claim_expires_ms, cases.c.status).where(
            cases.c.tx_id == tx_id
        )
    ).first()
    if holder is None:
        raise CaseNotFoundError(tx_id)
    claimed_by, expires_ms, status = holder
    if status != "open" or claimed_by is None or (expires_ms or 0) <= now_ms:
        return None
    if claimed_by != user and not any_holder:
        raise CaseConflictError(tx_id, f"claimed by {claimed_by}, not by you", holder=claimed_by)
    # Conditional on the holder read above: a concurrent change makes this a no-op.
    result = connection.execute(
        update(cases)
        .where(cases.c.tx_id == tx_id, cases.c.claimed_by == claimed_by)
        .values(claimed_by=None, claim_expires_ms=None)
    )
    if result.rowcount != 1:
        raise _conflict(connection, tx_id, user, now_ms)
    audit.record(
        connection,
        at_ms=now_ms,
        actor=user,
        action="release",
        tx_id=tx_id,
        detail={"holder": claimed_by},
    )
    return str(claimed_by)


def decide(
    connection: Connection,
    tx_id: str,
    user: str,
    *,
    is_fraud: bool,
    note: str,
    now_ms: int,
) -> Label:
    """Record ``user``'s verdict on ``tx_id`` with its audit row and label; returns the label.

    A case is decided once: a second verdict (or one on a case someone else
    holds) raises ``CaseConflictError`` and changes nothing.
    """
    note = note.strip()[:MAX_NOTE]
    verdict = "fraud" if is_fraud else "legitimate"
    result = connection.execute(
        update(cases)
        .where(cases.c.tx_id == tx_id, _available_to(user, now_ms))
        .values(
            status="decided",
            verdict=verdict,
            verdict_by=user,
            verdict_at_ms=now_ms,
            verdict_note=note or None,
            claimed_by=None,
            claim_expires_ms=None,
        )
    )
    if result.rowcount != 1:
        raise _conflict(connection, tx_id, user, now_ms)
    case = connection.execute(
        select(cases.c.card_id, cases.c.event_time_ms).where(cases.c.tx_id == tx_id)
    ).one()
    tx = connection.execute(
        select(
            recent_transactions.c.device_id,
            recent_transactions.c.ip,
            recent_transactions.c.merchant_id,
        ).where(recent_transactions.c.tx_id == tx_id)
    ).first()
    label = analyst_label(
        tx_id,
        card_id=case.card_id,
        event_time_ms=case.event_time_ms,
        entities=None if tx is None else (tx.device_id, tx.ip, tx.merchant_id),
        analyst=user,
        is_fraud=is_fraud,
        note=note,
        now_ms=now_ms,
    )
    enqueue_label(connection, label, now_ms=now_ms)
    audit.record(
        connection,
        at_ms=now_ms,
        actor=user,
        action="verdict",
        tx_id=tx_id,
        detail={"verdict": verdict, "note": note, "label_has_entities": tx is not None},
    )
    return label


def _conflict(
    connection: Connection, tx_id: str, user: str, now_ms: int
) -> CaseNotFoundError | CaseConflictError:
    """Why a conditional update matched no row."""
    row = connection.execute(
        select(
            cases.c.status,
            cases.c.verdict,
            cases.c.verdict_by,
            cases.c.claimed_by,
            cases.c.claim_expires_ms,
        ).where(cases.c.tx_id == tx_id)
    ).first()
    if row is None:
        return CaseNotFoundError(tx_id)
    if row.status != "open":
        return CaseConflictError(tx_id, f"already decided ({row.verdict}) by {row.verdict_by}")
    if row.claimed_by not in (None, user) and (row.claim_expires_ms or 0) > now_ms:
        return CaseConflictError(tx_id, f"claimed by {row.claimed_by}", holder=row.claimed_by)
    # The row changed between the update and this read: the caller may simply retry.
    return CaseConflictError(tx_id, "changed concurrently; try again")
