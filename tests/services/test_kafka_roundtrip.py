"""Contracts events through the real broker; topic admin; error translation."""

from __future__ import annotations

import os
import signal
import threading
from collections import defaultdict

import pytest
from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import ConfigResource

from contracts.codec import decode_as, encode
from contracts.events import Label, Transaction
from contracts.settings import Settings
from services.exceptions import KafkaError
from services.kafka.admin import ensure_topics, list_topics, topic_config, wait_for_broker
from services.kafka.clients import make_admin
from services.kafka.errors import kafka_errors, translate_kafka_error
from services.kafka.reader import TopicReader

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def transaction(i: int, card: str) -> Transaction:
    return Transaction(
        tx_id=f"tx-{i}",
        event_time_ms=T0 + i * 1000,
        card_id=card,
        customer_id=f"cust-{card}",
        amount=10.0 + i,
        merchant_id=f"m-{i % 3}",
        country="DE",
        channel="ecom",
        ip="192.0.2.10",
        device_id=f"dev-{card}",
    )


def produce(producer: Producer, topic: str, events: list[Transaction]) -> None:
    for event in events:
        producer.produce(topic, key=event.card_id.encode(), value=encode(event))
    assert producer.flush(10) == 0


def test_transactions_round_trip_keyed_by_card(
    settings: Settings, kafka_producer: Producer, consume_all
) -> None:
    topic = settings.kafka.topics.transactions
    sent = [transaction(i, card=f"card-{i % 5}") for i in range(40)]
    produce(kafka_producer, topic, sent)

    records = consume_all(settings, topic, count=len(sent), raw=True)
    received = [decode_as(r.value, Transaction) for r in records]
    assert sorted(received, key=lambda t: t.tx_id) == sorted(sent, key=lambda t: t.tx_id)
    assert all(r.key == decode_as(r.value, Transaction).card_id.encode() for r in records)

    # Keyed by card: every card lands in exactly one partition, in the order produced.
    partitions_of_card: dict[str, set[int]] = defaultdict(set)
    for record in records:
        partitions_of_card[record.key.decode()].add(record.partition)
    assert all(len(parts) == 1 for parts in partitions_of_card.values())
    for card in partitions_of_card:
        order = [t.tx_id for t in received if t.card_id == card]
        assert order == [t.tx_id for t in sent if t.card_id == card]


def test_consume_all_decodes_events(
    settings: Settings, kafka_producer: Producer, consume_all
) -> None:
    topic = settings.kafka.topics.labels
    label = Label(tx_id="tx-1", is_fraud=True, source="analyst", known_at_ms=T0)
    kafka_producer.produce(topic, key=b"tx-1", value=encode(label))
    assert kafka_producer.flush(10) == 0
    assert consume_all(settings, topic) == [label]


def test_records_carry_headers(settings: Settings, kafka_producer: Producer, consume_all) -> None:
    topic = settings.kafka.topics.dead_letter
    kafka_producer.produce(topic, value=b"junk", headers=[("error.reason", b"not JSON")])
    assert kafka_producer.flush(10) == 0
    [record] = consume_all(settings, topic, raw=True)
    assert dict(record.headers) == {"error.reason": b"not JSON"}


def test_reader_counts_what_it_consumes_not_watermarks(
    settings: Settings, kafka_producer: Producer
) -> None:
    topic = settings.kafka.topics.decisions
    produce(kafka_producer, topic, [transaction(i, card=f"card-{i}") for i in range(250)])
    with TopicReader(settings.kafka, topic) as reader:
        assert reader.partitions == settings.kafka.partitions
        assert sum(1 for _ in reader.read(idle_ms=500)) == 250
        # A second pass continues where the first stopped: nothing new, nothing repeated.
        assert list(reader.read(idle_ms=200)) == []
        produce(kafka_producer, topic, [transaction(999, card="late")])
        followed = next(iter(reader.follow()))
    assert decode_as(followed.value, Transaction).tx_id == "tx-999"


def test_reading_a_missing_topic_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(KafkaError, match="no-such-topic"):
        TopicReader(settings.kafka, f"{settings.kafka.topics.transactions}-no-such-topic")


def test_topics_have_configured_partitions_and_explicit_configs(settings: Settings) -> None:
    found = list_topics(settings.kafka)
    for name in settings.kafka.topics.all():
        assert found[name] == settings.kafka.partitions

    resource = ConfigResource("topic", settings.kafka.topics.transactions)
    admin = make_admin(settings.kafka)  # must outlive the future it answers
    described = admin.describe_configs([resource])[resource].result(timeout=30)
    reported = {name: entry.value for name, entry in described.items()}
    for key, value in topic_config(settings.kafka).items():
        assert reported[key] == value


def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    extra = f"{settings.kafka.topics.transactions}-extra"
    assert ensure_topics(settings.kafka, [extra]) == {extra: True}
    again = ensure_topics(settings.kafka)
    assert set(again) == set(settings.kafka.topics.all())
    assert not any(again.values())  # the fixture created them all already
    assert ensure_topics(settings.kafka, [extra, extra]) == {extra: False}


def test_other_partition_counts_via_model_copy(settings: Settings) -> None:
    single = settings.kafka.model_copy(update={"partitions": 1})
    name = f"{settings.kafka.topics.transactions}-single"
    assert ensure_topics(single, [name]) == {name: True}
    assert list_topics(settings.kafka)[name] == 1


def test_wait_for_broker_sees_the_stack(settings: Settings) -> None:
    assert wait_for_broker(settings.kafka, timeout_s=10) >= 1


def test_wait_for_an_absent_broker_gives_up_with_a_retriable_error() -> None:
    from contracts.settings import KafkaSettings
    from services.stack.ports import free_port

    nowhere = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        # Keep librdkafka from logging every refused connection during the wait.
        client={"log_level": "0"},
    )
    with pytest.raises(KafkaError, match="not reachable") as failure:
        wait_for_broker(nowhere, timeout_s=1)
    assert failure.value.retriable


@pytest.mark.parametrize(
    ("vendor", "retriable"),
    [
        (VendorKafkaError(VendorKafkaError._TRANSPORT, "broker down", retriable=True), True),
        (VendorKafkaError(VendorKafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"), False),
        # Fatal wins: a fenced producer never recovers by retrying.
        (VendorKafkaError(VendorKafkaError._FENCED, "fenced", fatal=True, retriable=True), False),
    ],
)
def test_translate_kafka_error(vendor: VendorKafkaError, retriable: bool) -> None:
    for raised in (vendor, KafkaException(vendor)):
        error = translate_kafka_error(raised, "producing to 'transactions'")
        assert isinstance(error, KafkaError)
        assert error.retriable is retriable
        assert str(error).startswith("producing to 'transactions': ")
        assert vendor.name() in str(error)


def test_kafka_errors_context_translates_and_chains() -> None:
    vendor = VendorKafkaError(VendorKafkaError._TIMED_OUT, "slow", retriable=True)
    with pytest.raises(KafkaError, match="listing topics: _TIMED_OUT") as failure:
        with kafka_errors("listing topics"):
            raise KafkaException(vendor)
    assert failure.value.retriable
    assert isinstance(failure.value.__cause__, KafkaException)


def test_a_read_waits_for_the_records_that_exist_before_idling(
    local_stack, settings: Settings, kafka_producer: Producer
) -> None:
    # The idle clock used to start before the first fetch came back: a broker slower
    # than idle_ms (summary reads at 500 ms; a first fetch takes 0.5-1 s on the
    # embedded broker) ended the read early, with nothing, silently.
    topic = settings.kafka.topics.cases
    for i in range(40):
        kafka_producer.produce(topic, key=f"k{i % 4}".encode(), value=encode(transaction(i, "c")))
    assert kafka_producer.flush(10) == 0
    broker = int((local_stack.state_dir / "stack" / "kafka.pid").read_text().splitlines()[0])
    with TopicReader(settings.kafka, topic) as reader:
        os.kill(broker, signal.SIGSTOP)  # the first fetch now takes 1.5 s
        thaw = threading.Timer(1.5, os.kill, (broker, signal.SIGCONT))
        thaw.start()
        try:
            records = list(reader.read(idle_ms=300))
        finally:
            thaw.join()
            os.kill(broker, signal.SIGCONT)
    assert len(records) == 40
