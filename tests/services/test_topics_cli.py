"""``fraudstream topics`` against the real broker, through click's CliRunner.

The ``settings`` fixture exports the test's settings to the environment, so
the commands see this test's private topics.
"""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from confluent_kafka import Producer

from contracts.codec import decode, encode
from contracts.events import Transaction
from contracts.settings import Settings
from services.cli.main import cli
from services.exceptions import KafkaError
from services.kafka.admin import delete_topics, list_topics

T0 = 1_767_225_600_000


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["topics", *args])


def transaction(i: int) -> Transaction:
    return Transaction(
        tx_id=f"tx-{i}",
        event_time_ms=T0 + i,
        card_id=f"card-{i % 4}",
        customer_id="cust-1",
        amount=5.0 + i,
        merchant_id="m-1",
        country="FR",
        channel="pos",
    )


def fill(producer: Producer, topic: str, valid: int, invalid: list[bytes]) -> list[Transaction]:
    events = [transaction(i) for i in range(valid)]
    for event in events:
        producer.produce(topic, key=event.card_id.encode(), value=encode(event))
    for junk in invalid:
        producer.produce(topic, key=b"junk", value=junk)
    assert producer.flush(10) == 0
    return events


def test_ensure_creates_missing_topics_and_keeps_existing(settings: Settings) -> None:
    missing = settings.kafka.topics.cases
    delete_topics(settings.kafka, [missing])
    assert missing not in list_topics(settings.kafka)

    result = run("ensure", "--wait", "5")
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = dict(line.split() for line in result.output.splitlines())
    assert lines == {
        name: ("created" if name == missing else "exists") for name in settings.kafka.topics.all()
    }
    assert list_topics(settings.kafka)[missing] == settings.kafka.partitions


def test_list_shows_partitions(settings: Settings) -> None:
    result = run("list")
    assert result.exit_code == 0, result.output
    for name in settings.kafka.topics.all():
        line = next(line for line in result.output.splitlines() if line.startswith(f"{name} "))
        assert f"{settings.kafka.partitions} partitions" in line


def test_list_marks_missing_configured_topics(settings: Settings) -> None:
    delete_topics(settings.kafka, [settings.kafka.topics.labels])
    result = run("list")
    assert result.exit_code == 0
    line = next(
        line
        for line in result.output.splitlines()
        if line.startswith(f"{settings.kafka.topics.labels} ")
    )
    assert "missing" in line


def test_count_reports_messages_and_valid_events(
    settings: Settings, kafka_producer: Producer
) -> None:
    topic = settings.kafka.topics.transactions
    fill(kafka_producer, topic, valid=37, invalid=[b"not json", b'{"type":"transaction"}'])

    text = run("count", topic, "--idle-ms", "500")
    assert text.exit_code == 0, text.output + repr(text.exception)
    assert text.output.splitlines()[0] == "39"
    assert "valid events: 37, invalid: 2" in text.output

    as_json = run("count", topic, "--idle-ms", "500", "--json")
    assert json.loads(as_json.output) == {
        "topic": topic,
        "messages": 39,
        "valid": 37,
        "invalid": 2,
    }


def test_count_of_an_empty_topic_is_zero(settings: Settings) -> None:
    result = run("count", settings.kafka.topics.explanations, "--idle-ms", "200")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "0"


def test_tail_prints_the_latest_events_as_json_lines(
    settings: Settings, kafka_producer: Producer
) -> None:
    topic = settings.kafka.topics.decisions
    # One card only: one partition, so "latest" has a single, well-defined order.
    events = [transaction(i) for i in range(0, 40, 4)]
    assert {event.card_id for event in events} == {"card-0"}
    for event in events:
        kafka_producer.produce(topic, key=b"card-0", value=encode(event))
    assert kafka_producer.flush(10) == 0

    result = run("tail", topic, "-n", "3", "--idle-ms", "500")
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = result.output.splitlines()
    assert [decode(line.encode()) for line in lines] == events[-3:]
    assert all(json.loads(line)["type"] == "transaction" for line in lines)


def test_tail_reports_invalid_messages_on_stderr(
    settings: Settings, kafka_producer: Producer
) -> None:
    topic = settings.kafka.topics.dead_letter
    kafka_producer.produce(topic, key=b"k", value=b"\xff\xfe not an event")
    assert kafka_producer.flush(10) == 0
    result = run("tail", topic, "--idle-ms", "500")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "offset 0: not a valid event" in result.stderr


def test_tail_of_a_missing_topic_fails_clearly(settings: Settings) -> None:
    result = run("tail", f"{settings.kafka.topics.transactions}-nope")
    assert isinstance(result.exception, KafkaError)
    assert "cannot be read" in str(result.exception)


def test_tail_of_dead_letters_shows_why_each_was_parked(
    settings: Settings, kafka_producer: Producer
) -> None:
    topic = settings.kafka.topics.dead_letter
    headers = [("error.reason", b"Expected `float` > 0.0"), ("error.stage", b"decode"),
               ("error.field", b"$.amount")]  # fmt: skip
    kafka_producer.produce(topic, key=b"k", value=b'{"amount": -5}', headers=headers)
    assert kafka_producer.flush(10) == 0
    result = run("tail", topic, "--idle-ms", "500")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "# dead letter (decode): Expected `float` > 0.0 at $.amount",
        '{"amount": -5}',
    ]
