"""Everything that speaks Kafka: client factories, topic admin, error translation."""

from __future__ import annotations
