"""Point-in-time label joins: a row only knows the labels that existed at a given moment.

Fraud labels arrive late (an analyst verdict in hours, a chargeback in weeks),
so "is this row fraud?" has a different answer depending on *when* it is
asked. Every join here takes that moment explicitly.

Policy for **training rows** (``label_training_rows``), asked at the training
cutoff ``as_of_ms``:

* a label counts only if ``known_at_ms <= as_of_ms``; with several labels for
  one transaction, the latest one known by then wins (a chargeback overrides an
  earlier analyst "legit");
* a row with no label known by the cutoff whose event is older than the
  maturity period (``event_time_ms <= as_of_ms - maturity_ms``) is treated as
  legitimate: had it been fraud, the label would have arrived by now;
* a younger row with no label is dropped: its label may still be on its way,
  and calling it legitimate would teach the model that fresh fraud is fine.

Policy for **evaluation rows** (``label_evaluation_rows``), asked at the
evaluation time: labels known by then count, unlabeled rows are legitimate.
Evaluate only once the slice has matured, or recall is overstated.
"""

from __future__ import annotations

import pandas as pd

from models.exceptions import FrameError
from models.frame import LABEL_COLUMN

__all__ = ["label_evaluation_rows", "label_training_rows", "labels_known_at"]


def labels_known_at(labels: pd.DataFrame, as_of_ms: int) -> pd.Series:
    """``is_fraud`` per ``tx_id`` as known at ``as_of_ms`` (the latest label known by then)."""
    known = labels.loc[labels["known_at_ms"] <= as_of_ms, ["tx_id", "is_fraud", "known_at_ms"]]
    # A stable sort keeps the input order among equal times, so the result is reproducible.
    latest = known.sort_values("known_at_ms", kind="stable").drop_duplicates("tx_id", keep="last")
    return latest.set_index("tx_id")["is_fraud"].astype(bool)


def label_training_rows(
    rows: pd.DataFrame, labels: pd.DataFrame, *, as_of_ms: int, maturity_ms: int
) -> pd.DataFrame:
    """``rows`` with an ``is_fraud`` column as known at ``as_of_ms`` (see the module policy).

    Young rows without a label are removed; the returned frame keeps event-time order.
    """
    if maturity_ms < 0:
        raise FrameError("the maturity period cannot be negative")
    known = _known_for(rows, labels_known_at(labels, as_of_ms))
    unlabeled = known.isna().to_numpy()
    young = rows["event_time_ms"].to_numpy() > as_of_ms - maturity_ms
    keep = ~(unlabeled & young)
    kept = rows.loc[keep].copy()
    kept[LABEL_COLUMN] = known.loc[keep].fillna(False).astype(bool).to_numpy()
    return kept


def label_evaluation_rows(
    rows: pd.DataFrame, labels: pd.DataFrame, *, evaluate_at_ms: int
) -> pd.DataFrame:
    """``rows`` with ``is_fraud`` as known at ``evaluate_at_ms``; unlabeled rows are legitimate."""
    known = _known_for(rows, labels_known_at(labels, evaluate_at_ms))
    labeled = rows.copy()
    labeled[LABEL_COLUMN] = known.fillna(False).astype(bool).to_numpy()
    return labeled


def _known_for(rows: pd.DataFrame, known: pd.Series) -> pd.Series:
    """The known label of each row, NaN where none is known (index aligned with ``rows``)."""
    if LABEL_COLUMN in rows.columns:
        raise FrameError("feature frame already has a label column", column=LABEL_COLUMN)
    return rows["tx_id"].map(known).astype(object)
