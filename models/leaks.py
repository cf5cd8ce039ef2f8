"""Leak checks: refuse to retrain on a training set that carries its own answer.

A model trained on a leak looks brilliant offline and is useless live. Two
checks run on the training rows (labels as known at the cutoff) before any
model is fitted:

* **Mis-dated labels.** A label known *before* its transaction happened means
  label times or transaction ids are wrong; no point-in-time join built on
  them can be trusted.
* **A feature that alone gives the answer.** Each feature's ROC AUC on its own
  (as a score, or reversed: ``max(auc, 1 - auc)``) is computed; missing values
  rank below every present value, so a feature that is only filled in for one
  class is caught too. At or above ``max_single_feature_auc`` (default 0.99)
  the run is refused, naming the feature. Real fraud signals are never that
  clean (velocity, device and IP features reach 0.7-0.9 alone); 0.99 is what a
  label copied into a feature looks like, e.g. a risk rate that counted the
  transaction's own chargeback.

With very few fraud rows a feature can separate them by chance; the error
says how many there were, so the reader can judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.exceptions import LeakError
from models.frame import LABEL_COLUMN, feature_matrix

__all__ = ["FeatureStrength", "LeakPolicy", "check_label_times", "scan_for_leaks"]


@dataclass(frozen=True)
class LeakPolicy:
    max_single_feature_auc: float = 0.99
    #: How many of the strongest features the scan reports.
    report_top: int = 5


@dataclass(frozen=True)
class FeatureStrength:
    """How well one feature alone separates fraud from legitimate rows."""

    name: str
    #: ``max(auc, 1 - auc)``: 0.5 = no information, 1.0 = a perfect separator.
    roc_auc: float


def check_label_times(frame: pd.DataFrame, labels: pd.DataFrame) -> None:
    """Raise ``LeakError`` if any label is known before its transaction's event time."""
    joined = labels.merge(frame[["tx_id", "event_time_ms"]], on="tx_id", how="inner")
    early = joined.loc[joined["known_at_ms"] < joined["event_time_ms"]]
    if not early.empty:
        first = early.iloc[0]
        raise LeakError(
            f"{len(early)} label(s) are dated before their transaction happened (first: "
            f"tx {first['tx_id']}, known at {int(first['known_at_ms'])} < event time "
            f"{int(first['event_time_ms'])}): label times or transaction ids are wrong, "
            "so no point-in-time join on them can be trusted",
            statistic=float(len(early)),
        )


def scan_for_leaks(
    train: pd.DataFrame, feature_names: Sequence[str], policy: LeakPolicy | None = None
) -> list[FeatureStrength]:
    """The strongest single features on labelled ``train``; ``LeakError`` if one is too strong."""
    policy = policy or LeakPolicy()
    fraud = train[LABEL_COLUMN].to_numpy(dtype=bool)
    positives, negatives = int(fraud.sum()), int((~fraud).sum())
    if positives == 0 or negatives == 0:
        return []
    values = feature_matrix(train, feature_names).astype(np.float64)
    # Missing ranks below every present value (-inf), so missingness is judged too.
    values[np.isnan(values)] = -np.inf
    ranks = pd.DataFrame(values).rank(axis=0, method="average").to_numpy()
    # Mann-Whitney: AUC = (rank sum of positives - n1(n1+1)/2) / (n1 * n0).
    auc = (ranks[fraud].sum(axis=0) - positives * (positives + 1) / 2) / (positives * negatives)
    strength = np.maximum(auc, 1.0 - auc)
    order = np.argsort(-strength, kind="stable")
    found = [FeatureStrength(feature_names[i], float(strength[i])) for i in order]
    worst = found[0]
    if worst.roc_auc >= policy.max_single_feature_auc:
        others = [f.name for f in found[1:] if f.roc_auc >= policy.max_single_feature_auc]
        also = f" (also: {', '.join(others)})" if others else ""
        raise LeakError(
            f"feature `{worst.name}` alone separates fraud from legitimate training rows "
            f"(ROC AUC {worst.roc_auc:.4f} >= {policy.max_single_feature_auc:g}, "
            f"{positives} fraud rows){also}: it looks like a label leak; fix how it is "
            "computed before retraining",
            feature=worst.name,
            statistic=worst.roc_auc,
        )
    return found[: policy.report_top]
