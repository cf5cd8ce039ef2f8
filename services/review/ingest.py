"""From events to case-store rows, written in one database transaction per batch.

What each topic contributes (the consumer checks the kinds, see ``consumer.py``):

* ``cases`` (Decision, flag/block) -> a case and its tags. Insert-or-ignore on
  tx_id: a redelivered case changes nothing, and above all never resets the
  status, claim or verdict an analyst has given it.
* ``explanations`` / ``message_analyses`` -> upserted, the newest
  (``generated_at_ms`` / ``analysed_at_ms``) wins, except that the model's
  explanation is never replaced by a template; they may arrive before their
  case or message and are joined on read.
* ``transactions`` and ``decisions`` -> the customer's recent activity, one row
  per tx_id that each topic fills its own columns of. The transactions topic is
  read because a Decision carries no merchant, device or IP: the analyst needs
  them to judge, and the label needs them to move the feature store's risk rates.
* ``user_messages`` -> insert-or-ignore on message_id.

Rows are de-duplicated inside a batch first (PostgreSQL refuses to upsert the
same key twice in one statement), then written with one ``executemany`` per
table. Redelivering any batch leaves the store as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, or_

from contracts.codec import encode
from contracts.events import (
    Decision,
    Explanation,
    MessageAnalysis,
    Transaction,
    UserMessage,
)
from services.review.database import insert_for
from services.review.tables import (
    case_tags,
    cases,
    explanations,
    message_analyses,
    recent_transactions,
    user_messages,
)

__all__ = ["IngestBatch", "write_batch"]

_TRANSACTION_COLUMNS = (
    "amount",
    "currency",
    "merchant_id",
    "mcc",
    "country",
    "channel",
    "device_id",
    "ip",
    "payee_id",
)


@dataclass
class IngestBatch:
    """The rows one micro-batch contributes, keyed so that a key appears once."""

    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: set[tuple[str, str]] = field(default_factory=set)
    explanations: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(
            len(part)
            for part in (
                self.cases,
                self.explanations,
                self.transactions,
                self.decisions,
                self.messages,
                self.analyses,
            )
        )

    @property
    def customers(self) -> set[str]:
        """Customers whose recent activity this batch adds to (their windows get pruned)."""
        rows = (*self.transactions.values(), *self.decisions.values(), *self.messages.values())
        return {row["customer_id"] for row in rows}

    def add_case(self, decision: Decision, received_at_ms: int) -> None:
        self.cases.setdefault(decision.tx_id, _case_row(decision, received_at_ms))
        self.tags.update((decision.tx_id, tag[:64]) for tag in decision.tags)

    def add_decision(self, decision: Decision) -> None:
        self.decisions[decision.tx_id] = {
            "tx_id": decision.tx_id,
            "customer_id": decision.customer_id,
            "card_id": decision.card_id,
            "event_time_ms": decision.event_time_ms,
            "action": decision.action,
            "score": decision.score,
        }

    def add_transaction(self, tx: Transaction) -> None:
        row: dict[str, Any] = {
            "tx_id": tx.tx_id,
            "customer_id": tx.customer_id,
            "card_id": tx.card_id,
            "event_time_ms": tx.event_time_ms,
        }
        row.update({name: getattr(tx, name) for name in _TRANSACTION_COLUMNS})
        self.transactions[tx.tx_id] = row

    def add_explanation(self, explanation: Explanation) -> None:
        known = self.explanations.get(explanation.tx_id)
        if known is not None and _explanation_rank(
            known["source"], known["generated_at_ms"]
        ) >= _explanation_rank(explanation.source, explanation.generated_at_ms):
            return
        self.explanations[explanation.tx_id] = {
            "tx_id": explanation.tx_id,
            "source": explanation.source,
            "risk_level": explanation.risk_level,
            "text": explanation.text,
            "fallback_reason": explanation.fallback_reason,
            "adapter_version": explanation.adapter_version,
            "cited_features": json.dumps(explanation.cited_features),
            "generated_at_ms": explanation.generated_at_ms,
        }

    def add_message(self, message: UserMessage) -> None:
        self.messages.setdefault(
            message.message_id,
            {
                "message_id": message.message_id,
                "customer_id": message.customer_id,
                "tx_id": message.tx_id,
                "event_time_ms": message.event_time_ms,
                "channel": message.channel,
                "text": message.text,
            },
        )

    def add_analysis(self, analysis: MessageAnalysis) -> None:
        known = self.analyses.get(analysis.message_id)
        if known is not None and known["analysed_at_ms"] >= analysis.analysed_at_ms:
            return
        self.analyses[analysis.message_id] = {
            "message_id": analysis.message_id,
            "customer_id": analysis.customer_id,
            "label": analysis.label,
            "label_scores": json.dumps(analysis.label_scores),
            "summary": analysis.summary,
            "risk_signals": json.dumps(analysis.risk_signals),
            "source": analysis.source,
            "analysed_at_ms": analysis.analysed_at_ms,
        }


def _case_row(decision: Decision, received_at_ms: int) -> dict[str, Any]:
    return {
        "tx_id": decision.tx_id,
        "card_id": decision.card_id,
        "customer_id": decision.customer_id,
        "action": decision.action,
        "score": decision.score,
        "amount": decision.features.get("amount"),
        "event_time_ms": decision.event_time_ms,
        "decided_at_ms": decision.decided_at_ms,
        "received_at_ms": received_at_ms,
        "reasons": json.dumps(decision.reasons),
        "tags": json.dumps(decision.tags),
        "decision": encode(decision),
        "status": "open",
    }


def write_batch(engine: Engine, connection: Connection, batch: IngestBatch) -> None:
    """Write ``batch`` on ``connection`` (the caller owns the transaction)."""
    _insert_or_ignore(engine, connection, cases, "tx_id", batch.cases.values())
    tag_rows = [{"tx_id": tx_id, "tag": tag} for tx_id, tag in sorted(batch.tags)]
    if tag_rows:
        statement = insert_for(engine, case_tags).on_conflict_do_nothing(
            index_elements=["tx_id", "tag"]
        )
        connection.execute(statement, tag_rows)
    _upsert(engine, connection, explanations, "tx_id", batch.explanations, _ranks_higher)
    _fill_columns(engine, connection, batch.transactions, _TRANSACTION_COLUMNS)
    _fill_columns(engine, connection, batch.decisions, ("action", "score"))
    _insert_or_ignore(engine, connection, user_messages, "message_id", batch.messages.values())
    _upsert(
        engine, connection, message_analyses, "message_id", batch.analyses, _newer("analysed_at_ms")
    )


def _insert_or_ignore(
    engine: Engine,
    connection: Connection,
    table: Table,
    key: str,
    rows: Iterable[dict[str, Any]],
) -> None:
    values = list(rows)
    if values:
        statement = insert_for(engine, table).on_conflict_do_nothing(index_elements=[key])
        connection.execute(statement, values)


# Which of two rows of one key is kept: given the stored columns and the new
# row's (``excluded``), true where the new one replaces the stored one.
_Better = Callable[[Any, Any], ColumnElement[bool]]


def _upsert(
    engine: Engine,
    connection: Connection,
    table: Table,
    key: str,
    rows: dict[str, dict[str, Any]],
    better: _Better,
) -> None:
    """Insert ``rows``; one whose key is stored replaces it only where ``better`` says so."""
    if not rows:
        return
    statement = insert_for(engine, table)
    statement = statement.on_conflict_do_update(
        index_elements=[key],
        set_={name: statement.excluded[name] for name in table.c.keys() if name != key},
        where=better(table.c, statement.excluded),
    )
    connection.execute(statement, list(rows.values()))


def _newer(version: str) -> _Better:
    """An older version redelivered (or overtaken) never replaces a newer one."""
    return lambda stored, new: stored[version] < new[version]


def _explanation_rank(source: str, generated_at_ms: int) -> tuple[bool, int]:
    """Which of two explanations of one case the analyst sees: the model's words
    over a template whatever their order (a redelivered case is explained again,
    often by the template when the worker is busy), else the newest."""
    return (source == "model", generated_at_ms)


def _ranks_higher(stored: Any, new: Any) -> ColumnElement[bool]:
    """``_explanation_rank`` in SQL: the new explanation outranks the stored one."""
    return or_(
        and_(new.source == "model", stored.source != "model"),
        and_(new.source == stored.source, stored.generated_at_ms < new.generated_at_ms),
    )


def _fill_columns(
    engine: Engine,
    connection: Connection,
    rows: dict[str, dict[str, Any]],
    columns: tuple[str, ...],
) -> None:
    """Insert activity rows, or fill only ``columns`` of rows the other topic created."""
    if not rows:
        return
    statement = insert_for(engine, recent_transactions)
    statement = statement.on_conflict_do_update(
        index_elements=["tx_id"],
        set_={name: statement.excluded[name] for name in columns},
    )
    connection.execute(statement, list(rows.values()))
