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

With very few fraud rows the second check is not made: below
``min_fraud_rows`` (default 30) the fraud class of a short log is a few
bursts (one card, one afternoon), and any feature constant within a burst
(day of week, hour, merchant) "separates" it perfectly. The scan then reports
the strongest features without a verdict and says why (``LeakScan.summary``);
the label-time check does not depend on counts and always runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.exceptions import LeakError
from models.frame import LABEL_COLUMN, feature_matrix

__all__ = ["FeatureStrength", "LeakPolicy", "LeakScan", "check_label_times", "scan_for_leaks"]


@dataclass(frozen=True)
class LeakPolicy:
    max_single_feature_auc: float = 0.99
    #: How many of the strongest features the scan reports.
    report_top: int = 5
    #: Fewer fraud rows than this get no single-feature verdict: a short log's fraud is
    #: a burst or two (one card, one afternoon), and any feature constant within them
    #: (day of week, hour) ranks every fraud row on top. 30 is the usual small-sample
    #: floor. The challenge's ``min_fraud_rows`` (10) is not reused: it guards a
    #: bootstrap on the test slice, a different question on different rows.
    min_fraud_rows: int = 30


@dataclass(frozen=True)
class FeatureStrength:
    """How well one feature alone separates fraud from legitimate rows."""

    name: str
    #: ``max(auc, 1 - auc)``: 0.5 = no information, 1.0 = a perfect separator.
    roc_auc: float


@dataclass(frozen=True)
class LeakScan:
    """What the single-feature scan found, and whether it judged it."""

    #: The strongest features, strongest first (``LeakPolicy.report_top`` of them).
    strongest: list[FeatureStrength]
    fraud_rows: int
    #: False when there were too few fraud rows to call any feature a leak.
    judged: bool
    min_fraud_rows: int

    def summary(self) -> str:
        """The report's line: passed, or skipped and why, with the strongest features."""
        shown = ", ".join(f"{f.name} {f.roc_auc:.3f}" for f in self.strongest[:3]) or "none"
        if self.judged:
            return f"passed (strongest single features: {shown})"
        return (
            f"skipped: too few fraud rows ({self.fraud_rows}) to check features for leaks; "
            f"need {self.min_fraud_rows} (strongest single features, not judged: {shown})"
        )


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
) -> LeakScan:
    """The strongest single features on labelled ``train``; ``LeakError`` if one is too strong.

    With fewer than ``policy.min_fraud_rows`` fraud rows nothing is refused: the
    scan comes back with ``judged=False`` (see the module docstring).
    """
    policy = policy or LeakPolicy()
    fraud = train[LABEL_COLUMN].to_numpy(dtype=bool)
    positives = int(fraud.sum())
    found = _single_feature_strengths(train, feature_names, fraud)
    judged = positives >= policy.min_fraud_rows
    if judged and found and found[0].roc_auc >= policy.max_single_feature_auc:
        _refuse(found, positives, policy)
    return LeakScan(found[: policy.report_top], positives, judged, policy.min_fraud_rows)


def _single_feature_strengths(
    train: pd.DataFrame, feature_names: Sequence[str], fraud: np.ndarray
) -> list[FeatureStrength]:
    """Every feature's ``max(auc, 1 - auc)`` alone, strongest first (none without both classes)."""
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
    return [FeatureStrength(feature_names[i], float(strength[i])) for i in order]


def _refuse(found: list[FeatureStrength], positives: int, policy: LeakPolicy) -> None:
    """Raise ``LeakError`` naming the strongest feature (and any other at the limit)."""
    worst = found[0]
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
