"""Read a whole topic from the beginning, for tools and tests (``topics count``/``tail``).

Completion is decided by *idleness*, never by high watermarks alone: the
embedded broker under-reports them (a partition with 74,998 readable records
reported 74,706), so "end" means no record arrived for ``idle_ms``. But the
idle clock only runs once every partition has been read up to the watermark
it reported at the start: a first fetch slower than ``idle_ms`` (0.5-1 s on
the embedded broker) used to end a read with nothing and no warning. A read
that makes no progress towards those watermarks for ``_STALL_S`` stops with a
warning naming what it did not reach. Count what you consume.

Transport errors a consumer reports while librdkafka reconnects (broker down
for a moment, a timeout) are logged and the read goes on; others raise.

The reader assigns partitions directly (no group membership): it joins no
group, commits nothing and so never disturbs the real consumers of a topic.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka import KafkaError as VendorKafkaError

from contracts.settings import KafkaSettings
from services.exceptions import KafkaError
from services.kafka.clients import make_consumer
from services.kafka.errors import kafka_errors, translate_kafka_error

__all__ = ["Record", "TopicReader", "read_topic"]

log = logging.getLogger(__name__)

_PARTITION_EOF: int = VendorKafkaError._PARTITION_EOF  # noqa: SLF001  # librdkafka's public code
# librdkafka's own codes for a connection it is retrying: not the read's failure.
_TRANSIENT: frozenset[int] = frozenset(
    {
        VendorKafkaError._TRANSPORT,  # noqa: SLF001
        VendorKafkaError._ALL_BROKERS_DOWN,  # noqa: SLF001
        VendorKafkaError._TIMED_OUT,  # noqa: SLF001
    }
)
#: A read waiting for the start's watermarks gives up after this long without progress.
_STALL_S = 15.0
# Short polls keep the idle clock honest without spinning.
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed message, detached from the client that read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None
    #: Message headers in order, e.g. the reason a record was dead-lettered.
    headers: tuple[tuple[str, bytes | None], ...] = ()


class TopicReader:
    """Reads every partition of one topic from the earliest offset.

    Use as a context manager; ``read`` drains until idle, ``follow`` then keeps
    yielding what arrives. Both continue from where the previous call stopped.
    """

    def __init__(self, settings: KafkaSettings, topic: str, *, metadata_timeout_s: float = 10.0):
        self._topic = topic
        self._consumer: Consumer = make_consumer(
            settings,
            group_id=f"fraudstream-reader-{uuid.uuid4().hex[:12]}",
            # Report corrupt records as errors instead of passing them on.
            **{"check.crcs": True},
        )
        try:
            self._partitions = self._assign_all(metadata_timeout_s)
            self._ends = self._watermarks(metadata_timeout_s)
        except BaseException:
            self._consumer.close()
            raise
        # The next offset to read per partition (what was read so far).
        self._next: dict[int, int] = {}

    @property
    def partitions(self) -> int:
        return self._partitions

    def _assign_all(self, timeout_s: float) -> int:
        with kafka_errors(f"reading metadata of topic {self._topic!r}"):
            # Consumer metadata requests do not auto-create topics; admin ones may.
            metadata = self._consumer.list_topics(self._topic, timeout=timeout_s)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            reason = topic.error.str() if topic is not None and topic.error else "no partitions"
            raise KafkaError(f"topic {self._topic!r} cannot be read: {reason}")
        self._consumer.assign(
            [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in sorted(topic.partitions)]
        )
        return len(topic.partitions)

    def _watermarks(self, timeout_s: float) -> dict[int, int]:
        """Each partition's high watermark now: what a read waits for before idling."""
        ends: dict[int, int] = {}
        for partition in range(self._partitions):
            with kafka_errors(f"reading the end offsets of topic {self._topic!r}"):
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), timeout=timeout_s
                )
            if high > low:
                ends[partition] = high
        return ends

    def _behind(self) -> dict[int, int]:
        """Partitions not yet read up to the watermark of the start, and by how much."""
        return {
            partition: end - self._next.get(partition, 0)
            for partition, end in self._ends.items()
            if self._next.get(partition, 0) < end
        }

    def read(
        self,
        *,
        idle_ms: int = 1000,
        max_records: int | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[Record]:
        """Yield records until none arrived for ``idle_ms``.

        ``max_records`` stops as soon as that many were read (the idle rule then
        does not apply, so a slow producer is waited for up to ``timeout_s``).
        ``timeout_s`` bounds the whole call.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last_activity = time.monotonic()
        seen = 0
        while max_records is None or seen < max_records:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if max_records is None and self._done_waiting(now - last_activity, idle_ms):
                return
            record = self._poll_one(_POLL_S)
            if record is None:
                continue
            last_activity = time.monotonic()
            self._next[record.partition] = record.offset + 1
            seen += 1
            yield record

    def _done_waiting(self, idle_s: float, idle_ms: int) -> bool:
        if idle_s * 1000 < idle_ms:
            return False
        behind = self._behind()
        if not behind:
            return True
        if idle_s < _STALL_S:
            return False  # records known to exist have not arrived yet: keep reading
        log.warning(
            "reading %r: nothing arrived for %.0f s with records left below the start's end "
            "offsets (partition: records) %s; stopping",
            self._topic,
            idle_s,
            behind,
        )
        return True

    def follow(self) -> Iterator[Record]:
        """Yield records as they arrive, forever (stop by breaking out or Ctrl-C)."""
        while True:
            record = self._poll_one(0.5)
            if record is not None:
                yield record

    def _poll_one(self, timeout_s: float) -> Record | None:
        message = self._consumer.poll(timeout_s)
        if message is None:
            return None
        error = message.error()
        if error is not None:
            # End-of-partition events only appear when a caller enables them; not a failure.
            if error.code() == _PARTITION_EOF:
                return None
            if error.code() in _TRANSIENT and not error.fatal():
                log.warning("reading %r: %s (librdkafka retries)", self._topic, error.str())
                return None
            raise translate_kafka_error(error, f"reading topic {self._topic!r}")
        return Record(
            topic=self._topic,
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            key=message.key(),
            value=message.value() or b"",
            timestamp_ms=_timestamp_ms(message.timestamp()),
            headers=_headers(message.headers()),
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _headers(
    raw: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> tuple[tuple[str, bytes | None], ...]:
    pairs = raw.items() if isinstance(raw, dict) else (raw or ())
    return tuple((key, value.encode() if isinstance(value, str) else value) for key, value in pairs)


def _timestamp_ms(timestamp: tuple[int, int]) -> int | None:
    kind, value = timestamp
    # TIMESTAMP_NOT_AVAILABLE is 0; anything else carries a real epoch-ms value.
    return value if kind != 0 and value >= 0 else None


def read_topic(
    settings: KafkaSettings,
    topic: str,
    *,
    idle_ms: int = 1000,
    max_records: int | None = None,
    timeout_s: float | None = None,
) -> list[Record]:
    """Every record of ``topic`` from the beginning until idle (see ``TopicReader.read``)."""
    with TopicReader(settings, topic) as reader:
        return list(reader.read(idle_ms=idle_ms, max_records=max_records, timeout_s=timeout_s))
