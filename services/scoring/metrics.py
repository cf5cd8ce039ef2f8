"""Prometheus metrics of the scorer (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

__all__ = [
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "DECISIONS",
    "DEGRADED_BATCHES",
    "REDELIVERED",
    "STAGE_SECONDS",
    "TRANSACTIONS",
    "VERSIONS",
]

_STAGE_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

TRANSACTIONS = Counter("fraudstream_transactions_total", "Transactions consumed by the scorer")
DECISIONS = Counter("fraudstream_decisions_total", "Decisions emitted", ["action"])
DEAD_LETTERS = Counter(
    "fraudstream_dead_letters_total",
    "Records sent to the dead-letter topic, by the step that refused them",
    ["stage"],
)
REDELIVERED = Counter(
    "fraudstream_redelivered_total", "Transactions seen again (their first decision re-emitted)"
)
DEGRADED_BATCHES = Counter(
    "fraudstream_degraded_batches_total", "Batches decided by the degraded policy"
)
STAGE_SECONDS = Histogram(
    "fraudstream_stage_seconds", "Time per micro-batch stage", ["stage"], buckets=_STAGE_BUCKETS
)
BATCH_SIZE = Histogram(
    "fraudstream_batch_size", "Transactions per micro-batch", buckets=(1, 4, 16, 64, 256, 1024)
)
CONSUMER_LAG = Gauge(
    "fraudstream_consumer_lag", "Messages behind the partition end", ["topic", "partition"]
)
VERSIONS = Info("fraudstream_versions", "Model and rule-set versions being served")
