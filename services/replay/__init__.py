"""``fraudstream replay``: a history file of transactions -> the live topics.

A pure reader/normaliser (testable without Kafka) and a thin Kafka sink::

    reader.read_table       CSV/Parquet -> DataFrame (CSV as text: ids keep leading zeros)
    normalise.normalise     columns -> Transaction fields (map, preset, derive, defaults),
                            times -> epoch ms, stable sort by event time, optional rebase
    records.iter_rows       each row validated through contracts.codec -> accepted/rejected
    records.interleave_labels   transactions at event time, labels at known_at_ms
    runner.run_replay       policy (fail/skip/dead-letter), pacing, sink, --out, report
    sink.KafkaReplaySink    transactions / labels / dead-letter topics, delivery counts

This package's ``__init__`` stays free of pandas so the command line stays fast;
import the heavier modules by their own names.
"""

from __future__ import annotations

from services.replay.exceptions import ReplayError, ReplayInputError, RowsRejectedError
from services.replay.options import ReplayOptions
from services.replay.presets import PRESETS, Preset

__all__ = [
    "PRESETS",
    "Preset",
    "ReplayError",
    "ReplayInputError",
    "ReplayOptions",
    "RowsRejectedError",
]
