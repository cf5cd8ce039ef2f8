"""The metrics fraud teams use, and one report per model per slice.

* ``average_precision`` (PR-AUC): the headline; fraud is rare, so ROC AUC
  alone flatters a model.
* ``roc_auc``: for comparison with the literature.
* ``recall_at_fpr``: the share of fraud caught while at most ``fpr`` of the
  legitimate traffic is disturbed, with the same threshold rule the
  operation uses (``models.thresholds``).
* ``card_precision_at_k``: per day, the ``k`` cards with the highest score
  (a card's score is its highest transaction score that day) are what
  investigators can look at; the share of them that had fraud that day,
  averaged over days.

Each returns ``None`` where it is undefined (a slice with one class only),
never a made-up number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from models.frame import LABEL_COLUMN
from models.split import DAY_MS
from models.thresholds import Thresholds, decision_volumes, threshold_for_fpr

__all__ = [
    "EvaluationReport",
    "average_precision",
    "card_precision_at_k",
    "day_index",
    "evaluate_scores",
    "recall_at_fpr",
    "roc_auc",
]


def day_index(event_time_ms: ArrayLike) -> np.ndarray:
    """UTC day number of each event time (days since the epoch)."""
    return np.asarray(event_time_ms, dtype=np.int64) // DAY_MS


def roc_auc(is_fraud: ArrayLike, scores: ArrayLike) -> float | None:
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(is_fraud, dtype=bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def average_precision(is_fraud: ArrayLike, scores: ArrayLike) -> float | None:
    from sklearn.metrics import average_precision_score

    labels = np.asarray(is_fraud, dtype=bool)
    if not labels.any():
        return None
    return float(average_precision_score(labels, np.asarray(scores, dtype=np.float64)))


def recall_at_fpr(is_fraud: ArrayLike, scores: ArrayLike, fpr: float) -> float | None:
    labels = np.asarray(is_fraud, dtype=bool)
    values = np.asarray(scores, dtype=np.float64)
    if labels.all() or not labels.any():
        return None
    threshold = threshold_for_fpr(values, labels, fpr)
    return float((values[labels] >= threshold).mean())


def card_precision_at_k(
    event_time_ms: ArrayLike, card_id: ArrayLike, is_fraud: ArrayLike, scores: ArrayLike, k: int
) -> float | None:
    """Mean over days of the fraud share among the day's top-``k`` cards by max score."""
    if k <= 0:
        raise ValueError("k must be positive")
    rows = pd.DataFrame(
        {
            "day": day_index(event_time_ms),
            "card_id": np.asarray(card_id),
            "fraud": np.asarray(is_fraud, dtype=bool),
            "score": np.asarray(scores, dtype=np.float64),
        }
    )
    if rows.empty:
        return None
    cards = rows.groupby(["day", "card_id"], sort=True).agg(
        score=("score", "max"), fraud=("fraud", "max")
    )
    # Sort by score, then card id, so ties break the same way on every run.
    ranked = cards.reset_index().sort_values(
        ["day", "score", "card_id"], ascending=[True, False, True], kind="stable"
    )
    top = ranked.groupby("day", sort=True).head(k)
    # A day with fewer than k cards is judged on k: empty slots are not hits.
    per_day = top.groupby("day")["fraud"].sum() / k
    return float(per_day.mean())


@dataclass(frozen=True)
class EvaluationReport:
    """One model on one labeled slice. ``None`` = undefined on this slice."""

    model: str
    rows: int
    fraud_rows: int
    roc_auc: float | None
    average_precision: float | None
    recall_fpr: float
    recall_at_fpr: float | None
    card_k: int
    card_precision_at_k: float | None
    #: The model's ROC AUC on the slice's cold-start rows only.
    cold_start_rows: int
    cold_start_roc_auc: float | None
    thresholds: Thresholds
    days: int
    flag_per_day: float
    block_per_day: float
    flag_share: float
    block_share: float
    flag_fpr: float
    block_fpr: float
    flag_recall: float
    block_recall: float

    def metrics(self) -> dict[str, float]:
        """Every defined number, flat, for MLflow."""
        out: dict[str, float] = {}
        for key, value in asdict(self).items():
            if isinstance(value, bool) or key in ("model", "thresholds"):
                continue
            if isinstance(value, int | float):
                out[key] = float(value)
        out["threshold_flag"] = self.thresholds.flag
        out["threshold_block"] = self.thresholds.block
        return out


def evaluate_scores(
    model: str,
    rows: pd.DataFrame,
    scores: ArrayLike,
    thresholds: Thresholds,
    *,
    days: float,
    recall_fpr: float = 0.01,
    card_k: int = 50,
) -> EvaluationReport:
    """Score-based metrics of ``model`` on labeled ``rows`` (with ``is_fraud``), a slice
    ``days`` long."""
    values = np.asarray(scores, dtype=np.float64)
    fraud = rows[LABEL_COLUMN].to_numpy(dtype=bool)
    times = rows["event_time_ms"].to_numpy()
    cold = rows["cold_start"].to_numpy(dtype=bool)
    volumes = decision_volumes(values, fraud, days, thresholds)
    return EvaluationReport(
        model=model,
        rows=int(values.size),
        fraud_rows=int(fraud.sum()),
        roc_auc=roc_auc(fraud, values),
        average_precision=average_precision(fraud, values),
        recall_fpr=recall_fpr,
        recall_at_fpr=recall_at_fpr(fraud, values, recall_fpr),
        card_k=card_k,
        card_precision_at_k=card_precision_at_k(
            times, rows["card_id"].to_numpy(), fraud, values, card_k
        ),
        cold_start_rows=int(cold.sum()),
        cold_start_roc_auc=roc_auc(fraud[cold], values[cold]),
        thresholds=thresholds,
        **asdict(volumes),
    )
