"""Send simulated events to Kafka at a target rate.

Routing (topic names from ``settings.kafka.topics``):

* ``Transaction`` -> ``transactions``, key ``card_id``
* ``UserMessage`` -> ``user_messages``, key ``customer_id``
* ``Label``       -> ``labels``, key ``card_id`` (``tx_id`` when the card is unknown)

Values are ``contracts.codec.encode`` JSON. Delivery is checked, never
assumed: the delivery callback counts every failure by error name, the final
``flush`` counts what never got an answer, and the report carries both.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer
from tqdm import tqdm

from contracts.codec import encode
from contracts.events import Label, Transaction, UserMessage
from contracts.settings import KafkaSettings
from services.kafka.clients import make_producer
from services.kafka.errors import kafka_errors, translate_kafka_error
from services.simulator.sinks.pacing import TokenBucket
from services.simulator.summary import SimulationSummary
from services.simulator.world import SimulatedEvent

__all__ = ["KafkaRunReport", "KafkaSink", "stream_to_kafka"]

#: Events sent per token wait: ~2 ms worth at the target rate, so pacing costs
#: a few hundred sleeps per second at most, not one per event.
_WAITS_PER_SECOND = 500


@dataclass
class KafkaRunReport:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    #: Still unacknowledged when the final flush timed out.
    undelivered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.undelivered == 0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


class KafkaSink:
    """Produces events to their topics and counts what the broker acknowledged."""

    def __init__(self, settings: KafkaSettings, producer: Producer | None = None) -> None:
        if producer is None:
            with kafka_errors("creating the simulator's producer"):
                producer = make_producer(settings)
        self.producer = producer
        topics = settings.topics
        self._topics = {
            Transaction: topics.transactions,
            UserMessage: topics.user_messages,
            Label: topics.labels,
        }
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()

    def send(self, event: Transaction | UserMessage | Label) -> None:
        if isinstance(event, Transaction):
            key = event.card_id
        elif isinstance(event, UserMessage):
            key = event.customer_id
        else:
            key = event.card_id or event.tx_id
        topic = self._topics[type(event)]
        payload = encode(event)
        while True:
            try:
                self.producer.produce(topic, payload, key.encode(), on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self.producer.poll(0.05)
            except KafkaException as exc:
                raise translate_kafka_error(exc, f"producing to {topic!r}") from exc
        self.sent += 1

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        """Wait for acknowledgements; the number of messages still unacknowledged."""
        remaining: int = self.producer.flush(timeout_s)
        return remaining

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        name = err.name() if hasattr(err, "name") else str(err)
        self.errors[str(name)] += 1


def stream_to_kafka(
    items: Iterator[SimulatedEvent],
    sink: KafkaSink,
    summary: SimulationSummary,
    *,
    rate: float | None,
    seconds: float | None = None,
    count: int | None = None,
    flush_timeout_s: float = 30.0,
    progress: bool = True,
) -> KafkaRunReport:
    """Send ``items`` at ``rate`` events/s (None: as fast as possible).

    Stops after ``count`` events, after ``seconds`` of wall-clock time, when the
    items run out, or on Ctrl-C - then flushes and reports, never silently.
    """
    batch = 256 if rate is None else max(1, int(rate / _WAITS_PER_SECOND))
    if count is not None:
        total: int | None = count
    elif seconds is not None and rate is not None:
        total = int(rate * seconds)
    else:
        total = None
    # Build the world (population, first day's plan) before the clock starts, so
    # the setup does not eat into the first second's budget.
    first = next(items, None)
    items = itertools.chain(() if first is None else (first,), items)
    bucket = None if rate is None else TokenBucket(rate, burst=max(batch, rate * 0.25))
    report = KafkaRunReport()
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds
    exhausted = False
    with tqdm(total=total, unit="ev", desc="simulate", disable=not progress) as bar:
        try:
            while not exhausted:
                if count is not None and sink.sent >= count:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                n = batch if count is None else min(batch, count - sink.sent)
                if bucket is not None:
                    bucket.take(n)
                done = 0
                for _ in range(n):
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                        break
                    sink.send(item.event)
                    summary.observe(item)
                    done += 1
                sink.poll()
                bar.update(done)
        except KeyboardInterrupt:
            report.interrupted = True
    report.elapsed_s = time.monotonic() - started
    report.undelivered = sink.flush(flush_timeout_s)
    report.sent = sink.sent
    report.delivered = sink.delivered
    report.failed = sink.failed
    report.errors = dict(sink.errors)
    return report
