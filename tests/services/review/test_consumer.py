"""The ingest handler's error policy: retry while the database is away, dead-letter refusals."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import text

from contracts.codec import encode
from contracts.settings import TopicNames
from services.review.consumer import ReviewIngest
from services.review.database import connect
from services.review.store import ReviewStore
from services.review.views import QueueFilter
from services.stream.batch_consumer import Retriable
from tests.services.review.conftest import BACKENDS
from tests.services.review.events import decision, message, transaction

TOPICS = TopicNames()


@dataclass
class Delivered:
    """What the handler reads of a consumed Kafka message."""

    _topic: str
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value


def _delivered(topic: str, event) -> tuple[Delivered, object]:
    return Delivered(topic, encode(event)), event


def test_kinds_are_checked_per_topic(sqlite_store) -> None:
    handler = ReviewIngest(sqlite_store, TOPICS)
    result = handler(
        [
            _delivered(TOPICS.cases, decision(1)),
            _delivered(TOPICS.cases, decision(2, action="allow")),
            _delivered(TOPICS.cases, transaction(3)),
            _delivered(TOPICS.transactions, transaction(1)),
        ]
    )
    reasons = [letter.reason for letter in result.dead_letters]
    assert reasons == [
        "an allowed transaction is not a case (only flag and block decisions are)",
        f"topic {TOPICS.cases!r} carries Decision events, not Transaction",
    ]
    assert handler.written == {"Decision": 1, "Transaction": 1}
    assert sqlite_store.case("tx-1").transaction is not None


def test_an_unreachable_database_makes_the_batch_retriable() -> None:
    # Nothing listens on port 1: every connection attempt is refused.
    store = ReviewStore(connect("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    handler = ReviewIngest(store, TOPICS)
    with pytest.raises(Retriable, match="writing a batch"):
        handler([_delivered(TOPICS.cases, decision(1))])
    store.close()


@pytest.mark.parametrize("store", BACKENDS, indirect=True)
def test_events_the_database_refuses_are_dead_lettered_one_by_one(store) -> None:
    with store.engine.begin() as connection:  # a schema that lost a table
        connection.execute(text("DROP TABLE user_messages"))
    handler = ReviewIngest(store, TOPICS)
    result = handler(
        [_delivered(TOPICS.cases, decision(1)), _delivered(TOPICS.user_messages, message(1))]
    )
    (letter,) = result.dead_letters
    assert letter.message.topic() == TOPICS.user_messages
    assert "user_messages" in letter.reason
    assert handler.written == {"Decision": 1}
    assert store.queue(QueueFilter(), viewer="ann").total == 1  # the case got through
