"""Build a running scorer from settings: the only place that connects its parts."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from contracts.settings import Settings
from feature_store import FEATURE_NAMES, FeatureEngine
from rules import RuleSetHolder, rule_vocabulary
from rules.lists.redis import RedisListStore
from rules.lists.refresh import RefreshingLists
from services.kafka.clients import make_consumer, make_producer
from services.scoring import metrics
from services.scoring.decision_log import DecisionRecords
from services.scoring.models import ModelSet
from services.scoring.pipeline import ScoringPipeline
from services.scoring.service import DegradedPolicy, ScorerHandler, periodic
from services.stream.batch_consumer import MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.decoders import decoders_for
from services.stream.delivery import DeliveryTracker, TrackedProducer
from services.stream.shutdown import StopFlag
from services.stream.wiring import redis_store

__all__ = ["DEFAULT_RULES", "ScorerConfig", "build_scorer"]

#: The rule set shipped with the package (copy it to change it; point --rules at the copy).
DEFAULT_RULES = Path(str(resources.files("rules").joinpath("default_rules.yaml")))


@dataclass(frozen=True)
class ScorerConfig:
    group_id: str = "fraudstream-scorer"
    max_batch: int = 256
    max_wait_ms: int = 5
    feature_chunk: int = 64  # transactions per feature-store call (a batch's calls overlap)
    in_flight: int = 4  # batches worked on before the oldest's messages must be acknowledged
    degraded: DegradedPolicy = "retry"
    rules_path: Path = DEFAULT_RULES
    model_alias: str = "champion"
    reload_every_s: float = 5.0


def build_scorer(
    settings: Settings, config: ScorerConfig | None = None, *, stop: StopFlag | None = None
) -> tuple[MicroBatchConsumer[object], ScorerHandler]:
    config = config or ScorerConfig()
    kafka = settings.kafka
    store = redis_store(settings)
    models = ModelSet(settings.mlflow, alias=config.model_alias, min_interval_s=0.0)
    holder = RuleSetHolder(config.rules_path, rule_vocabulary(FEATURE_NAMES), check_interval_s=0.0)
    lists = RefreshingLists(RedisListStore.from_settings(settings.redis))
    pipeline = ScoringPipeline(
        FeatureEngine(store, dedup_ttl_ms=settings.redis.dedup_ttl_s * 1000),
        models,
        holder,
        lists,
        feature_chunk=config.feature_chunk,
    )
    records = DecisionRecords(
        store.client,
        settings.redis.key_prefix,
        settings.redis.dedup_ttl_s * 1000,
        ordered=store,  # answered right after the feature call sent before them
    )
    producer = TrackedProducer(make_producer(kafka))
    tracker = DeliveryTracker()

    def reload() -> None:
        models.poll()
        holder.maybe_reload()
        champion, _ = models.champion
        cold = models.cold_start
        metrics.VERSIONS.info(
            {
                "model": f"{champion.name}/{champion.version}",
                "cold_start_model": f"{cold[0].name}/{cold[0].version}" if cold else "none",
                "rule_set": holder.current.version,
            }
        )

    reload()
    handler = ScorerHandler(
        pipeline,
        records,
        producer,
        tracker,
        kafka.topics,
        degraded=config.degraded,
    )
    loop: MicroBatchConsumer[object] = MicroBatchConsumer(
        make_consumer(kafka, config.group_id),
        producer,
        [kafka.topics.transactions],
        decoders_for(kafka)[0],
        handler,  # type: ignore[arg-type]
        DeadLetterSink(
            producer,
            kafka.topics.dead_letter,
            tracker,
            on_send=lambda letter: metrics.DEAD_LETTERS.labels(letter.stage).inc(),
        ),
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        stop=stop,
        in_flight=config.in_flight,
        prefetch=handler.prefetch,  # type: ignore[arg-type]
        idle=handler.idle,
        closing=handler.closing,
    )

    def report_lag() -> None:
        for (topic, partition), behind in loop.lag().items():
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(behind)

    every_reload = periodic(config.reload_every_s, reload)
    every_lag = periodic(1.0, report_lag)

    def between_batches() -> None:
        every_reload()
        every_lag()

    handler.between_batches = between_batches
    return loop, handler
