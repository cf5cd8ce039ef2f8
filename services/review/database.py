"""Connecting to the case database: SQLite (a file, the default) or PostgreSQL.

Everything dialect-specific lives here: the engine options, the upsert
statement (``INSERT ... ON CONFLICT``, which both dialects speak), and the
translation of SQLAlchemy's errors into ``ReviewStoreError`` at the edge.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, exc, make_url
from sqlalchemy.dialects import postgresql, sqlite

from contracts.settings import Settings
from services.review.exceptions import ReviewStoreError
from services.review.tables import metadata

__all__ = [
    "connect",
    "create_schema",
    "database_url",
    "describe",
    "insert_for",
    "store_errors",
]

#: How long a SQLite writer waits for another one before failing (seconds).
_SQLITE_BUSY_TIMEOUT_S = 30


def database_url(settings: Settings) -> str:
    """The configured URL, or the SQLite file ``review.db`` in the state directory."""
    if settings.review.database_url:
        return settings.review.database_url
    return f"sqlite:///{(settings.state_dir / 'review.db').resolve()}"


def connect(url: str) -> Engine:
    """An engine for ``url`` (nothing is connected yet). Only SQLite and PostgreSQL."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ReviewStoreError(f"not a database URL: {url!r}") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        # pre_ping: a connection the server dropped is replaced, not handed out.
        return create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=8)
    raise ReviewStoreError(
        f"unsupported database {backend!r} in {describe(url)}: use sqlite:/// or postgresql+psycopg://"
    )


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (the web page) never wait for the ingest writer, nor it for them.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def describe(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid URL>"


def create_schema(engine: Engine) -> None:
    """Create missing tables and indexes (idempotent; existing tables are left as they are)."""
    with store_errors(f"creating the review schema in {describe(str(engine.url))}"):
        metadata.create_all(engine)


def insert_for(engine: Engine, table: Table) -> Any:
    """The dialect's ``INSERT`` that has ``on_conflict_do_nothing/do_update``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@contextmanager
def store_errors(context: str) -> Iterator[None]:
    """Turn SQLAlchemy's errors into ``ReviewStoreError``, ``retriable`` when transient."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        raise ReviewStoreError(
            f"{context}: {_first_line(error)}", retriable=_transient(error)
        ) from error


# sqlite3 raises OperationalError for missing tables and bad SQL too; only these pass.
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open")


def _transient(error: exc.SQLAlchemyError) -> bool:
    """A lost connection, a pool timeout, a lock: trying again later may succeed."""
    if isinstance(error, (exc.DisconnectionError, exc.TimeoutError)):
        return True
    if not isinstance(error, exc.OperationalError):
        return False
    if isinstance(error.orig, sqlite3.OperationalError):
        return any(word in str(error.orig).lower() for word in _SQLITE_TRANSIENT)
    # PostgreSQL's OperationalError is the connection failing or the server going away.
    return True


def _first_line(error: exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
