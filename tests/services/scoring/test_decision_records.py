"""Decision records in a real Redis: the first decision of a transaction wins, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
import redis

from contracts.codec import encode
from contracts.events import Decision
from contracts.settings import Settings
from feature_store.engine import FeatureEngine
from feature_store.exceptions import StoreUnavailableError
from feature_store.online.redis import RedisOnlineStore, RedisOnlineStoreConfig
from services.scoring.compact_record import unpack_decision
from services.scoring.decision_log import DecisionRecords
from tests.services.scoring.helpers import T0, card_payments


@pytest.fixture
def store(settings: Settings) -> Iterator[RedisOnlineStore]:
    """The feature store on the test's Redis (its connection orders the calls)."""
    online = RedisOnlineStore(
        RedisOnlineStoreConfig(url=settings.redis.url, key_prefix=settings.redis.key_prefix)
    )
    online.setup()
    try:
        yield online
    finally:
        online.close()


@pytest.fixture(params=["own connection", "ordered with the feature calls"])
def records(
    request: pytest.FixtureRequest,
    settings: Settings,
    redis_client: redis.Redis,
    store: RedisOnlineStore,
) -> DecisionRecords:
    ordered = store if request.param == "ordered with the feature calls" else None
    return DecisionRecords(redis_client, settings.redis.key_prefix, 60_000, ordered=ordered)


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
    records: DecisionRecords, redis_client: redis.Redis
) -> None:
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


def test_settle_is_settle_encoded_without_the_bytes(records: DecisionRecords) -> None:
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
    records: DecisionRecords, redis_client: redis.Redis
) -> None:
    # send() and receive() are split (the scorer scores the next batch in
    # between); a script cache Redis lost meanwhile is reloaded, nothing lost.
    first = [_decision("x"), _decision("y", "flag", 0.7)]
    sent = records.send(first, [encode(d) for d in first])
    assert records.receive(sent) == ([(d, encode(d)) for d in first], 0)
    redis_client.script_flush()
    again = [_decision("x", "block", 0.99), _decision("z")]
    sent = records.send(again, [encode(d) for d in again])
    settled, earlier = records.receive(sent)
    assert earlier == 1
    assert settled == [(first[0], encode(first[0])), (again[1], encode(again[1]))]


def test_ordered_records_are_answered_before_the_feature_call_sent_after_them(
    settings: Settings, redis_client: redis.Redis, store: RedisOnlineStore
) -> None:
    # The scorer's order: next batch's features, this batch's records, the batch
    # after's features. Reading the records must not wait for that last call.
    records = DecisionRecords(redis_client, settings.redis.key_prefix, 60_000, ordered=store)
    engine = FeatureEngine(store)
    txs = card_payments(6, 10, tag="ordered")
    before = engine.send_chunks(txs[:30], 30)
    decisions = [_decision("o-0", "flag", 0.7), _decision("o-1")]
    sent = records.send(decisions, [encode(d) for d in decisions])
    after = engine.send_chunks(txs[30:], 30)
    (_, earlier_call), (_, later_call) = before.sent[0], after.sent[0]

    assert records.receive(sent) == ([(d, encode(d)) for d in decisions], 0)
    assert earlier_call.settled  # type: ignore[attr-defined]
    assert not later_call.settled  # type: ignore[attr-defined]
    assert len(later_call.result()) == 30
    assert redis_client.exists(records.key("o-0"))


def test_ordered_records_fail_as_unavailable_when_the_connection_drops(
    settings: Settings, redis_client: redis.Redis, store: RedisOnlineStore
) -> None:
    records = DecisionRecords(redis_client, settings.redis.key_prefix, 60_000, ordered=store)
    FeatureEngine(store).process(card_payments(1, 1, tag="opens"))  # the ordered connection
    redis_client.client_kill_filter(_type="normal", skipme=True)  # every client but this one
    decisions = [_decision("drop-1", "flag", 0.7)]
    payloads = [encode(d) for d in decisions]
    with pytest.raises(StoreUnavailableError):
        records.receive(records.send(decisions, payloads))
    # Settled again (what the scorer's retry does): one record, the first decision.
    settled, _ = records.settle_encoded(decisions, payloads)
    assert settled == [(decisions[0], payloads[0])]
    stored = redis_client.get(records.key("drop-1"))
    assert stored is not None and unpack_decision(stored, decisions[0]) == decisions[0]
