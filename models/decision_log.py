"""The training set of a retraining run: the decision log as known at a cutoff.

A **decision-log frame** (what ``services.archive`` reads back) has one row per
archived decision, possibly repeated (a redelivered batch is archived again)::

    tx_id | event_time_ms | card_id | customer_id | cold_start (bool)
    | decided_at_ms (int64) | score (float) | model_version (str) | degraded (bool)
    | <feature columns>: the feature vector exactly as served (float64, NaN = missing)

with labels in the label-frame contract of ``models.frame`` (``tx_id``,
``is_fraud``, ``known_at_ms``, ``source``).

``snapshot_at(cutoff)`` turns them into a feature frame and a label frame that
``models.train`` accepts:

* decisions of transactions at or after the cutoff are not yet history;
* a transaction decided twice keeps its **first** decision (the scorer
  re-emits its first decision on redelivery, so a second one is a duplicate
  in the archive, not a different verdict);
* degraded decisions (made without features while Redis was down) carry no
  feature vector and are left out;
* labels count only if known at the cutoff (``known_at_ms <= cutoff``);
  identical label rows (a redelivered label) count once. What happens to
  decisions without a known label is ``models.labels``' policy, applied by the
  time split: older than the maturity period = legitimate, younger = left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from models.exceptions import FrameError
from models.frame import FRAME_KEY_COLUMNS, LABEL_FRAME_COLUMNS, FeatureSpec

__all__ = ["DECISION_COLUMNS", "LogSnapshot", "SnapshotCounts", "snapshot_at"]

#: Columns every decision-log frame carries besides the features.
DECISION_COLUMNS = (*FRAME_KEY_COLUMNS, "decided_at_ms", "score", "model_version", "degraded")


@dataclass(frozen=True)
class SnapshotCounts:
    """What was kept and what was left out, and why (printed and logged by retraining)."""

    decisions_read: int
    after_cutoff: int
    duplicates: int
    degraded: int
    decisions: int
    labels_read: int
    labels_after_cutoff: int
    label_duplicates: int
    #: Labels known at the cutoff whose transaction has a decision in the snapshot.
    labels: int
    fraud_labels: int
    #: Known labels per source (analyst, chargeback, customer, import).
    labels_by_source: dict[str, int]
    #: Known labels for transactions the snapshot has no decision for (ignored).
    labels_without_decision: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class LogSnapshot:
    """Feature frame (event-time order) + labels known at ``cutoff_ms``, and the features used."""

    frame: pd.DataFrame
    labels: pd.DataFrame
    spec: FeatureSpec
    cutoff_ms: int
    counts: SnapshotCounts


def snapshot_at(
    decisions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    cutoff_ms: int,
    feature_names: Sequence[str],
    cold_start_features: Sequence[str],
) -> LogSnapshot:
    """The decision log and its labels as known at ``cutoff_ms`` (see the module docstring).

    ``feature_names`` are the features the serving store computes; those present
    in the log (in that order) become the training features.
    """
    _require(decisions, DECISION_COLUMNS, "decision log")
    _require(labels, LABEL_FRAME_COLUMNS, "label log")
    read = len(decisions)
    rows = decisions.loc[decisions["event_time_ms"] < cutoff_ms]
    after_cutoff = read - len(rows)
    # First decision per transaction: stable sort keeps archive order among equal times.
    rows = rows.sort_values("decided_at_ms", kind="stable")
    first = rows.drop_duplicates("tx_id", keep="first")
    duplicates = len(rows) - len(first)
    degraded = first["degraded"].to_numpy(dtype=bool)
    kept = first.loc[~degraded]

    clash = [name for name in feature_names if name in DECISION_COLUMNS]
    if clash:
        raise FrameError("a feature is named like a decision column", column=clash[0])
    served = [name for name in feature_names if name in kept.columns]
    if not served:
        raise FrameError("the decision log has none of the store's features")
    cold = [name for name in cold_start_features if name in served]
    # FeatureSpec wants cold-start features; when a log has none, every feature stands in.
    spec = FeatureSpec.of(served, cold or served)
    frame = kept.loc[:, [*DECISION_COLUMNS, *served]].astype(
        {"event_time_ms": np.int64, "cold_start": bool, **dict.fromkeys(served, np.float64)}
    )
    frame = frame.sort_values(["event_time_ms", "tx_id"], kind="stable").reset_index(drop=True)

    known = labels.loc[labels["known_at_ms"] <= cutoff_ms]
    unique = known.drop_duplicates(list(LABEL_FRAME_COLUMNS))
    matched = unique["tx_id"].isin(frame["tx_id"])
    usable = unique.loc[matched, list(LABEL_FRAME_COLUMNS)].astype(
        {"is_fraud": bool, "known_at_ms": np.int64}
    )
    usable = usable.sort_values("known_at_ms", kind="stable").reset_index(drop=True)
    counts = SnapshotCounts(
        decisions_read=read,
        after_cutoff=after_cutoff,
        duplicates=duplicates,
        degraded=int(degraded.sum()),
        decisions=len(frame),
        labels_read=len(labels),
        labels_after_cutoff=len(labels) - len(known),
        label_duplicates=len(known) - len(unique),
        labels=len(usable),
        fraud_labels=int(usable["is_fraud"].sum()),
        labels_by_source={str(k): int(v) for k, v in usable["source"].value_counts().items()},
        labels_without_decision=int((~matched).sum()),
    )
    return LogSnapshot(frame=frame, labels=usable, spec=spec, cutoff_ms=cutoff_ms, counts=counts)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise FrameError(f"the {what} lacks {len(missing)} column(s)", column=missing[0])
