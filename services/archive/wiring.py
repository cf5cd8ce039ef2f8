"""Build the archiver process from settings: decisions + labels -> the decision log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.settings import Settings
from services.archive.handler import ArchiveHandler, decode_archived
from services.archive.writer import LogWriter
from services.kafka.clients import make_consumer, make_producer
from services.stream.batch_consumer import MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.delivery import DeliveryTracker
from services.stream.shutdown import StopFlag

__all__ = ["ArchiverConfig", "build_archiver"]


@dataclass(frozen=True)
class ArchiverConfig:
    group_id: str = "fraudstream-archiver"
    #: None = ``settings.retrain.decision_log_dir``.
    log_dir: Path | None = None
    # Large, slow batches on purpose: each batch is a file per day, and fewer,
    # bigger Parquet files read faster. Latency does not matter here.
    max_batch: int = 20_000
    max_wait_ms: int = 10_000


def build_archiver(
    settings: Settings, config: ArchiverConfig | None = None, *, stop: StopFlag | None = None
) -> tuple[MicroBatchConsumer[object], ArchiveHandler]:
    """The archiver loop (Kafka connects lazily) and its handler (for its counts)."""
    config = config or ArchiverConfig()
    kafka = settings.kafka
    handler = ArchiveHandler(LogWriter(config.log_dir or settings.retrain.decision_log_dir))
    producer = make_producer(kafka)
    loop: MicroBatchConsumer[object] = MicroBatchConsumer(
        make_consumer(kafka, config.group_id),
        producer,
        [kafka.topics.decisions, kafka.topics.labels],
        decode_archived,
        handler,  # type: ignore[arg-type]
        DeadLetterSink(producer, kafka.topics.dead_letter, DeliveryTracker()),
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        stop=stop,
    )
    return loop, handler
