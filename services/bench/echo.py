"""A do-nothing consume -> produce app: the latency floor that the scorer is measured against.

It is the scorer's own loop (``MicroBatchConsumer``: the same client settings,
the same micro-batching, deliver-then-commit) with a handler that forwards
each message's bytes and key unchanged. Whatever the scorer adds on top of
this app at the same rate is the project's share of the end-to-end latency;
the rest belongs to the broker and the clients (see shared/FACTS.md: on the
embedded broker a paced stream costs tens of milliseconds by itself).

``fraudstream bench e2e`` starts it as a separate process, like the scorer::

    python -m services.bench.echo --source IN --sink OUT --group-id G
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from confluent_kafka import Message, Producer

from contracts.settings import Settings, load_settings
from services.kafka.clients import make_consumer, make_producer
from services.stream.batch_consumer import BatchResult, MicroBatchConsumer
from services.stream.dead_letter import DeadLetterSink
from services.stream.delivery import DeliveryTracker, TrackedProducer
from services.stream.shutdown import StopFlag, install_signal_handlers

__all__ = ["EchoHandler", "build_echo", "main"]

log = logging.getLogger(__name__)


def _raw(data: bytes) -> bytes:
    return data


class EchoHandler:
    """Forwards every message of the batch to ``sink``; counts what it forwarded."""

    def __init__(
        self, producer: Producer | TrackedProducer, sink: str, tracker: DeliveryTracker
    ) -> None:
        self.producer = producer
        self.sink = sink
        self.tracker = tracker
        self.forwarded = 0

    def __call__(self, batch: list[tuple[Message, bytes]]) -> BatchResult:
        for msg, value in batch:
            self.producer.produce(
                self.sink, value=value, key=msg.key(), on_delivery=self.tracker.report
            )
        self.producer.poll(0)
        self.forwarded += len(batch)
        return BatchResult()


def build_echo(
    settings: Settings,
    *,
    source: str,
    sink: str,
    group_id: str,
    max_batch: int = 256,
    max_wait_ms: int = 5,
    in_flight: int = 4,
    stop: StopFlag | None = None,
) -> tuple[MicroBatchConsumer[bytes], EchoHandler]:
    """The echo loop, wired exactly like ``services.scoring.wiring.build_scorer`` wires Kafka
    (the same batches in flight before a commit waits; nothing to prefetch)."""
    kafka = settings.kafka
    producer = TrackedProducer(make_producer(kafka))
    tracker = DeliveryTracker()
    handler = EchoHandler(producer, sink, tracker)
    loop = MicroBatchConsumer(
        make_consumer(kafka, group_id),
        producer,
        [source],
        _raw,
        handler,
        DeadLetterSink(producer, kafka.topics.dead_letter, tracker),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        stop=stop,
        in_flight=in_flight,
    )
    return loop, handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.bench.echo",
        description="Forward every message of SOURCE to SINK unchanged (a latency floor).",
    )
    parser.add_argument("--source", required=True, help="Topic to consume.")
    parser.add_argument("--sink", required=True, help="Topic to produce to.")
    parser.add_argument("--group-id", required=True, help="Consumer group.")
    parser.add_argument("--max-batch", type=int, default=256, help="Most messages per batch.")
    parser.add_argument("--max-wait-ms", type=int, default=5, help="Longest wait for a batch.")
    parser.add_argument("--idle-exit", type=float, default=None, help="Exit after idle seconds.")
    args = parser.parse_args(argv)
    stop = StopFlag()
    install_signal_handlers(stop)
    loop, handler = build_echo(
        load_settings(),
        source=args.source,
        sink=args.sink,
        group_id=args.group_id,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        stop=stop,
    )
    stats = loop.run(idle_exit_s=args.idle_exit)
    print(f"echo: {stats.messages} consumed, {handler.forwarded} forwarded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
