"""Topic administration: create the configured topics, list them, wait for a broker.

Topics are always created with explicit configs (``retention.ms``,
``cleanup.policy``): some brokers (the embedded tansu) report only configs
that were set at creation, and clients that read them back (Quix Streams)
fail on a missing key. Creation is idempotent: a topic that already exists is
left exactly as it is (its partition count is never changed behind the
operator's back; a mismatch is logged).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext

from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

# The documented `confluent_kafka.admin.NewTopic` is this same class, but only the
# C extension's stub declares it for the type checker.
from confluent_kafka.cimpl import NewTopic

from contracts.settings import KafkaSettings
from services.exceptions import KafkaError
from services.kafka.clients import make_admin
from services.kafka.errors import kafka_errors, translate_kafka_error

__all__ = [
    "delete_topics",
    "ensure_topics",
    "list_topics",
    "topic_config",
    "wait_for_broker",
]

log = logging.getLogger(__name__)


def topic_config(settings: KafkaSettings) -> dict[str, str]:
    """The configs every fraudstream topic is created with (all explicit, see module doc)."""
    return {
        "retention.ms": str(settings.retention_ms),
        # Every topic is an event log; nothing is keyed-latest-value, so no compaction.
        "cleanup.policy": "delete",
    }


def ensure_topics(
    settings: KafkaSettings,
    names: Iterable[str] | None = None,
    *,
    timeout_s: float = 30.0,
    admin: AdminClient | None = None,
) -> dict[str, bool]:
    """Create ``names`` (default: every configured topic) unless they exist.

    Returns ``{topic: created}``: True when this call created it, False when it
    was already there. Any other failure raises ``KafkaError``.
    """
    wanted = list(dict.fromkeys(names if names is not None else settings.topics.all()))
    if not wanted:
        return {}
    with _admin_for(settings, admin) as client:
        return _create(settings, wanted, client, timeout_s)


def _create(
    settings: KafkaSettings, wanted: list[str], admin: AdminClient, timeout_s: float
) -> dict[str, bool]:
    new_topics = [
        NewTopic(
            name,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=topic_config(settings),
        )
        for name in wanted
    ]
    with kafka_errors("requesting topic creation"):
        futures = admin.create_topics(
            new_topics, operation_timeout=timeout_s, request_timeout=timeout_s
        )
    created: dict[str, bool] = {}
    for name in wanted:
        created[name] = _await_creation(name, futures[name], timeout_s)
    existing = [name for name, was_created in created.items() if not was_created]
    if existing:
        _warn_on_partition_mismatch(settings, existing, admin, timeout_s)
    return created


def _await_creation(name: str, future: concurrent.futures.Future[None], timeout_s: float) -> bool:
    try:
        # A little slack over the broker-side timeout so the broker's answer wins.
        future.result(timeout=timeout_s + 5.0)
    except KafkaException as exc:
        vendor = exc.args[0] if exc.args else None
        if _is(vendor, VendorKafkaError.TOPIC_ALREADY_EXISTS):
            return False
        raise translate_kafka_error(exc, f"creating topic {name!r}") from exc
    except concurrent.futures.TimeoutError as exc:
        raise KafkaError(
            f"creating topic {name!r}: no answer from the broker in {timeout_s:.0f} s",
            retriable=True,
        ) from exc
    return True


def _admin_for(
    settings: KafkaSettings, admin: AdminClient | None
) -> AbstractContextManager[AdminClient]:
    """A caller's client as is, or a new one closed on exit.

    Closing is explicit on purpose: a client kept alive by a reference cycle
    (a future's exception traceback) holds its broker connection open, and
    tansu's graceful shutdown waits ~5 s for such connections.
    """
    return nullcontext(admin) if admin is not None else make_admin(settings)


def _is(vendor: object, code: int) -> bool:
    return isinstance(vendor, VendorKafkaError) and vendor.code() == code


def _warn_on_partition_mismatch(
    settings: KafkaSettings, names: list[str], admin: AdminClient, timeout_s: float
) -> None:
    partitions = list_topics(settings, timeout_s=timeout_s, admin=admin)
    for name in names:
        found = partitions.get(name)
        if found is not None and found != settings.partitions:
            log.warning(
                "topic %r exists with %d partitions, configured %d; left unchanged "
                "(add partitions with the broker's own tools if that is intended)",
                name,
                found,
                settings.partitions,
            )


def list_topics(
    settings: KafkaSettings,
    *,
    timeout_s: float = 10.0,
    admin: AdminClient | None = None,
    include_internal: bool = False,
) -> dict[str, int]:
    """``{topic: partition count}`` of every topic on the broker, sorted by name.

    Internal topics (``__consumer_offsets`` and the like) are left out unless asked for.
    """
    with _admin_for(settings, admin) as client, kafka_errors("listing topics"):
        # No topic argument: asking for one by name makes some brokers auto-create it.
        metadata = client.list_topics(timeout=timeout_s)
    topics: dict[str, int] = {}
    for name in sorted(metadata.topics):
        if name.startswith("__") and not include_internal:
            continue
        topics[name] = len(metadata.topics[name].partitions)
    return topics


def delete_topics(
    settings: KafkaSettings, names: Iterable[str], *, timeout_s: float = 30.0
) -> None:
    """Delete ``names``; a topic that does not exist is not an error."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    with make_admin(settings) as admin:
        _delete(wanted, admin, timeout_s)


def _delete(wanted: list[str], admin: AdminClient, timeout_s: float) -> None:
    with kafka_errors("requesting topic deletion"):
        futures = admin.delete_topics(
            wanted, operation_timeout=timeout_s, request_timeout=timeout_s
        )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s + 5.0)
        except KafkaException as exc:
            vendor = exc.args[0] if exc.args else None
            if _is(vendor, VendorKafkaError.UNKNOWN_TOPIC_OR_PART):
                continue
            raise translate_kafka_error(exc, f"deleting topic {name!r}") from exc
        except concurrent.futures.TimeoutError as exc:
            raise KafkaError(
                f"deleting topic {name!r}: no answer from the broker in {timeout_s:.0f} s",
                retriable=True,
            ) from exc


def wait_for_broker(settings: KafkaSettings, *, timeout_s: float = 30.0) -> int:
    """Block until the cluster answers a metadata request; return its broker count.

    For init containers and scripts that start before the broker is up. Raises a
    retriable ``KafkaError`` when the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    last_error: KafkaException | None = None
    with make_admin(settings) as admin:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                metadata = admin.list_topics(timeout=min(remaining, 2.0))
            except KafkaException as exc:
                last_error = exc
                time.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
                continue
            if metadata.brokers:
                return len(metadata.brokers)
    context = f"broker {settings.bootstrap_servers} not reachable within {timeout_s:.0f} s"
    if last_error is not None:
        error = translate_kafka_error(last_error, context)
        raise KafkaError(str(error), retriable=True) from last_error
    raise KafkaError(context, retriable=True)
