"""The retraining job: decision log -> challenger -> judged against the champion -> maybe promoted.

job.py        one run: read the log, snapshot at the cutoff, drift report, ``models.retrain``
schedule.py   ``fraudstream run retrainer --every 24h``: runs on a schedule, stops on SIGTERM
metrics.py    Prometheus gauges (PSI per feature, score PSI, last run, last result)
"""

from __future__ import annotations

__all__: list[str] = []
