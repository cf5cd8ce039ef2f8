"""Build the running processes from settings (the only place that connects things)."""

from __future__ import annotations

from contracts.settings import Settings
from feature_store.engine import FeatureEngine
from feature_store.online.redis import RedisOnlineStore, RedisOnlineStoreConfig
from services.kafka.clients import make_consumer, make_producer
from services.stream.batch_consumer import MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.decoders import decoders_for
from services.stream.delivery import DeliveryTracker
from services.stream.labels import LabelUpdater
from services.stream.shutdown import StopFlag

__all__ = ["label_consumer", "redis_store"]


def redis_store(settings: Settings) -> RedisOnlineStore:
    store = RedisOnlineStore(
        RedisOnlineStoreConfig(
            url=settings.redis.url,
            password=settings.redis.password,
            key_prefix=settings.redis.key_prefix,
            socket_timeout_s=settings.redis.socket_timeout_s,
        )
    )
    store.setup()
    return store


def label_consumer(
    settings: Settings, *, group_id: str = "fraudstream-labels", stop: StopFlag | None = None
) -> tuple[MicroBatchConsumer[object], LabelUpdater]:
    """The label consumer, connected (Redis is pinged; Kafka connects lazily)."""
    kafka = settings.kafka
    engine = FeatureEngine(
        redis_store(settings),
        dedup_ttl_ms=settings.redis.dedup_ttl_s * 1000,
        label_dedup_ttl_ms=settings.redis.label_dedup_ttl_s * 1000,
    )
    updater = LabelUpdater(engine)
    producer = make_producer(kafka)
    loop: MicroBatchConsumer[object] = MicroBatchConsumer(
        make_consumer(kafka, group_id),
        producer,
        [kafka.topics.labels],
        decoders_for(kafka)[1],
        updater,  # type: ignore[arg-type]
        DeadLetterSink(producer, kafka.topics.dead_letter, DeliveryTracker()),
        stop=stop,
    )
    return loop, updater
