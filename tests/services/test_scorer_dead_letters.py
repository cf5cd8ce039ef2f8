"""Malformed input goes to the dead-letter topic with its reason and its bytes, and never stalls."""

from __future__ import annotations

import json

from confluent_kafka import Message, TopicPartition
from prometheus_client import REGISTRY

from contracts.codec import encode, to_builtins
from contracts.events import Label
from contracts.settings import Settings
from services.kafka.clients import make_consumer, make_producer
from services.kafka.reader import read_topic
from services.scoring.wiring import ScorerConfig, build_scorer
from tests.services.scoring.helpers import (
    T0,
    card_payments,
    read_decisions,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]


def _tampered(payment: dict[str, object], **changes: object) -> bytes:
    return json.dumps({**payment, **changes}).encode()


def test_malformed_transactions_are_dead_lettered_and_the_partition_moves_on(
    scorer_settings: Settings,
) -> None:
    settings = scorer_settings
    good = card_payments(1, 9, tag="ok")  # one card: one key, one partition; one per poison + 1
    plain = to_builtins(good[0])
    without_card = {k: v for k, v in plain.items() if k != "card_id"}
    label = Label(tx_id="tx-x", is_fraud=True, source="analyst", known_at_ms=T0)
    # name -> (bytes, what the reason must say, the JSON path when there is one)
    poison: dict[str, tuple[bytes, str, str | None]] = {
        "bad json": (b'{"type": "transaction", "tx_id": ', "JSON", None),
        "not utf-8": (b'{"type": "transaction", "tx_id": "\xff\xfe"}', "UTF-8", None),
        "negative amount": (_tampered(plain, amount=-5.0), "> 0.0", "$.amount"),
        "amount as text": (_tampered(plain, amount="12.50"), "float", "$.amount"),
        "a label on the transactions topic": (encode(label), "label", "$.type"),
        "missing card": (json.dumps(without_card).encode(), "card_id", "$.card_id"),
        # 4 KB that exhausted the JSON parser's stack (RecursionError) and crashed the loop.
        # One dated 2096 moved its card's windows there: every later payment read as late.
        "dated 70 years ahead": (
            _tampered(plain, event_time_ms=4_000_000_000_000),
            "after this host's clock",
            "$.event_time_ms",
        ),
        "nested 2,000 deep": (
            _tampered(plain)[:-1] + b', "x": ' + b"[" * 2000 + b"]" * 2000 + b"}",
            "nested too deeply",
            None,
        ),
    }
    # good, poison, good, poison, ..., good: every poison has good records behind it.
    assert len(good) == len(poison) + 1
    sequence: list[tuple[str, bytes]] = []
    for i, (name, (value, _, _)) in enumerate(poison.items()):
        sequence += [(f"good {i}", encode(good[i])), (name, value)]
    sequence.append(("good last", encode(good[-1])))

    offsets: dict[str, tuple[int, int]] = {}
    producer = make_producer(settings.kafka)
    topic = settings.kafka.topics.transactions
    for name, value in sequence:

        def delivered(error: object, msg: Message, name: str = name) -> None:
            assert error is None, error
            offsets[name] = (msg.partition() or 0, msg.offset() or 0)

        producer.produce(topic, value=value, key=b"card-0", on_delivery=delivered)
    assert producer.flush(10) == 0
    assert len({partition for partition, _ in offsets.values()}) == 1

    counted_before = (
        REGISTRY.get_sample_value("fraudstream_dead_letters_total", {"stage": "decode"}) or 0.0
    )
    loop, handler = build_scorer(settings, ScorerConfig(group_id="poison"))
    stats = loop.run(max_messages=len(sequence), idle_exit_s=30)
    assert stats.messages == len(sequence)
    assert stats.dead_letters == len(poison)
    # The metric counted them too (it was declared and never incremented).
    counted = REGISTRY.get_sample_value("fraudstream_dead_letters_total", {"stage": "decode"})
    assert counted == counted_before + len(poison)

    # Every good record after a poison one was decided.
    decisions = read_decisions(settings, len(good))
    assert sorted(d.tx_id for d in decisions) == sorted(tx.tx_id for tx in good)
    assert handler.emitted == len(good)

    letters = read_topic(settings.kafka, settings.kafka.topics.dead_letter, idle_ms=700)
    assert len(letters) == len(poison)
    by_offset = {int(dict(r.headers)["source.offset"] or b"-1"): r for r in letters}
    for name, (value, says, field) in poison.items():
        partition, offset = offsets[name]
        letter = by_offset[offset]
        headers = {key: (raw or b"").decode() for key, raw in letter.headers}
        assert letter.value == value, f"{name}: the original bytes, unchanged"
        assert letter.key == b"card-0"
        assert says.lower() in headers["error.reason"].lower(), (name, headers)
        assert headers["error.stage"] == "decode"
        assert headers.get("error.field") == field, (name, headers)
        assert headers["source.topic"] == topic
        assert headers["source.partition"] == str(partition)

    # The partition's committed offset is past the last record: nothing is retried forever.
    partition, last = offsets["good last"]
    probe = make_consumer(settings.kafka, "poison")
    try:
        (committed,) = probe.committed([TopicPartition(topic, partition)], timeout=10)
    finally:
        probe.close()
    assert committed.offset == last + 1
