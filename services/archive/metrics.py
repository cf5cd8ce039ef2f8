"""Prometheus metrics of the archiver (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["FILES", "RECORDS", "WRITE_FAILURES"]

RECORDS = Counter(
    "fraudstream_archived_records_total", "Records appended to the decision log", ["kind"]
)
FILES = Counter("fraudstream_archive_files_total", "Parquet files written to the decision log")
WRITE_FAILURES = Counter(
    "fraudstream_archive_write_failures_total", "Batches whose files could not be written (retried)"
)
