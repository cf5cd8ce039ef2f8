"""Fixtures of the review queue's tests.

``store`` runs a test against every backend (SQLite file, PostgreSQL), like the
feature store's contract tests: parametrize with ``@pytest.mark.parametrize("store",
BACKENDS, indirect=True)``, or use ``sqlite_store`` where the backend does not matter.

PostgreSQL: the server at ``postgresql+psycopg://postgres@127.0.0.1:5432`` (override
the whole database URL with ``FRAUDSTREAM_TEST_POSTGRES_URL``). The test database
(``fraudstream_review_test``) is created when missing and its tables are dropped and
made again for every test. An unreachable server fails those tests with the reason;
they are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from services.review.database import connect
from services.review.store import ReviewStore
from services.review.tables import metadata
from tests.services.review.events import T0

BACKENDS = ["sqlite", "postgresql"]
POSTGRES_URL = os.environ.get(
    "FRAUDSTREAM_TEST_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/fraudstream_review_test",
)


class FakeClock:
    """Epoch ms that only move when a test says so."""

    def __init__(self, now_ms: int = T0 + 30 * 86_400_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = make_url(POSTGRES_URL)
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable "
            f"(set FRAUDSTREAM_TEST_POSTGRES_URL to another server): {exc.orig}",
            pytrace=False,
        )
    finally:
        server.dispose()
    return POSTGRES_URL


def _database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[ReviewStore]:
    backend = getattr(request, "param", "sqlite")
    review_store = ReviewStore(connect(_database_url(backend, tmp_path, request)), clock=clock)
    review_store.setup()
    yield review_store
    review_store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: FakeClock) -> Iterator[ReviewStore]:
    review_store = ReviewStore(connect(f"sqlite:///{tmp_path / 'review.db'}"), clock=clock)
    review_store.setup()
    yield review_store
    review_store.close()
