"""Drift: how far the recent traffic has moved from the traffic the model learned on (PSI).

Population Stability Index of one variable between a reference sample (the
training window) and a recent one::

    PSI = sum over bins of (recent_share - reference_share) * ln(recent_share / reference_share)

* Bins are the reference's deciles (quantile edges of its present values), so
  each holds about a tenth of the reference; tied values (counts, flags) merge
  bins instead of making empty ones. A value on an edge falls in the bin below.
* Missing values (NaN) are a bin of their own: a feature that stops being
  filled in is drift too.
* A share of zero would make the logarithm infinite; shares are floored at
  ``_FLOOR`` (0.01 %), the usual practice.

Rule of thumb (industry convention, not a law): below 0.1 stable, 0.1-0.2
moderate, above 0.2 a shift worth a look. ``threshold`` decides what is
reported as drift.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from models.exceptions import ModelError

__all__ = [
    "SCORE",
    "DriftReport",
    "Psi",
    "drift_report",
    "format_drift",
    "population_stability_index",
    "save_drift_report",
]

#: The name the score goes by in a drift report (next to the feature names).
SCORE = "score"
_FLOOR = 1e-4


@dataclass(frozen=True)
class Psi:
    """One variable's PSI (None when either sample is empty) and its missing shares."""

    name: str
    psi: float | None
    reference_missing: float
    recent_missing: float


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature (largest first) and for the score, recent window against reference."""

    reference_start_ms: int
    reference_end_ms: int
    reference_rows: int
    recent_start_ms: int
    recent_end_ms: int
    recent_rows: int
    threshold: float
    bins: int
    features: list[Psi]
    score: Psi | None
    #: Names (features, and ``score``) whose PSI is above the threshold.
    drifted: list[str] = field(default_factory=list)

    @property
    def max_feature_psi(self) -> float | None:
        values = [f.psi for f in self.features if f.psi is not None]
        return max(values) if values else None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One line: how many features drifted, the worst ones, the score's PSI."""
        score = "n/a" if self.score is None or self.score.psi is None else f"{self.score.psi:.3f}"
        worst = [f for f in self.features if f.name in self.drifted][:3]
        named = ", ".join(f"{f.name} {f.psi:.2f}" for f in worst)
        features = sum(1 for f in self.features if f.name in self.drifted)
        drifted = f"{features} of {len(self.features)} features above PSI {self.threshold:g}"
        return f"{drifted}{f' ({named})' if named else ''}; score PSI {score}"


def population_stability_index(
    reference: ArrayLike, recent: ArrayLike, *, bins: int = 10
) -> float | None:
    """PSI of ``recent`` against ``reference`` (see the module docstring); None if one is empty."""
    if bins < 2:
        raise ModelError("PSI needs at least 2 bins")
    ref = np.asarray(reference, dtype=np.float64)
    new = np.asarray(recent, dtype=np.float64)
    if ref.size == 0 or new.size == 0:
        return None
    present = ref[~np.isnan(ref)]
    edges = (
        np.unique(np.quantile(present, np.arange(1, bins) / bins)) if present.size else np.empty(0)
    )
    expected = _shares(ref, edges)
    actual = _shares(new, edges)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    feature_names: Sequence[str],
    *,
    threshold: float,
    score_column: str | None = SCORE,
    bins: int = 10,
) -> DriftReport:
    """PSI of every feature (and the score column, when present) between two frames.

    Both frames carry ``event_time_ms``; the windows reported are their spans.
    """
    features = sorted(
        (_psi(name, reference[name], recent[name], bins) for name in feature_names),
        key=lambda p: -1.0 if p.psi is None else -p.psi,
    )
    score = None
    if score_column is not None and score_column in reference and score_column in recent:
        score = _psi(SCORE, reference[score_column], recent[score_column], bins)
    drifted = [p.name for p in features if p.psi is not None and p.psi > threshold]
    if score is not None and score.psi is not None and score.psi > threshold:
        drifted.append(SCORE)
    return DriftReport(
        *_span(reference),
        *_span(recent),
        threshold=threshold,
        bins=bins,
        features=features,
        score=score,
        drifted=drifted,
    )


def format_drift(report: DriftReport, *, top: int | None = None) -> str:
    """A fixed-width table: the score first, then features by PSI, drift marked."""
    rows = ([report.score] if report.score is not None else []) + report.features[:top]
    width = max([len("feature"), *(len(p.name) for p in rows)]) + 2
    header = f"{'feature'.ljust(width)}{'PSI':>8}{'missing ref':>13}{'missing now':>13}"
    lines = [
        f"reference {_day(report.reference_start_ms)}..{_day(report.reference_end_ms)} "
        f"({report.reference_rows:,} rows) vs recent {_day(report.recent_start_ms)}.."
        f"{_day(report.recent_end_ms)} ({report.recent_rows:,} rows), {report.bins} bins",
        header,
        "-" * len(header),
    ]
    for p in rows:
        value = "n/a" if p.psi is None else f"{p.psi:.4f}"
        mark = "  DRIFT" if p.name in report.drifted else ""
        lines.append(
            f"{p.name.ljust(width)}{value:>8}{p.reference_missing:>13.1%}"
            f"{p.recent_missing:>13.1%}{mark}"
        )
    hidden = len(report.features) - len(report.features[:top])
    if hidden > 0:
        lines.append(f"... {hidden} more features below")
    lines.append(report.summary())
    return "\n".join(lines)


def save_drift_report(report: DriftReport, directory: Path, *, top: int = 25) -> list[Path]:
    """Write ``drift.json`` (every number) and ``drift.png`` (the top PSIs) into ``directory``."""
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "drift.json"
    data.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")

    shown = ([report.score] if report.score is not None else []) + report.features[:top]
    shown = shown[::-1]  # barh draws bottom-up: largest on top
    values = [p.psi or 0.0 for p in shown]
    figure = Figure(figsize=(7, 0.3 * len(shown) + 1.6), dpi=100)
    axes = figure.subplots()
    colours = ["tab:red" if p.name in report.drifted else "tab:blue" for p in shown]
    axes.barh(range(len(shown)), values, color=colours)
    axes.set_yticks(range(len(shown)), [p.name for p in shown], fontsize="small")
    axes.axvline(
        report.threshold, color="grey", linestyle="--", label=f"threshold {report.threshold:g}"
    )
    axes.set(
        xlabel="PSI (recent vs training window)",
        title=f"Drift (PSI): recent {_day(report.recent_start_ms)[:10]}.."
        f"{_day(report.recent_end_ms)[:10]}\nvs training window "
        f"{_day(report.reference_start_ms)[:10]}..{_day(report.reference_end_ms)[:10]}",
    )
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    picture = directory / "drift.png"
    figure.savefig(picture)
    return [data, picture]


def _psi(name: str, reference: pd.Series, recent: pd.Series, bins: int) -> Psi:
    ref = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    new = recent.to_numpy(dtype=np.float64, na_value=np.nan)
    return Psi(
        name=name,
        psi=population_stability_index(ref, new, bins=bins),
        reference_missing=_missing(ref),
        recent_missing=_missing(new),
    )


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` per bin: ``len(edges) + 1`` value bins, then the missing bin."""
    missing = np.isnan(values)
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=edges.size + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return np.maximum(counts / values.size, _FLOOR)


def _missing(values: np.ndarray) -> float:
    return float(np.isnan(values).mean()) if values.size else 0.0


def _span(frame: pd.DataFrame) -> tuple[int, int, int]:
    times = frame["event_time_ms"]
    if frame.empty:
        return 0, 0, 0
    return int(times.min()), int(times.max()) + 1, len(frame)


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
