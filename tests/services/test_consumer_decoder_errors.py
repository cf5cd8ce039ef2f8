"""A decoder that fails in an unforeseen way dead-letters that message; the loop goes on.

Contract errors are the expected failure; anything else a decoder raises is
still about the bytes of that one message (a parser's limit, a library's bug),
and crashing on it would stop its partition for good: the offset is never
committed, so every restart, and every other member the partition moves to,
meets the same bytes again.
"""

from __future__ import annotations

from confluent_kafka import Message

from contracts.settings import Settings
from services.kafka.reader import read_topic
from services.stream.batch_consumer import BatchResult
from tests.services.loops import bytes_loop


def _surprising_decoder(data: bytes) -> bytes:
    if data.startswith(b"boom"):
        raise RecursionError("maximum recursion depth exceeded while deserializing")
    return data


def test_an_unexpected_decoder_error_is_a_dead_letter_not_a_crash(
    settings: Settings, kafka_producer
) -> None:
    topic = settings.kafka.topics.transactions
    values = [b"m0", b"boom1", b"m2", b"boom3", b"m4"]
    for value in values:
        kafka_producer.produce(topic, value=value, key=b"k")  # one partition, in this order
    assert kafka_producer.flush(10) == 0

    handled: list[bytes] = []

    def handle(batch: list[tuple[Message, bytes]]) -> BatchResult:
        handled.extend(value for _, value in batch)
        return BatchResult()

    loop = bytes_loop(settings, f"{topic}-decoder", handle, decode=_surprising_decoder, max_batch=2)
    stats = loop.run(max_messages=len(values), idle_exit_s=20)

    assert handled == [b"m0", b"m2", b"m4"]
    assert (stats.messages, stats.dead_letters) == (5, 2)
    letters = read_topic(settings.kafka, settings.kafka.topics.dead_letter, idle_ms=700)
    assert sorted(letter.value for letter in letters) == [b"boom1", b"boom3"]
    for letter in letters:
        headers = {key: (raw or b"").decode() for key, raw in letter.headers}
        assert headers["error.stage"] == "decode"
        assert headers["error.reason"].startswith("undecodable: RecursionError: maximum recursion")
