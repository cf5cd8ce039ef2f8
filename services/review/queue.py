"""The queue: cases by risk (score, highest first), then age (longest waiting first).

Filters: status (open / unclaimed / claimed / mine / decided / all), action,
a rule tag, an amount range. Pages are numbered; the total is counted with the
same filters. The order is served by ``ix_cases_queue``, so the first page of
open cases reads a page's worth of index entries however long the queue is.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, func, or_, select, true
from sqlalchemy.engine import RowMapping

from services.review.tables import case_tags, cases, explanations
from services.review.views import CaseSummary, QueueFilter, QueuePage

__all__ = ["MAX_PER_PAGE", "case_summary", "read_queue", "summary_columns"]

#: The API's largest page (a bigger one is clamped, not refused).
MAX_PER_PAGE = 200


def summary_columns() -> list[Any]:
    """The columns a ``CaseSummary`` is built from (cases LEFT JOIN explanations)."""
    return [
        cases.c.tx_id,
        cases.c.customer_id,
        cases.c.card_id,
        cases.c.action,
        cases.c.score,
        cases.c.amount,
        cases.c.tags,
        cases.c.reasons,
        cases.c.event_time_ms,
        cases.c.decided_at_ms,
        cases.c.status,
        cases.c.claimed_by,
        cases.c.claim_expires_ms,
        cases.c.verdict,
        explanations.c.source.label("explanation_source"),
    ]


def case_summary(row: RowMapping, now_ms: int) -> CaseSummary:
    """A summary from a row of ``summary_columns``; a lapsed claim reads as none."""
    held = row["claimed_by"] is not None and (row["claim_expires_ms"] or 0) > now_ms
    return CaseSummary(
        tx_id=row["tx_id"],
        customer_id=row["customer_id"],
        card_id=row["card_id"],
        action=row["action"],
        score=row["score"],
        amount=row["amount"],
        tags=json.loads(row["tags"]),
        reasons=json.loads(row["reasons"]),
        event_time_ms=row["event_time_ms"],
        decided_at_ms=row["decided_at_ms"],
        status=row["status"],
        claimed_by=row["claimed_by"] if held else None,
        claim_expires_ms=row["claim_expires_ms"] if held else None,
        verdict=row["verdict"],
        explanation_source=row["explanation_source"],
    )


def read_queue(
    connection: Connection,
    queue_filter: QueueFilter,
    *,
    viewer: str,
    now_ms: int,
    page: int = 1,
    per_page: int = 50,
) -> QueuePage:
    """One page of the queue as ``viewer`` sees it at ``now_ms``."""
    page = max(page, 1)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    condition = _condition(queue_filter, viewer, now_ms)
    total = connection.execute(select(func.count()).select_from(cases).where(condition)).scalar()
    statement: Select[Any] = (
        select(*summary_columns())
        .select_from(cases.outerjoin(explanations, explanations.c.tx_id == cases.c.tx_id))
        .where(condition)
        .order_by(cases.c.score.desc(), cases.c.decided_at_ms, cases.c.tx_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = connection.execute(statement).mappings().all()
    return QueuePage(
        items=[case_summary(row, now_ms) for row in rows],
        total=int(total or 0),
        page=page,
        per_page=per_page,
    )


def _condition(queue_filter: QueueFilter, viewer: str, now_ms: int) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = [_status(queue_filter, viewer, now_ms)]
    if queue_filter.action is not None:
        parts.append(cases.c.action == queue_filter.action)
    if queue_filter.tag:
        parts.append(
            exists().where(case_tags.c.tx_id == cases.c.tx_id, case_tags.c.tag == queue_filter.tag)
        )
    if queue_filter.min_amount is not None:
        parts.append(cases.c.amount >= queue_filter.min_amount)
    if queue_filter.max_amount is not None:
        parts.append(cases.c.amount <= queue_filter.max_amount)
    return and_(*parts)


def _status(queue_filter: QueueFilter, viewer: str, now_ms: int) -> ColumnElement[bool]:
    held = and_(cases.c.claimed_by.is_not(None), cases.c.claim_expires_ms > now_ms)
    is_open = cases.c.status == "open"
    match queue_filter.status:
        case "open":
            return is_open
        case "unclaimed":
            return and_(
                is_open,
                or_(cases.c.claimed_by.is_(None), cases.c.claim_expires_ms <= now_ms),
            )
        case "claimed":
            return and_(is_open, held)
        case "mine":
            return and_(is_open, held, cases.c.claimed_by == viewer)
        case "decided":
            return cases.c.status == "decided"
        case "all":
            return true()
