"""The case store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

::

    cases                 one row per flagged/blocked transaction (from ``cases``), keyed tx_id;
                          the decision as served (JSON) plus the columns the queue sorts and
                          filters on, and the analyst's state: status, claim, verdict
    case_tags             (tx_id, tag): the rule tags, indexed for the queue's tag filter
    explanations          tx_id -> the LLM worker's explanation (may arrive before its case)
    recent_transactions   the customer's recent activity, keyed tx_id, filled from
                          ``transactions`` (what was bought, where, on which device) and
                          ``decisions`` (what the scorer said); bounded per customer and in age
    user_messages         message_id -> what a customer wrote
    message_analyses      message_id -> the LLM worker's reading of it (joined on read)
    users                 analysts and admins with salted scrypt hashes
    session_cutoffs       user -> the instant before which their tokens stop working (a
                          password reset, "log out everywhere")
    revoked_tokens        one logged-out token (its SHA-256) until it would have expired
    login_attempts        password checks not (yet) known to have succeeded, by user name
                          and client address: what login throttling counts
    audit                 who did what to which case, when (append-only)
    label_outbox          one label per decided case, written with the verdict in the same
                          transaction; the publisher sends it and stamps ``sent_at_ms``

Times are epoch milliseconds (BigInteger), like every event. Event payloads kept
whole (``decision``, ``payload``) are the JSON bytes as received, decoded on read.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "audit",
    "case_tags",
    "cases",
    "explanations",
    "label_outbox",
    "message_analyses",
    "metadata",
    "login_attempts",
    "recent_transactions",
    "revoked_tokens",
    "session_cutoffs",
    "user_messages",
    "users",
]

metadata = MetaData()

#: Ids are bounded at 128 characters by the event contracts.
_ID = 128

cases = Table(
    "cases",
    metadata,
    Column("tx_id", String(_ID), primary_key=True),
    Column("card_id", String(_ID), nullable=False),
    Column("customer_id", String(_ID), nullable=False),
    Column("action", String(8), nullable=False),
    Column("score", Float, nullable=False),
    Column("amount", Float),
    Column("event_time_ms", BigInteger, nullable=False),
    Column("decided_at_ms", BigInteger, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list
    Column("tags", Text, nullable=False),  # JSON list (filtering uses case_tags)
    Column("decision", LargeBinary, nullable=False),  # the Decision as received
    Column("status", String(8), nullable=False, default="open"),  # open | decided
    Column("claimed_by", String(64)),
    Column("claim_expires_ms", BigInteger),
    Column("verdict", String(12)),  # fraud | legitimate
    Column("verdict_by", String(64)),
    Column("verdict_at_ms", BigInteger),
    Column("verdict_note", Text),
    Index("ix_cases_claimed_by", "claimed_by"),
)
# The queue's order (risk first, then the longest waiting) exactly, so page one of
# the open cases reads the first rows of this index and sorts nothing.
Index("ix_cases_queue", cases.c.status, cases.c.score.desc(), cases.c.decided_at_ms, cases.c.tx_id)

case_tags = Table(
    "case_tags",
    metadata,
    Column("tx_id", String(_ID), ForeignKey("cases.tx_id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Index("ix_case_tags_tag", "tag", "tx_id"),
)

explanations = Table(
    "explanations",
    metadata,
    Column("tx_id", String(_ID), primary_key=True),
    Column("source", String(16), nullable=False),  # model | template
    Column("risk_level", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("fallback_reason", Text),
    Column("adapter_version", Text, nullable=False),
    Column("cited_features", Text, nullable=False),  # JSON list
    Column("generated_at_ms", BigInteger, nullable=False),
)

recent_transactions = Table(
    "recent_transactions",
    metadata,
    Column("tx_id", String(_ID), primary_key=True),
    Column("customer_id", String(_ID), nullable=False),
    Column("card_id", String(_ID), nullable=False),
    Column("event_time_ms", BigInteger, nullable=False),
    # From the transactions topic (NULL until the transaction itself arrived).
    Column("amount", Float),
    Column("currency", String(3)),
    Column("merchant_id", String(_ID)),
    Column("mcc", String(4)),
    Column("country", String(2)),
    Column("channel", String(16)),
    Column("device_id", String(_ID)),
    Column("ip", String(45)),
    Column("payee_id", String(_ID)),
    # From the decisions topic (NULL until the decision arrived).
    Column("action", String(8)),
    Column("score", Float),
    Index("ix_recent_customer_time", "customer_id", "event_time_ms"),
    Index("ix_recent_time", "event_time_ms"),
)

user_messages = Table(
    "user_messages",
    metadata,
    Column("message_id", String(_ID), primary_key=True),
    Column("customer_id", String(_ID), nullable=False),
    Column("tx_id", String(_ID)),
    Column("event_time_ms", BigInteger, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_messages_customer_time", "customer_id", "event_time_ms"),
    Index("ix_messages_time", "event_time_ms"),
)

message_analyses = Table(
    "message_analyses",
    metadata,
    Column("message_id", String(_ID), primary_key=True),
    Column("customer_id", String(_ID), nullable=False),
    Column("label", String(32), nullable=False),
    Column("label_scores", Text, nullable=False),  # JSON object
    Column("summary", Text, nullable=False),
    Column("risk_signals", Text, nullable=False),  # JSON list
    Column("source", String(16), nullable=False),
    Column("analysed_at_ms", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # analyst | admin
    Column("password_hash", String(255), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

# Sessions live in tables of their own, not in columns of ``users``: ``create_all``
# adds a missing table to a database made by an older release, never a column.
session_cutoffs = Table(
    "session_cutoffs",
    metadata,
    Column("user_name", String(64), primary_key=True),
    Column("not_after_ms", BigInteger, nullable=False),  # tokens issued at or before
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index("ix_revoked_expires", "expires_ms"),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Index("ix_login_user", "user_name", "at_ms"),
    Index("ix_login_client", "client", "at_ms"),
    Index("ix_login_at", "at_ms"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # claim | release | verdict | user-add ...
    Column("tx_id", String(_ID)),
    Column("detail", Text, nullable=False),  # JSON object
    Index("ix_audit_tx", "tx_id", "at_ms"),
    Index("ix_audit_at", "at_ms"),
)

label_outbox = Table(
    "label_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Unique: one case yields one label, whatever happens above this table.
    Column("tx_id", String(_ID), nullable=False, unique=True),
    Column("key", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("sent_at_ms", BigInteger),
    Index("ix_outbox_pending", "sent_at_ms", "id"),
)
