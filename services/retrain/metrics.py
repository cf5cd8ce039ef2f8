"""Prometheus metrics of the retrainer (served on ``fraudstream run retrainer --metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Enum, Gauge

__all__ = [
    "AVERAGE_PRECISION",
    "DRIFTED",
    "FEATURE_PSI",
    "LAST_DURATION",
    "LAST_RESULT",
    "LAST_RUN",
    "LAST_SUCCESS",
    "P_VALUE",
    "RESULTS",
    "RUNS",
    "RUN_LOG_FAILURES",
    "SCORE_PSI",
    "forget_last_run",
]

#: What the last run did (``refused`` = the leak check or a fair comparison refused it).
RESULTS = ("promoted", "kept", "not_applied", "dry_run", "refused", "failed")

FEATURE_PSI = Gauge(
    "fraudstream_retrain_feature_psi",
    "PSI of each feature, recent slice vs training window (last run)",
    ["feature"],
)
SCORE_PSI = Gauge(
    "fraudstream_retrain_score_psi", "PSI of the served score, recent slice vs training window"
)
DRIFTED = Gauge(
    "fraudstream_retrain_drifted", "Features (and the score) above the PSI threshold (last run)"
)
AVERAGE_PRECISION = Gauge(
    "fraudstream_retrain_average_precision",
    "PR-AUC on the recent slice (last run)",
    ["model"],
)
P_VALUE = Gauge(
    "fraudstream_retrain_p_value", "Paired-bootstrap p-value of the PR-AUC gain (last run)"
)
LAST_RUN = Gauge(
    "fraudstream_retrain_last_run_timestamp_seconds", "When the last run finished (Unix time)"
)
LAST_SUCCESS = Gauge(
    "fraudstream_retrain_last_success_timestamp_seconds",
    "When the last run that reached a verdict finished (Unix time)",
)
LAST_DURATION = Gauge("fraudstream_retrain_last_duration_seconds", "How long the last run took")
LAST_RESULT = Enum("fraudstream_retrain_last_result", "What the last run did", states=list(RESULTS))
RUNS = Counter("fraudstream_retrain_runs_total", "Retraining runs by result", ["result"])
RUN_LOG_FAILURES = Counter(
    "fraudstream_retrain_run_log_failures_total",
    "Runs whose verdict was applied but whose MLflow `retrain` run could not be logged",
)


def forget_last_run() -> None:
    """Clear what the previous run exported, at the start of a run.

    A run sets only what it measured (no champion: no champion PR-AUC; no test:
    no p-value; failed early: no drift): left alone, the gauges would go on
    showing an older run's numbers as the last run's. Labelled series are
    removed; a gauge without labels cannot be, so it reads NaN.
    """
    for labelled in (FEATURE_PSI, AVERAGE_PRECISION):
        labelled.clear()
    for gauge in (SCORE_PSI, DRIFTED, P_VALUE):
        gauge.set(float("nan"))
