"""The archiver's batch handler: decisions and labels from Kafka into the decision log.

It runs inside ``services.stream.batch_consumer.MicroBatchConsumer``, which
commits a batch's offsets only after the handler returns, so the order is
always: files durable, then offsets committed. A write that fails (disk full,
a volume gone) raises ``Retriable``: the batch is kept, retried with backoff,
and nothing is committed meanwhile. A crash after the files and before the
commit archives the batch twice; readers drop the repeats.

Anything on the two topics that is not a ``Decision`` or a ``Label`` is
refused at decode and dead-lettered with the reason.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Message

from contracts.codec import decode
from contracts.errors import ContractError
from contracts.events import Decision, Label
from services.archive import metrics
from services.archive.writer import LogWriter, Provenance, decisions_table, labels_table
from services.stream.batch_consumer import BatchResult, Retriable

__all__ = ["ArchiveHandler", "decode_archived"]

log = logging.getLogger(__name__)


def decode_archived(data: bytes) -> Decision | Label:
    """A decision or a label; any other event kind is a ``ContractError`` (dead-lettered)."""
    event = decode(data)
    if not isinstance(event, Decision | Label):
        raise ContractError(
            f"a {type(event).__name__} does not belong in the decision log", field="$.type"
        )
    return event


class ArchiveHandler:
    """Batch handler: one durable Parquet file per kind and day, before the commit."""

    def __init__(self, writer: LogWriter) -> None:
        self.writer = writer
        self.decisions = 0
        self.labels = 0

    def __call__(self, batch: list[tuple[Message, Decision | Label]]) -> BatchResult:
        decisions: list[tuple[Decision, Provenance]] = []
        labels: list[tuple[Label, Provenance]] = []
        for msg, event in batch:
            source = Provenance(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            if isinstance(event, Decision):
                decisions.append((event, source))
            else:
                labels.append((event, source))
        files_before = self.writer.files
        try:
            now = int(time.time() * 1000)
            self.writer.append("decisions", decisions_table(decisions, now), "event_time_ms")
            self.writer.append("labels", labels_table(labels, now), "known_at_ms")
        except OSError as exc:
            metrics.WRITE_FAILURES.inc()
            raise Retriable(f"decision log not writable: {exc}") from exc
        self.decisions += len(decisions)
        self.labels += len(labels)
        metrics.RECORDS.labels("decisions").inc(len(decisions))
        metrics.RECORDS.labels("labels").inc(len(labels))
        metrics.FILES.inc(self.writer.files - files_before)
        log.debug("archived %d decisions, %d labels", len(decisions), len(labels))
        return BatchResult()
