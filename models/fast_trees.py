"""Compiled walks over tree ensembles, for the scorer's hot path.

``FlatForest`` (XGBoost):

Why: ``Booster.inplace_predict`` pays a fixed ~230 µs per call inside
XGBoost (config parsing, a proxy DMatrix) before it walks a single tree,
while the walk itself costs ~4 µs per row. Most scorer micro-batches are
small, so that fixed cost *is* the latency. This module copies the trees out
of the booster's JSON dump into flat arrays once, and walks them with a
numba-compiled loop: ~6-15 µs for one row of 300 depth-6 trees. For large
batches XGBoost's own blocked predictor is about twice as fast per row and is
used instead (see ``models.xgb_model``). (A packed one-record-per-node layout
was tried: ~10 % faster per row, not worth the obscurity.)

Semantics are XGBoost's: go left when ``x < split_condition`` (float32
compare), a missing value follows the node's default direction, leaves hold
their value in ``split_conditions``, the margin is the base margin plus the
sum of leaves, tree by tree in order (the same summation order as XGBoost),
and the logistic link maps it to [0, 1]. Results agree with
``inplace_predict`` to float32 rounding (a test checks it).

Only what the trainers here produce is supported: ``gbtree`` with
``binary:logistic`` and numerical splits. Anything else returns ``None`` from
``FlatForest.from_booster`` and the caller keeps XGBoost's own path.

``FlatIsolationForest`` (the cold-start model): scikit-learn's
``IsolationForest.decision_function`` costs ~20 ms per call whatever the batch
size (a Python loop over the trees and joblib dispatch). The flat walk gives
the same number (the anomaly score as pyod defines it, higher = more
anomalous) in microseconds, built from public tree attributes only: go left
when ``x <= threshold``, a leaf is worth its depth plus the expected depth of
an unbuilt subtree of its sample count, and the score is
``2 ** (-mean depth / c(max_samples)) + offset``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["FlatForest", "FlatIsolationForest"]


@dataclass(frozen=True)
class FlatForest:
    """All trees of a booster as flat node arrays (node ids are global)."""

    roots: NDArray[np.int32]
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    feature: NDArray[np.int32]
    #: Split condition for inner nodes, leaf value for leaves (XGBoost's own layout).
    value: NDArray[np.float32]
    default_left: NDArray[np.uint8]
    base_margin: float
    #: Each node's cover (sum of hessians): the weights of tree SHAP (``models.fast_tree_shap``).
    cover: NDArray[np.float64] | None = None

    @classmethod
    def from_booster(cls, booster: Any) -> FlatForest | None:
        """Flatten an ``xgboost.Booster``; ``None`` if it uses something not supported here."""
        model = json.loads(booster.save_raw(raw_format="json"))["learner"]
        if model["objective"]["name"] != "binary:logistic":
            return None
        gbm = model["gradient_booster"]
        if gbm.get("name") != "gbtree":
            return None
        trees = gbm["model"]["trees"]
        if not trees or any(any(t["split_type"]) for t in trees):
            return None  # categorical splits: not supported by the flat walk
        base_score = _parse_base_score(model["learner_model_param"]["base_score"])
        offsets = np.cumsum([0] + [len(t["left_children"]) for t in trees])
        left, right = [], []
        for offset, tree in zip(offsets[:-1], trees, strict=True):
            left.append(_globalise(tree["left_children"], int(offset)))
            right.append(_globalise(tree["right_children"], int(offset)))
        return cls(
            roots=offsets[:-1].astype(np.int32),
            left=np.concatenate(left).astype(np.int32),
            right=np.concatenate(right).astype(np.int32),
            feature=np.concatenate([t["split_indices"] for t in trees]).astype(np.int32),
            value=np.concatenate([t["split_conditions"] for t in trees]).astype(np.float32),
            default_left=np.concatenate([t["default_left"] for t in trees]).astype(np.uint8),
            base_margin=math.log(base_score / (1.0 - base_score)),
            cover=np.concatenate([t["sum_hessian"] for t in trees]).astype(np.float64),
        )

    def predict(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities for a C-contiguous float32 (rows x features) matrix."""
        result: NDArray[np.float32] = _walk(
            features,
            self.roots,
            self.left,
            self.right,
            self.feature,
            self.value,
            self.default_left,
            np.float32(self.base_margin),
        )
        return result


@dataclass(frozen=True)
class FlatIsolationForest:
    """An isolation forest as flat node arrays; ``value`` is a leaf's path length."""

    roots: NDArray[np.int32]
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    feature: NDArray[np.int32]
    threshold: NDArray[np.float64]
    value: NDArray[np.float64]
    #: trees x c(max_samples): the normaliser of the summed path lengths.
    denominator: float
    #: scikit-learn's ``offset_`` (pyod's score = 2 ** (-depth / denominator) + offset).
    offset: float

    @classmethod
    def from_sklearn(cls, forest: Any) -> FlatIsolationForest:
        """Flatten a fitted ``sklearn.ensemble.IsolationForest`` (pyod's ``detector_``)."""
        n_features = int(forest.n_features_in_)
        roots, left, right, feature, threshold, value = [], [], [], [], [], []
        base = 0
        for tree, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
            nodes = tree.tree_
            count = int(nodes.node_count)
            is_leaf = nodes.children_left == -1
            # A tree fitted on a feature subset numbers features within that subset.
            subset = np.asarray(features) if len(features) != n_features else None
            local = np.where(is_leaf, 0, nodes.feature)
            roots.append(base)
            left.append(np.where(is_leaf, -1, nodes.children_left + base))
            right.append(np.where(is_leaf, -1, nodes.children_right + base))
            feature.append(local if subset is None else subset[local])
            threshold.append(nodes.threshold)
            depth = _node_depths(nodes.children_left, nodes.children_right)
            value.append(depth + _average_path_length(nodes.n_node_samples))
            base += count
        trees = len(forest.estimators_)
        return cls(
            roots=np.asarray(roots, dtype=np.int32),
            left=np.concatenate(left).astype(np.int32),
            right=np.concatenate(right).astype(np.int32),
            feature=np.concatenate(feature).astype(np.int32),
            threshold=np.concatenate(threshold).astype(np.float64),
            value=np.concatenate(value).astype(np.float64),
            denominator=float(trees * _average_path_length(np.array([forest.max_samples_]))[0]),
            offset=float(forest.offset_),
        )

    def anomaly_scores(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """pyod's raw anomaly score (higher = more anomalous) for rows without NaN."""
        depths: NDArray[np.float64] = _walk_depths(
            features, self.roots, self.left, self.right, self.feature, self.threshold, self.value
        )
        scores: NDArray[np.float64] = 2.0 ** (-depths / self.denominator) + self.offset
        return scores


def _node_depths(left: NDArray[np.intp], right: NDArray[np.intp]) -> NDArray[np.float64]:
    """Depth of every node (root = 0); children always come after their parent."""
    depth = np.zeros(left.size, dtype=np.float64)
    for node in range(left.size):
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1.0
    return depth


def _average_path_length(samples: NDArray[np.intp]) -> NDArray[np.float64]:
    """c(n): the expected depth of an unsuccessful search in a BST of n keys (Liu et al.)."""
    n = np.asarray(samples, dtype=np.float64)
    out = np.zeros(n.size, dtype=np.float64)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _parse_base_score(raw: str) -> float:
    # XGBoost 3 writes a vector ("[1.0585E-1]"), older versions a scalar ("1.0585E-1").
    return float(raw.strip("[]").split(",")[0])


def _globalise(children: list[int], offset: int) -> NDArray[np.int64]:
    ids = np.asarray(children, dtype=np.int64)
    return np.where(ids == -1, -1, ids + offset)


@numba.njit(nogil=True, cache=False)
def _walk(x, roots, left, right, feature, value, default_left, base_margin):  # type: ignore[no-untyped-def]
    rows = x.shape[0]
    margin = np.full(rows, base_margin, dtype=np.float32)
    # Tree-outer, row-inner: one tree's nodes stay in cache while every row walks it,
    # and each row's sum is accumulated in XGBoost's order.
    for root in roots:
        for i in range(rows):
            node = root
            while left[node] != -1:
                v = x[i, feature[node]]
                if np.isnan(v):
                    node = left[node] if default_left[node] else right[node]
                elif v < value[node]:
                    node = left[node]
                else:
                    node = right[node]
            margin[i] += value[node]
    out = np.empty(rows, dtype=np.float32)
    for i in range(rows):
        out[i] = 1.0 / (1.0 + np.exp(-margin[i]))
    return out


@numba.njit(nogil=True, cache=False)
def _walk_depths(x, roots, left, right, feature, threshold, value):  # type: ignore[no-untyped-def]
    rows = x.shape[0]
    depths = np.zeros(rows, dtype=np.float64)
    for root in roots:
        for i in range(rows):
            node = root
            while left[node] != -1:
                # scikit-learn compares the float32 input against a float64 threshold.
                if np.float64(x[i, feature[node]]) <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            depths[i] += value[node]
    return depths
