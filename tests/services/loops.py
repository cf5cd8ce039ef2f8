"""A bare consumer loop over the transactions topic, for tests of the loop itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, Producer

from contracts.settings import Settings
from services.kafka.clients import make_consumer, make_producer
from services.stream.batch_consumer import BatchResult, MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.delivery import DeliveryTracker


def bytes_loop(
    settings: Settings,
    group: str,
    handle: Callable[[list[tuple[Message, bytes]]], BatchResult],
    *,
    producer: Producer | None = None,
    decode: Callable[[bytes], bytes] = lambda data: data,
    **options: Any,
) -> MicroBatchConsumer[bytes]:
    """A loop in ``group`` handing ``handle`` the raw bytes (``decode`` may refuse some);
    its outputs and dead letters go through ``producer`` (a new one by default)."""
    producer = producer or make_producer(settings.kafka)
    return MicroBatchConsumer(
        make_consumer(settings.kafka, group),
        producer,
        [settings.kafka.topics.transactions],
        decode,
        handle,
        DeadLetterSink(producer, settings.kafka.topics.dead_letter, DeliveryTracker()),
        **options,
    )
