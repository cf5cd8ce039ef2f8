"""The audit trail: who did what to which case, when. Rows are only ever appended.

Written in the same transaction as the change it records, so the trail and the
cases never disagree: a claim, a release, a verdict, a user created or removed.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select

from services.review.tables import audit
from services.review.views import AuditEntry

__all__ = ["read_audit", "record"]


def record(
    connection: Connection,
    *,
    at_ms: int,
    actor: str,
    action: str,
    tx_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        insert(audit).values(
            at_ms=at_ms,
            actor=actor,
            action=action,
            tx_id=tx_id,
            detail=json.dumps(detail or {}, sort_keys=True),
        )
    )


def read_audit(
    connection: Connection,
    *,
    tx_id: str | None = None,
    actor: str | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Newest first; narrowed to one case and/or one actor when given."""
    statement = select(audit).order_by(audit.c.at_ms.desc(), audit.c.id.desc()).limit(limit)
    if tx_id is not None:
        statement = statement.where(audit.c.tx_id == tx_id)
    if actor is not None:
        statement = statement.where(audit.c.actor == actor)
    return [
        AuditEntry(
            at_ms=row["at_ms"],
            actor=row["actor"],
            action=row["action"],
            tx_id=row["tx_id"],
            detail=json.loads(row["detail"]),
        )
        for row in connection.execute(statement).mappings()
    ]
