"""Translate confluent-kafka errors into ``services.exceptions.KafkaError`` at the edge.

Callers above this package never see a vendor exception: every broker
operation either succeeds or raises our ``KafkaError``, whose ``retriable``
comes straight from librdkafka's own verdict, so a retry policy can decide
without knowing error codes (httpx's ``map_exceptions`` does the same for
httpcore).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaError as VendorKafkaError
from confluent_kafka import KafkaException

from services.exceptions import KafkaError

__all__ = ["kafka_errors", "membership_lost", "translate_kafka_error"]


def translate_kafka_error(error: KafkaException | VendorKafkaError, context: str) -> KafkaError:
    """Our ``KafkaError`` for a confluent-kafka exception or error object.

    ``context`` says what was being attempted ("creating topic 'decisions'");
    it leads the message so the one line a user sees explains itself.
    """
    vendor = error.args[0] if isinstance(error, KafkaException) and error.args else error
    if isinstance(vendor, VendorKafkaError):
        detail = f"{vendor.name()}: {vendor.str()}"
        # A fatal error (e.g. a fenced idempotent producer) never heals by retrying.
        fatal = bool(vendor.fatal())
        retriable = bool(vendor.retriable()) and not fatal
        return KafkaError(f"{context}: {detail}", retriable=retriable, fatal=fatal)
    return KafkaError(f"{context}: {vendor}", retriable=False)


@contextmanager
def kafka_errors(context: str) -> Iterator[None]:
    """Run a block, turning any ``KafkaException`` inside it into our ``KafkaError``."""
    try:
        yield
    except KafkaException as exc:
        raise translate_kafka_error(exc, context) from exc


#: The group no longer counts this consumer as the owner of what it commits.
_MEMBERSHIP_LOST = frozenset(
    {
        VendorKafkaError.UNKNOWN_MEMBER_ID,
        VendorKafkaError.ILLEGAL_GENERATION,
        VendorKafkaError.REBALANCE_IN_PROGRESS,
        VendorKafkaError._ASSIGNMENT_LOST,  # noqa: SLF001 - librdkafka names its local codes so
    }
)


def membership_lost(error: KafkaException) -> bool:
    """Whether a commit failed because the consumer was out of its group (a stall
    longer than the session timeout, a rebalance): the next poll rejoins it."""
    vendor = error.args[0] if error.args else None
    return isinstance(vendor, VendorKafkaError) and vendor.code() in _MEMBERSHIP_LOST
