"""Errors of the services layer (processes, Kafka and the local stack).

Hierarchy::

    FraudstreamError
    └── ServiceError
        ├── KafkaError          a broker operation failed (translated from confluent-kafka)
        └── StackError          the local stack could not start, stop or be found
"""

from __future__ import annotations

from contracts.errors import FraudstreamError

__all__ = ["KafkaError", "ServiceError", "StackError"]


class ServiceError(FraudstreamError):
    """Root of the services layer's errors."""


class KafkaError(ServiceError):
    """A Kafka operation failed. ``retriable`` says whether trying again may help;
    ``fatal``: the client itself is unusable (librdkafka's verdict, e.g. a fenced
    idempotent producer) and only a new one can go on."""

    def __init__(self, message: str, *, retriable: bool = False, fatal: bool = False) -> None:
        self.retriable = retriable
        self.fatal = fatal
        super().__init__(message)


class StackError(ServiceError):
    """The embedded local stack (broker, Redis) could not be started, stopped or found."""
