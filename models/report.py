"""The evaluation report: a plain-text table for the terminal, PNG plots for MLflow.

Plots are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas,
never through ``pyplot``: no global backend state, no GUI, safe in a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.metrics import EvaluationReport

__all__ = ["ScoredSlice", "ShapSummary", "format_report", "save_plots"]

_ROWS: list[tuple[str, Callable[[EvaluationReport], object]]] = [
    ("rows", lambda r: r.rows),
    ("fraud rows", lambda r: r.fraud_rows),
    ("PR-AUC (average precision)", lambda r: r.average_precision),
    ("ROC AUC", lambda r: r.roc_auc),
    ("recall @ FPR", lambda r: r.recall_at_fpr),
    ("card precision @ k per day", lambda r: r.card_precision_at_k),
    ("cold-start rows", lambda r: r.cold_start_rows),
    ("cold-start ROC AUC", lambda r: r.cold_start_roc_auc),
    ("flag threshold", lambda r: r.thresholds.flag),
    ("block threshold", lambda r: r.thresholds.block),
    ("flags per day", lambda r: r.flag_per_day),
    ("blocks per day", lambda r: r.block_per_day),
    ("flag share", lambda r: r.flag_share),
    ("block share", lambda r: r.block_share),
    ("flag FPR", lambda r: r.flag_fpr),
    ("block FPR", lambda r: r.block_fpr),
    ("flag recall", lambda r: r.flag_recall),
    ("block recall", lambda r: r.block_recall),
]


@dataclass(frozen=True)
class ScoredSlice:
    """One model's scores on its labeled evaluation rows."""

    name: str
    is_fraud: NDArray[np.bool_]
    scores: NDArray[np.float32]
    #: False for anomaly scores, which are not probabilities (left out of the calibration plot).
    probabilities: bool = True


@dataclass(frozen=True)
class ShapSummary:
    """Contributions (rows x features, no bias column) and the feature values they explain."""

    model: str
    feature_names: tuple[str, ...]
    contributions: NDArray[np.float64]
    values: NDArray[np.float32]


def format_report(reports: Sequence[EvaluationReport], *, title: str = "") -> str:
    """A fixed-width table, one column per model."""
    if not reports:
        return "(no models evaluated)"
    label_width = max(len(label) for label, _ in _ROWS) + 2
    width = max(12, *(len(r.model) + 2 for r in reports))
    header = "metric".ljust(label_width) + "".join(r.model.rjust(width) for r in reports)
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for label, getter in _ROWS:
        shown = label
        if label == "recall @ FPR":
            shown = f"recall @ FPR {reports[0].recall_fpr:g}"
        elif label == "card precision @ k per day":
            shown = f"card precision @ {reports[0].card_k} per day"
        lines.append(shown.ljust(label_width) + "".join(_cell(getter(r), width) for r in reports))
    lines.append("")
    lines += [f"{r.model}: thresholds {r.thresholds.basis}" for r in reports]
    return "\n".join(lines)


def save_plots(
    directory: Path, slices: Sequence[ScoredSlice], shap: ShapSummary | None = None
) -> list[Path]:
    """PR curves, a calibration plot and (if given) a SHAP summary, as PNG files."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [_pr_curves(directory / "pr_curve.png", slices)]
    paths.append(_calibration(directory / "calibration.png", slices))
    if shap is not None:
        paths.append(_shap_summary(directory / "shap_summary.png", shap))
    return paths


def _cell(value: object, width: int) -> str:
    if value is None:
        return "n/a".rjust(width)
    if isinstance(value, bool | int | np.integer):
        return str(value).rjust(width)
    return f"{float(value):.4f}".rjust(width)  # type: ignore[arg-type]


def _pr_curves(path: Path, slices: Sequence[ScoredSlice]) -> Path:
    from matplotlib.figure import Figure
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure = Figure(figsize=(6, 5), dpi=100)
    axes = figure.subplots()
    for scored in slices:
        if not scored.is_fraud.any():
            continue
        precision, recall, _ = precision_recall_curve(scored.is_fraud, scored.scores)
        ap = average_precision_score(scored.is_fraud, scored.scores)
        axes.step(recall, precision, where="post", label=f"{scored.name} (AP {ap:.3f})")
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall on the test slice")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.legend(loc="upper right", fontsize="small")
    figure.savefig(path)
    return path


def _calibration(path: Path, slices: Sequence[ScoredSlice]) -> Path:
    from matplotlib.figure import Figure
    from sklearn.calibration import calibration_curve

    figure = Figure(figsize=(6, 5), dpi=100)
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for scored in slices:
        if not scored.is_fraud.any() or scored.is_fraud.all() or not scored.probabilities:
            continue
        # Quantile bins: with rare fraud, uniform bins leave the top bins nearly empty.
        observed, predicted = calibration_curve(
            scored.is_fraud, scored.scores, n_bins=10, strategy="quantile"
        )
        axes.plot(predicted, observed, marker="o", label=scored.name)
    axes.set(xlabel="mean score", ylabel="observed fraud rate", title="Calibration")
    axes.legend(loc="upper left", fontsize="small")
    figure.savefig(path)
    return path


def _shap_summary(path: Path, shap: ShapSummary, *, top: int = 12) -> Path:
    from matplotlib.figure import Figure

    importance = np.abs(shap.contributions).mean(axis=0)
    order = np.argsort(-importance, kind="stable")[:top][::-1]
    figure = Figure(figsize=(7, 0.45 * len(order) + 1.5), dpi=100)
    axes = figure.subplots()
    jitter = np.random.default_rng(0)  # fixed: the same model draws the same plot
    for position, j in enumerate(order):
        values = shap.values[:, j].astype(np.float64)
        colour = _rank01(values)
        offsets = jitter.uniform(-0.3, 0.3, size=values.size)
        axes.scatter(
            shap.contributions[:, j], position + offsets, c=colour, cmap="coolwarm", s=6, alpha=0.7
        )
    axes.axvline(0.0, color="grey", linewidth=0.8)
    axes.set_yticks(range(len(order)), [shap.feature_names[j] for j in order])
    axes.set(
        xlabel="contribution to log-odds (SHAP); colour: feature value, blue low, red high",
        title=f"SHAP summary: {shap.model}",
    )
    figure.tight_layout()
    figure.savefig(path)
    return path


def _rank01(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each value's rank in [0, 1]; missing values sit in the middle (grey)."""
    out = np.full(values.size, 0.5)
    present = ~np.isnan(values)
    if present.sum() > 1:
        ranks = values[present].argsort(kind="stable").argsort(kind="stable")
        out[present] = ranks / (present.sum() - 1)
    return out
