"""Prometheus metrics of the LLM worker (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

__all__ = [
    "ANALYSES",
    "BATCH_SECONDS",
    "CPU_YIELD_SECONDS",
    "EXPLANATIONS",
    "QUEUE_DEPTH",
    "REQUEST_SECONDS",
    "VERSIONS",
]

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0)

EXPLANATIONS = Counter(
    "fraudstream_llm_explanations_total",
    "Explanations written, by source (model/template) and fallback reason",
    ["source", "reason"],
)
ANALYSES = Counter(
    "fraudstream_llm_analyses_total", "Message analyses written", ["source", "label"]
)
REQUEST_SECONDS = Histogram(
    "fraudstream_llm_request_seconds",
    "From consumption to answer, per request",
    ["task"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SECONDS = Histogram(
    "fraudstream_llm_batch_seconds", "Model time per batch", ["task"], buckets=_LATENCY_BUCKETS
)
QUEUE_DEPTH = Gauge("fraudstream_llm_queue_depth", "Requests waiting for the model")
VERSIONS = Info("fraudstream_llm_versions", "Adapter versions being served")
CPU_YIELD_SECONDS = Counter(
    "fraudstream_llm_cpu_yield_seconds_total",
    "Seconds the model paused between steps because other processes wanted the CPU",
)
