"""``fraudstream topics``: create, list, count and tail the project's Kafka topics."""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from services.kafka.reader import Record

__all__ = ["topics"]


@click.group()
def topics() -> None:
    """Create, list, count and read the Kafka topics.

    The broker comes from the settings (the local stack's stack.toml, a config
    file, or FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS).
    """


@topics.command()
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the broker to come up first (init containers start early).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds the broker may take to create the topics.",
)
def ensure(wait_s: float, timeout_s: float) -> None:
    """Create every configured topic that does not exist yet.

    Partitions, replication factor and retention come from the settings
    (kafka.partitions, kafka.replication_factor, kafka.retention_ms). Existing
    topics are left unchanged.
    """
    from contracts.settings import load_settings
    from services.kafka.admin import ensure_topics, wait_for_broker

    settings = load_settings().kafka
    if wait_s > 0:
        wait_for_broker(settings, timeout_s=wait_s)
    created = ensure_topics(settings, timeout_s=timeout_s)
    for name, was_created in created.items():
        click.echo(f"{name:<32} {'created' if was_created else 'exists'}")


@topics.command(name="list")
@click.option("--internal", is_flag=True, help="Also show internal topics (__consumer_offsets).")
def list_(internal: bool) -> None:
    """List the broker's topics with their partition counts.

    Configured topics that are missing are listed too, marked `missing`.
    """
    from contracts.settings import load_settings
    from services.kafka.admin import list_topics

    settings = load_settings().kafka
    found = list_topics(settings, include_internal=internal)
    configured = set(settings.topics.all())
    for name, partitions in found.items():
        mark = "" if name in configured else "  (not configured)"
        click.echo(f"{name:<32} {partitions:>4} partitions{mark}")
    for name in sorted(configured - found.keys()):
        click.echo(f"{name:<32}    - missing (run `fraudstream topics ensure`)")


@topics.command()
@click.argument("topic")
@click.option(
    "--idle-ms",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Stop after no message arrived for this long.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def count(topic: str, idle_ms: int, as_json: bool) -> None:
    """Count TOPIC's messages, reading from the beginning until idle.

    Counts what it consumes (high watermarks are not trusted: some brokers
    under-report them) and how many of those decode as valid fraudstream events.
    Joins no consumer group and commits nothing.
    """
    from tqdm import tqdm

    from contracts.errors import ContractError
    from contracts.settings import load_settings
    from services.kafka.reader import TopicReader

    messages = valid = 0
    with (
        TopicReader(load_settings().kafka, topic) as reader,
        tqdm(desc=topic, unit=" msg", disable=None, leave=False) as progress,
    ):
        for record in reader.read(idle_ms=idle_ms):
            messages += 1
            progress.update()
            try:
                _decode(record)
            except ContractError:
                continue
            valid += 1
    if as_json:
        summary = {"topic": topic, "messages": messages, "valid": valid}
        click.echo(json.dumps({**summary, "invalid": messages - valid}))
        return
    click.echo(f"{messages}")
    click.echo(f"valid events: {valid}, invalid: {messages - valid}")


@topics.command()
@click.argument("topic")
@click.option(
    "-n",
    "--lines",
    "last",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the latest messages to print (in the order consumed across partitions).",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new messages until Ctrl-C.")
@click.option(
    "--idle-ms",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="The topic counts as read to its end after no message arrived for this long.",
)
def tail(topic: str, last: int, follow: bool, idle_ms: int) -> None:
    """Print TOPIC's latest events as JSON lines, one per line.

    Messages that are not valid events are reported on stderr with their
    partition, offset and the reason, never silently skipped.
    """
    from contracts.settings import load_settings
    from services.kafka.reader import TopicReader

    with TopicReader(load_settings().kafka, topic) as reader:
        latest: deque[Record] = deque(maxlen=last)
        latest.extend(reader.read(idle_ms=idle_ms))
        for record in latest:
            _print_record(record)
        if follow:
            try:
                for record in reader.follow():
                    _print_record(record)
            except KeyboardInterrupt:
                return


def _decode(record: Record) -> str:
    """The event re-encoded as compact JSON; ``ContractError`` when it is not one."""
    from contracts.codec import decode, encode

    return encode(decode(record.value)).decode("utf-8")


def _print_record(record: Record) -> None:
    from contracts.errors import ContractError

    reason = _header(record, "error.reason")
    if reason is not None:
        # A dead letter: why it was parked, then its bytes as they came.
        field = _header(record, "error.field")
        where = f" at {field}" if field else ""
        click.echo(f"# dead letter ({_header(record, 'error.stage')}): {reason}{where}")
        click.echo(record.value.decode("utf-8", "replace"))
        return
    try:
        line = _decode(record)
    except ContractError as exc:
        click.echo(
            f"partition {record.partition} offset {record.offset}: not a valid event: {exc}",
            err=True,
        )
        return
    click.echo(line)


def _header(record: Record, name: str) -> str | None:
    for key, value in record.headers:
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None
