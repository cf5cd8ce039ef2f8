"""The feature-frame and label-frame contracts, checked at the door.

A **feature frame** has one row per transaction in event-time order::

    tx_id (str) | event_time_ms (int64, epoch ms UTC) | card_id (str) | customer_id (str)
    | cold_start (bool) | <feature columns> (float64, NaN = missing)

A **label frame** has ``tx_id``, ``is_fraud`` (bool), ``known_at_ms`` (int64,
when the label became known) and ``source`` (str); a transaction may have
several labels (an analyst verdict, then a chargeback).

Checks raise ``FrameError`` naming the column, so a broken upstream builder is
caught before a model quietly learns from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.exceptions import FrameError

__all__ = [
    "FRAME_KEY_COLUMNS",
    "LABEL_COLUMN",
    "LABEL_FRAME_COLUMNS",
    "FeatureSpec",
    "check_feature_frame",
    "check_frame_keys",
    "check_label_frame",
    "feature_matrix",
]

#: Columns every feature frame carries besides its features.
FRAME_KEY_COLUMNS = ("tx_id", "event_time_ms", "card_id", "customer_id", "cold_start")
LABEL_FRAME_COLUMNS = ("tx_id", "is_fraud", "known_at_ms", "source")
#: The label column that point-in-time joins add to a feature frame.
LABEL_COLUMN = "is_fraud"


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns the models read: all features, and those that exist without history."""

    feature_names: tuple[str, ...]
    cold_start_features: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.feature_names:
            raise FrameError("no feature names given")
        if len(set(self.feature_names)) != len(self.feature_names):
            raise FrameError("feature names repeat")
        clash = set(self.feature_names) & {*FRAME_KEY_COLUMNS, LABEL_COLUMN}
        if clash:
            raise FrameError("a feature is named like a key column", column=sorted(clash)[0])
        if not self.cold_start_features:
            raise FrameError("no cold-start features given")
        unknown = [name for name in self.cold_start_features if name not in self.feature_names]
        if unknown:
            raise FrameError("cold-start feature is not a feature", column=unknown[0])

    @classmethod
    def of(cls, feature_names: Sequence[str], cold_start_features: Sequence[str]) -> FeatureSpec:
        """Build from any sequences (the feature store hands lists)."""
        return cls(tuple(feature_names), tuple(cold_start_features))


def check_feature_frame(frame: pd.DataFrame, spec: FeatureSpec) -> None:
    """Raise ``FrameError`` unless ``frame`` satisfies the feature-frame contract for ``spec``."""
    check_frame_keys(frame)
    _require_columns(frame, spec.feature_names)
    for name in spec.feature_names:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            raise FrameError(f"feature must be numeric, not {dtype}", column=name)


def check_frame_keys(frame: pd.DataFrame) -> None:
    """The contract's key columns only (for callers that take feature names from a model)."""
    _require_columns(frame, FRAME_KEY_COLUMNS)
    if not pd.api.types.is_integer_dtype(frame["event_time_ms"]):
        raise FrameError("event times must be integer epoch ms", column="event_time_ms")
    if not pd.api.types.is_bool_dtype(frame["cold_start"]):
        raise FrameError("cold_start must be boolean", column="cold_start")
    if not frame["event_time_ms"].is_monotonic_increasing:
        raise FrameError("rows are not in event-time order", column="event_time_ms")
    if frame["tx_id"].hasnans or not frame["tx_id"].is_unique:
        raise FrameError("transaction ids must be present and unique", column="tx_id")


def check_label_frame(labels: pd.DataFrame) -> None:
    """Raise ``FrameError`` unless ``labels`` satisfies the label-frame contract."""
    _require_columns(labels, LABEL_FRAME_COLUMNS)
    if not pd.api.types.is_bool_dtype(labels["is_fraud"]):
        raise FrameError("is_fraud must be boolean", column="is_fraud")
    if not pd.api.types.is_integer_dtype(labels["known_at_ms"]):
        raise FrameError("known_at_ms must be integer epoch ms", column="known_at_ms")
    if labels["tx_id"].hasnans:
        raise FrameError("labels need a transaction id", column="tx_id")


def feature_matrix(frame: pd.DataFrame, feature_names: Sequence[str]) -> NDArray[np.float32]:
    """The features in ``feature_names`` order as a C-contiguous float32 matrix (NaN = missing).

    float32 because that is what the scorer serves and what tree models split
    on: training and serving see bit-identical inputs.
    """
    _require_columns(frame, feature_names)
    matrix = frame.loc[:, list(feature_names)].to_numpy(dtype=np.float32, na_value=np.nan)
    return np.ascontiguousarray(matrix)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise FrameError(f"{len(missing)} required column(s) missing", column=missing[0])
