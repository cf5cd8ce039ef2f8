"""The label consumer on the real broker and Redis: applies, dead-letters, counts once."""

from __future__ import annotations

from contracts.codec import encode
from contracts.events import Label
from feature_store import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from services.stream.wiring import label_consumer, redis_store
from tests.conftest import consume_all
from tests.feature_store.conftest import T0, make_tx

DAY = 86_400_000


def _label(i: int, fraud: bool, **extra: object) -> Label:
    fields: dict[str, object] = {
        "tx_id": f"tx-{i}",
        "is_fraud": fraud,
        "source": "chargeback",
        "known_at_ms": T0 + DAY,
        "device_id": "dev-1",
        "ip": "10.0.0.1",
        "merchant_id": "m-1",
    }
    fields.update(extra)
    return Label(**fields)  # type: ignore[arg-type]


def test_labels_feed_risk_features_once_and_bad_ones_are_dead_lettered(
    settings, kafka_producer
) -> None:
    topic = settings.kafka.topics.labels
    labels = [_label(i, fraud=i % 2 == 0) for i in range(6)]
    for label in labels:
        kafka_producer.produce(topic, value=encode(label), key=b"card-1")
    kafka_producer.produce(topic, value=b"{not json", key=b"card-1")
    no_entities = _label(99, True, device_id=None, ip=None, merchant_id=None)
    kafka_producer.produce(topic, value=encode(no_entities), key=b"card-1")
    # A redelivered label (the producer retried after a timeout): counts once.
    kafka_producer.produce(topic, value=encode(labels[0]), key=b"card-1")
    kafka_producer.flush(10)

    loop, updater = label_consumer(settings, group_id="labels-test")
    stats = loop.run(max_messages=9, idle_exit_s=15)
    assert stats.messages == 9
    assert updater.applied == 6
    assert stats.dead_letters == 2

    letters = consume_all(settings, settings.kafka.topics.dead_letter, count=2, raw=True)
    reasons = sorted(dict(r.headers)["error.reason"].decode() for r in letters)
    assert any("no device_id, ip or merchant_id" in r for r in reasons)
    assert any("JSON" in r for r in reasons)
    assert {r.value for r in letters} == {b"{not json", encode(no_entities)}

    store = redis_store(settings)
    (row,) = FeatureEngine(store).process([make_tx(1000, event_time_ms=T0 + 2 * DAY)])
    store.close()
    values = dict(zip(FEATURE_NAMES, row.values, strict=True))
    assert values["device_labels_30d"] == 6
    assert values["merchant_labels_30d"] == 6
    assert values["device_fraud_rate"] == (3 + 0.1) / (6 + 10)


def test_committed_labels_are_not_consumed_again(settings, kafka_producer) -> None:
    topic = settings.kafka.topics.labels
    for i in range(3):
        kafka_producer.produce(topic, value=encode(_label(i, True)), key=b"card-1")
    kafka_producer.flush(10)
    loop, _ = label_consumer(settings, group_id="labels-commit")
    assert loop.run(max_messages=3, idle_exit_s=15).messages == 3
    again, updater = label_consumer(settings, group_id="labels-commit")
    assert again.run(idle_exit_s=4).messages == 0
    assert updater.applied == 0


def test_the_label_dedup_ttl_setting_bounds_how_long_records_are_kept(
    settings, redis_client
) -> None:
    from feature_store.online.keys import label_dedup_key

    # (labels have a setting of their own: the transactions' 7 days is too short)
    short = settings.model_copy(
        update={"redis": settings.redis.model_copy(update={"label_dedup_ttl_s": 60})}
    )
    loop, updater = label_consumer(short, group_id="ttl")
    label = _label(7, fraud=True)
    assert updater.engine.apply_labels([label]) == 1
    loop.close()
    key = label_dedup_key(settings.redis.key_prefix, label.tx_id, label.is_fraud)
    assert 0 < redis_client.pttl(key) <= 60_000
