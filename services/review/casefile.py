"""The case view's data: the case, its decision as served, and what surrounds it.

Joined on read, because each piece arrives on its own topic in its own time:
the transaction (``recent_transactions``), the explanation, the customer's
recent transactions (newest first) and messages with their analyses.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from sqlalchemy import Connection, select
from sqlalchemy.engine import RowMapping

from services.review.audit import read_audit
from services.review.exceptions import CaseNotFoundError
from services.review.queue import case_summary, summary_columns
from services.review.tables import (
    cases,
    explanations,
    message_analyses,
    recent_transactions,
    user_messages,
)
from services.review.views import (
    AnalysisView,
    CaseDetail,
    ExplanationView,
    MessageView,
    TransactionView,
)

__all__ = ["read_case"]


def read_case(connection: Connection, tx_id: str, *, now_ms: int, recent: int = 20) -> CaseDetail:
    """Everything about case ``tx_id``; ``recent`` bounds the activity and message lists."""
    columns = [
        *summary_columns(),
        cases.c.verdict_by,
        cases.c.verdict_at_ms,
        cases.c.verdict_note,
        cases.c.decision,
        *_explanation_columns(),
    ]
    row = (
        connection.execute(
            select(*columns)
            .select_from(cases.outerjoin(explanations, explanations.c.tx_id == cases.c.tx_id))
            .where(cases.c.tx_id == tx_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise CaseNotFoundError(tx_id)
    summary = case_summary(row, now_ms)
    decision: dict[str, Any] = msgspec.json.decode(row["decision"])
    return CaseDetail(
        summary=summary,
        verdict_by=row["verdict_by"],
        verdict_at_ms=row["verdict_at_ms"],
        verdict_note=row["verdict_note"],
        decision=decision,
        transaction=_transaction(connection, tx_id),
        explanation=_explanation(row),
        recent=_recent(connection, summary.customer_id, recent),
        messages=_messages(connection, summary.customer_id, recent),
        history=read_audit(connection, tx_id=tx_id, limit=100),
    )


def _explanation_columns() -> list[Any]:
    e = explanations.c
    return [
        e.text.label("explanation_text"),
        e.risk_level.label("explanation_risk_level"),
        e.fallback_reason.label("explanation_fallback_reason"),
        e.adapter_version.label("explanation_adapter_version"),
        e.cited_features.label("explanation_cited_features"),
        e.generated_at_ms.label("explanation_generated_at_ms"),
    ]


def _explanation(row: RowMapping) -> ExplanationView | None:
    if row["explanation_source"] is None:
        return None
    return ExplanationView(
        text=row["explanation_text"],
        source=row["explanation_source"],
        risk_level=row["explanation_risk_level"],
        fallback_reason=row["explanation_fallback_reason"],
        adapter_version=row["explanation_adapter_version"],
        cited_features=json.loads(row["explanation_cited_features"]),
        generated_at_ms=row["explanation_generated_at_ms"],
    )


def _transaction_view(row: RowMapping) -> TransactionView:
    return TransactionView(**{name: row[name] for name in TransactionView.__dataclass_fields__})


def _transaction(connection: Connection, tx_id: str) -> TransactionView | None:
    row = (
        connection.execute(select(recent_transactions).where(recent_transactions.c.tx_id == tx_id))
        .mappings()
        .first()
    )
    return None if row is None else _transaction_view(row)


def _recent(connection: Connection, customer_id: str, limit: int) -> list[TransactionView]:
    rt = recent_transactions
    rows = connection.execute(
        select(rt)
        .where(rt.c.customer_id == customer_id)
        .order_by(rt.c.event_time_ms.desc(), rt.c.tx_id.desc())
        .limit(limit)
    ).mappings()
    return [_transaction_view(row) for row in rows]


def _messages(connection: Connection, customer_id: str, limit: int) -> list[MessageView]:
    um, ma = user_messages, message_analyses
    rows = connection.execute(
        select(
            um,
            ma.c.label,
            ma.c.label_scores,
            ma.c.summary,
            ma.c.risk_signals,
            ma.c.source,
            ma.c.analysed_at_ms,
        )
        .select_from(um.outerjoin(ma, ma.c.message_id == um.c.message_id))
        .where(um.c.customer_id == customer_id)
        .order_by(um.c.event_time_ms.desc(), um.c.message_id.desc())
        .limit(limit)
    ).mappings()
    return [
        MessageView(
            message_id=row["message_id"],
            event_time_ms=row["event_time_ms"],
            channel=row["channel"],
            text=row["text"],
            tx_id=row["tx_id"],
            analysis=None
            if row["label"] is None
            else AnalysisView(
                label=row["label"],
                label_scores=json.loads(row["label_scores"]),
                summary=row["summary"],
                risk_signals=json.loads(row["risk_signals"]),
                source=row["source"],
                analysed_at_ms=row["analysed_at_ms"],
            ),
        )
        for row in rows
    ]
