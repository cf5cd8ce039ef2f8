"""Long-running Kafka consumers: the micro-batch loop and the services built on it."""

from __future__ import annotations
