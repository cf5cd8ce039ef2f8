"""Producer, consumer and admin clients configured on purpose.

The settings below are tuned for low latency on a paced stream (see
shared/FACTS.md: the default ``fetch.wait.max.ms=500`` alone costs ~150 ms
p50) while keeping delivery safe: idempotent producer, ``acks=all``, manual
offset commits. Every client takes the shared base configuration from
``KafkaSettings.client_config()`` so the same code runs against Apache Kafka
with security settings, and against the embedded broker without.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from contracts.settings import KafkaSettings

__all__ = ["OFF_HOT_PATH", "make_admin", "make_consumer", "make_producer"]

_PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # Small linger: batches form under load without adding latency when paced.
    "linger.ms": 2,
    "compression.type": "lz4",
    "batch.num.messages": 10_000,
    "queue.buffering.max.messages": 500_000,
}

_CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    # ~3 s group joins instead of ~23 s (join takes about half the session timeout).
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "fetch.wait.max.ms": 5,
    "fetch.min.bytes": 1,
    "partition.assignment.strategy": "cooperative-sticky",
}


#: For consumers off the hot path (the LLM worker, benchmark readers): their
#: latency hardly matters, and every fetch is work for the broker.
OFF_HOT_PATH: dict[str, Any] = {"fetch.wait.max.ms": 100}


def make_producer(settings: KafkaSettings, **overrides: Any) -> Producer:
    """An idempotent, acks=all producer. ``overrides`` use librdkafka names."""
    return Producer({**settings.client_config(), **_PRODUCER_DEFAULTS, **overrides})


def make_consumer(settings: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    """A manually-committing consumer in ``group_id``."""
    config = {**settings.client_config(), **_CONSUMER_DEFAULTS, "group.id": group_id}
    return Consumer({**config, **overrides})


def make_admin(settings: KafkaSettings, **overrides: Any) -> AdminClient:
    """An admin client (topic creation, metadata). ``overrides`` use librdkafka names."""
    config: dict[str, Any] = {**settings.client_config(), **overrides}
    return AdminClient(config)
