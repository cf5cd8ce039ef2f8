"""The decision-log archive: decisions (features as served) and labels, as Parquet, for retraining.

``fraudstream run archiver`` consumes ``decisions`` and ``labels`` and appends
them to ``settings.retrain.decision_log_dir`` (layout in ``layout.py``);
``reader.read_decision_log`` reads them back for ``fraudstream retrain``.

    layout.py      directories, file names, columns
    writer.py      batches -> Arrow tables -> durable Parquet files (tmp + fsync + rename)
    handler.py     the Kafka batch handler (write, then the loop commits)
    reader.py      the log as DataFrames, days after a cutoff skipped
    wiring.py      the archiver process from settings
    metrics.py     Prometheus counters (records, files, write failures)
    exceptions.py  ArchiveError
"""

from __future__ import annotations

__all__: list[str] = []
