"""``fraudstream run retrainer``: one retraining run now, then one every interval, until stopped.

Each run takes a fresh cutoff (the newest archived decision), writes its
drift report, exports it as Prometheus gauges, then trains and judges. A run
that fails (no log yet, a leak refused, MLflow down) is logged and counted;
the schedule goes on. SIGTERM during the wait stops at once; during a run it
stops after the run, so the registry is never left half-updated.
"""

from __future__ import annotations

import logging
import re
import time

from contracts.errors import ConfigError, FraudstreamError
from contracts.settings import Settings
from models.drift import DriftReport
from models.exceptions import LeakError, PromotionError
from services.retrain import metrics
from services.retrain.job import JobResult, RetrainRequest, finish_run, prepare_run
from services.stream.shutdown import StopFlag

__all__ = ["Retrainer", "parse_duration"]

log = logging.getLogger(__name__)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in ``30m``, ``24h``, ``1h30m``, ``90s``, ``1d``; ``ConfigError`` otherwise."""
    compact = text.strip().lower().replace(" ", "")
    total, position = 0.0, 0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact) or total <= 0:
        raise ConfigError(
            f"not a duration: {text!r} (use a number and a unit: 30m, 24h, 1h30m, 90s, 1d)"
        )
    return total


class Retrainer:
    """Runs the retraining job every ``every_s`` seconds; ``last`` is the latest result."""

    def __init__(
        self,
        settings: Settings,
        request: RetrainRequest,
        *,
        every_s: float,
        stop: StopFlag | None = None,
    ) -> None:
        self.settings = settings
        self.request = request
        self.every_s = every_s
        self.stop = stop or StopFlag()
        self.last: JobResult | None = None
        self.last_drift: DriftReport | None = None
        self.results: list[str] = []

    def run(self, *, once: bool = False) -> list[str]:
        """Run now, then every interval until stopped (or just once); the results, in order."""
        while not self.stop.is_set():
            self.run_once()
            if once or self.stop.wait(self.every_s):
                break
        return self.results

    def run_once(self) -> str:
        """One run and its result (see ``metrics.RESULTS``); project errors are logged."""
        started = time.perf_counter()
        self.last, self.last_drift = None, None
        metrics.forget_last_run()
        try:
            prepared = prepare_run(self.request)
            self.last_drift = prepared.plan.drift
            _export_drift(prepared.plan.drift)
            job = finish_run(self.settings, self.request, prepared, progress=False)
        except (LeakError, PromotionError) as exc:
            result = "refused"
            log.error("retraining refused: %s", exc)
        except (FraudstreamError, OSError) as exc:
            result = "failed"
            log.error("retraining failed: %s", exc)
        else:
            self.last = job
            result = job.outcome.applied.replace(" ", "_")
            _export_verdict(job)
            metrics.LAST_SUCCESS.set(time.time())
            _log_verdict(job)
        metrics.LAST_RUN.set(time.time())
        metrics.LAST_DURATION.set(time.perf_counter() - started)
        metrics.LAST_RESULT.state(result)
        metrics.RUNS.labels(result).inc()
        self.results.append(result)
        return result


def _export_drift(report: DriftReport) -> None:
    for psi in report.features:
        if psi.psi is not None:
            metrics.FEATURE_PSI.labels(psi.name).set(psi.psi)
    if report.score is not None and report.score.psi is not None:
        metrics.SCORE_PSI.set(report.score.psi)
    metrics.DRIFTED.set(len(report.drifted))


def _export_verdict(job: JobResult) -> None:
    """What this run measured; what it did not stays cleared (``metrics.forget_last_run``)."""
    result = job.outcome.result
    reports = {"challenger": result.challenger, "champion": result.champion}
    for model, report in reports.items():
        # None: no PR-AUC on this slice (one class); 0.0 would read as a useless model.
        if report is not None and report.average_precision is not None:
            metrics.AVERAGE_PRECISION.labels(model).set(report.average_precision)
    if result.significance is not None:
        metrics.P_VALUE.set(result.significance.p_value)


def _log_verdict(job: JobResult) -> None:
    """The run's verdict; a run log that failed after it is said, loudly, with the verdict."""
    outcome = job.outcome
    verdict: str = outcome.applied
    level = logging.INFO
    if outcome.run_log_error is not None:
        verdict = f"{verdict} (run log failed: {outcome.run_log_error})"
        level = logging.ERROR
        metrics.RUN_LOG_FAILURES.inc()
    log.log(
        level,
        "retraining: %s (%s); drift: %s; %.1f s; report %s",
        verdict,
        outcome.result.reason,
        outcome.plan.drift.summary(),
        job.seconds,
        job.run_dir,
    )
