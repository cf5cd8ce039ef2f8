"""Decision records in a real Redis: the first decision of a transaction wins, byte for byte."""

from __future__ import annotations

import msgspec
import pytest
import redis

from contracts.codec import encode
from contracts.events import Decision
from contracts.settings import Settings
from feature_store.exceptions import StoreUnavailableError
from services.scoring.decision_log import DecisionRecords
from tests.services.scoring.helpers import T0


def _decision(tx_id: str, action: str = "allow", score: float = 0.1) -> Decision:
    return Decision(
        tx_id=tx_id,
        card_id="card-1",
        customer_id="cust-1",
        event_time_ms=T0,
        decided_at_ms=T0 + 5,
        action=action,  # type: ignore[arg-type]
        score=score,
        reasons=["S_SCORE_FLAG"] if action == "flag" else [],
        model_version="m/1",
        features={"amount": 12.5, "card_age_days": None},
    )


def test_first_decision_wins_and_is_returned_with_its_bytes(
    settings: Settings, redis_client: redis.Redis
) -> None:
    records = DecisionRecords(redis_client, settings.redis.key_prefix, 60_000)
    first = [_decision("a"), _decision("b", "flag", 0.7)]
    settled, earlier = records.settle_encoded(first, [encode(d) for d in first])
    assert earlier == 0
    assert settled == [(d, encode(d)) for d in first]
    assert 0 < redis_client.pttl(records.key("a")) <= 60_000

    # Redelivered with other verdicts (a new model meanwhile): the first ones come back.
    again = [_decision("b", "block", 0.99), _decision("c"), _decision("a", "flag", 0.8)]
    settled, earlier = records.settle_encoded(again, [encode(d) for d in again])
    assert earlier == 2
    assert settled == [(first[1], encode(first[1])), (again[1], encode(again[1]))] + [
        (first[0], encode(first[0]))
    ]

    # The same transaction twice in one batch: the second is the first's repeat.
    twice = [_decision("d", "flag", 0.6), _decision("d", "allow", 0.2)]
    decisions, earlier = records.settle(twice)
    assert (decisions, earlier) == ([twice[0], twice[0]], 1)
    assert records.settle([]) == ([], 0)


def test_settle_is_settle_encoded_without_the_bytes(
    settings: Settings, redis_client: redis.Redis
) -> None:
    records = DecisionRecords(redis_client, settings.redis.key_prefix, 60_000)
    batch = [_decision(f"tx-{i}", "flag" if i % 3 else "allow", i / 10) for i in range(8)]
    decisions, earlier = records.settle(batch)
    assert (decisions, earlier) == (batch, 0)
    changed = [msgspec.structs.replace(d, score=0.99) for d in batch]
    settled, earlier = records.settle_encoded(changed, [encode(d) for d in changed])
    assert ([d for d, _ in settled], earlier) == (batch, 8)


def test_redis_unreachable_is_store_unavailable() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    records = DecisionRecords(client, "x", 60_000)
    with pytest.raises(StoreUnavailableError):
        records.settle([_decision("a")])


def test_a_settle_sent_ahead_survives_a_flushed_script_cache(
    settings: Settings, redis_client: redis.Redis
) -> None:
    # send() and receive() are split (the scorer scores the next batch in
    # between); a script cache Redis lost meanwhile is reloaded, nothing lost.
    records = DecisionRecords(redis_client, settings.redis.key_prefix, 60_000)
    first = [_decision("x"), _decision("y", "flag", 0.7)]
    sent = records.send(first, [encode(d) for d in first])
    assert records.receive(sent) == ([(d, encode(d)) for d in first], 0)
    redis_client.script_flush()
    again = [_decision("x", "block", 0.99), _decision("z")]
    sent = records.send(again, [encode(d) for d in again])
    settled, earlier = records.receive(sent)
    assert earlier == 1
    assert settled == [(first[0], encode(first[0])), (again[1], encode(again[1]))]
