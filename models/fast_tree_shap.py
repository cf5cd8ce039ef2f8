"""Exact tree SHAP over flattened root-to-leaf paths, for flagged rows on the hot path.

Why: XGBoost's own ``pred_contribs=True`` (path-dependent TreeSHAP, Lundberg
et al.) costs ~2.5 ms per row for the demo's champion (300 trees, ~10,000
leaves), more than the whole rest of a micro-batch. Each leaf's share has a
closed form in its path alone; computed from paths stored flat it costs about
a third of that. XGBoost's ``pred_contribs`` stays the oracle: tests require
these values to equal it, and to equal Shapley values enumerated by brute force.

The maths. Path-dependent TreeSHAP values a feature subset ``S`` of a tree as
``f_S = Σ_leaf v · Π_edges (1[x follows the edge] if its feature ∈ S else
cover(child) / cover(parent))``. Group a leaf's path edges by feature: for
each of its ``d`` distinct features ``j``, ``z_j`` = the product of its edges'
cover ratios, and ``j`` is *satisfied* when ``x`` follows all of them.
Features off the path are null players, so a leaf's Shapley values are those
of a ``d``-player game. The Shapley weight ``s!(d-s-1)!/d!`` is the integral of
``t^s (1-t)^(d-s-1)`` over [0, 1], so summing over coalitions collapses into
one integral (as in Linear TreeSHAP, Yu et al. 2022). With ``c_j(t) = t +
(1-t) z_j`` for a satisfied ``j``, ``1 - t`` for the others, ``C = Π_j c_j`` and
``Z`` = the product of the unsatisfied features' ``z``:

    φ_j = v · Z · ∫ C(t) / c_j(t) dt · ((1 - z_j) if j is satisfied else -1)

The integrand is a polynomial of degree < ``d``, so Gauss-Legendre quadrature
with ``ceil(d / 2)`` nodes is exact. ``x`` follows an edge by XGBoost's rules
(``x < split`` goes left, a missing value the node's default way). The bias is
the base margin plus each tree's cover-weighted mean leaf value, as in XGBoost.

Tried and dropped: tables of each leaf's values for all ``2^d`` satisfied
sets (FastTreeSHAP's "v2"): 17.5 MB for the champion, and one cache line per
leaf from them cost ~1 ms per row; the same sum through elementary symmetric
polynomials: latency-bound chains and data-dependent branches, ~1.5 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from models.fast_trees import FlatForest

__all__ = ["MAX_PATH_FEATURES", "PathShap"]

#: Paths with more distinct features than this are left to XGBoost's own
#: (depth-6 trees have at most 6).
MAX_PATH_FEATURES = 32


@dataclass(frozen=True)
class PathShap:
    """Every leaf's path, flattened over the whole forest, leaf by leaf."""

    #: Per leaf: its value, its edges ``[edge_start[i], edge_start[i + 1])`` and
    #: its distinct path features ``[slot_start[i], slot_start[i + 1])``.
    leaf_value: NDArray[np.float64]
    edge_start: NDArray[np.int64]
    slot_start: NDArray[np.int64]
    #: Per edge: the split it passes (feature, condition, default direction),
    #: whether the path goes left there, and its feature's slot in the leaf.
    edge_feature: NDArray[np.int32]
    edge_split: NDArray[np.float32]
    edge_default_left: NDArray[np.uint8]
    edge_left: NDArray[np.uint8]
    edge_slot: NDArray[np.int32]
    #: Per slot: the feature and ``z`` (product of its edges' cover ratios).
    slot_feature: NDArray[np.int32]
    slot_zero: NDArray[np.float64]
    #: Gauss-Legendre nodes and weights on [0, 1], enough for the longest path.
    quadrature_nodes: NDArray[np.float64]
    quadrature_weights: NDArray[np.float64]
    #: Base margin plus every tree's expected value: the contributions' last column.
    bias: float
    n_features: int

    @classmethod
    def from_forest(cls, forest: FlatForest, n_features: int) -> PathShap | None:
        """Paths of ``forest`` (milliseconds), or ``None`` without covers or with long paths."""
        if forest.cover is None:
            return None
        is_leaf = forest.left == -1
        parent = np.full(forest.left.size, -1, dtype=np.int32)
        went_left = np.zeros(forest.left.size, dtype=np.uint8)
        inner = np.flatnonzero(~is_leaf)
        parent[forest.left[inner]] = inner
        parent[forest.right[inner]] = inner
        went_left[forest.left[inner]] = 1
        if not np.array_equal(np.flatnonzero(parent == -1), np.sort(forest.roots)):
            return None  # a node no root reaches (a pruned tree's leftovers): not flattened
        leaves = np.flatnonzero(is_leaf).astype(np.int32)
        edge_start, edge_node, edge_left, edge_slot, slot_start, slot_feature, slot_zero, reach = (
            _flatten(leaves, parent, went_left, forest.feature, forest.cover)
        )
        longest = int(np.diff(slot_start).max(initial=0))
        if longest > MAX_PATH_FEATURES:
            return None
        # Exact for polynomials of degree < 2 × nodes; the integrands' is < longest.
        nodes, weights = np.polynomial.legendre.leggauss(max(1, (longest + 1) // 2))
        leaf_value = forest.value[leaves].astype(np.float64)
        return cls(
            leaf_value=leaf_value,
            edge_start=edge_start,
            slot_start=slot_start,
            edge_feature=forest.feature[edge_node],
            edge_split=forest.value[edge_node],
            edge_default_left=forest.default_left[edge_node],
            edge_left=edge_left,
            edge_slot=edge_slot,
            slot_feature=slot_feature,
            slot_zero=slot_zero,
            quadrature_nodes=(nodes + 1.0) / 2.0,
            quadrature_weights=weights / 2.0,
            bias=forest.base_margin + float(np.dot(leaf_value, reach)),
            n_features=n_features,
        )

    def contributions(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """Contributions for a (rows x features) matrix; the last column is the bias."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of {self.n_features} features, got shape {features.shape}"
            )
        # float32 as XGBoost compares (a float64 value next to a split could go the
        # other way), and C order for the compiled loop, which checks no bounds.
        matrix = np.ascontiguousarray(features, dtype=np.float32)
        result: NDArray[np.float64] = _contributions(
            matrix,
            self.n_features,
            self.leaf_value,
            self.edge_start,
            self.slot_start,
            self.edge_feature,
            self.edge_split,
            self.edge_default_left,
            self.edge_left,
            self.edge_slot,
            self.slot_feature,
            self.slot_zero,
            self.quadrature_nodes,
            self.quadrature_weights,
            self.bias,
        )
        return result


@numba.njit(nogil=True, cache=False)
def _flatten(leaves, parent, went_left, feature, cover):  # type: ignore[no-untyped-def]
    # Sizes first: every leaf's depth is its edge count.
    edge_start = np.zeros(leaves.size + 1, dtype=np.int64)
    for i in range(leaves.size):
        depth = 0
        node = leaves[i]
        while parent[node] != -1:
            node = parent[node]
            depth += 1
        edge_start[i + 1] = edge_start[i] + depth
    edges = edge_start[-1]
    edge_node = np.empty(edges, dtype=np.int32)
    edge_left = np.empty(edges, dtype=np.uint8)
    edge_slot = np.empty(edges, dtype=np.int32)
    # At most one slot per edge; trimmed below.
    slot_start = np.zeros(leaves.size + 1, dtype=np.int64)
    slot_feature = np.empty(edges, dtype=np.int32)
    slot_zero = np.empty(edges, dtype=np.float64)
    reach = np.empty(leaves.size, dtype=np.float64)
    for i in range(leaves.size):
        first = slot_start[i]
        n = 0
        product = 1.0
        child = leaves[i]
        e = edge_start[i]
        while parent[child] != -1:
            node = parent[child]
            slot = -1
            for k in range(n):
                if slot_feature[first + k] == feature[node]:
                    slot = k
                    break
            if slot == -1:
                slot = n
                slot_feature[first + n] = feature[node]
                slot_zero[first + n] = 1.0
                n += 1
            ratio = cover[child] / cover[node] if cover[node] > 0 else 0.0
            slot_zero[first + slot] *= ratio
            product *= ratio
            edge_node[e] = node
            edge_left[e] = went_left[child]
            edge_slot[e] = slot
            e += 1
            child = node
        slot_start[i + 1] = first + n
        reach[i] = product
    used = slot_start[-1]
    return (
        edge_start,
        edge_node,
        edge_left,
        edge_slot,
        slot_start,
        slot_feature[:used].copy(),
        slot_zero[:used].copy(),
        reach,
    )


@numba.njit(nogil=True, cache=False, fastmath={"contract"})
def _contributions(  # type: ignore[no-untyped-def]
    x,
    n_features,
    leaf_value,
    edge_start,
    slot_start,
    edge_feature,
    edge_split,
    edge_default_left,
    edge_left,
    edge_slot,
    slot_feature,
    slot_zero,
    nodes,
    weights,
    bias,
):
    # Branch-free on the row's data: which features a path satisfies is a coin
    # flip per leaf, and mispredicted branches on it cost more than the arithmetic.
    rows = x.shape[0]
    points = nodes.size
    out = np.zeros((rows, n_features + 1), dtype=np.float64)
    factor = np.empty((MAX_PATH_FEATURES, points), dtype=np.float64)
    product = np.empty(points, dtype=np.float64)
    for r in range(rows):
        for i in range(leaf_value.size):
            first = slot_start[i]
            d = slot_start[i + 1] - first
            unsatisfied = np.int64(0)  # bit k: the path's k-th feature is not followed
            for e in range(edge_start[i], edge_start[i + 1]):
                value = x[r, edge_feature[e]]
                goes_left = (value < edge_split[e]) | (
                    np.isnan(value) & (edge_default_left[e] == 1)
                )
                off_path = np.int64(goes_left != (edge_left[e] == 1))
                unsatisfied |= off_path << edge_slot[e]
            zero = 1.0
            for q in range(points):
                product[q] = weights[q]
            for k in range(d):
                followed = 1.0 - np.float64((unsatisfied >> k) & 1)
                z = slot_zero[first + k]
                zero *= z + (1.0 - z) * followed
                for q in range(points):
                    # t + (1 - t) z when followed, 1 - t when not
                    c = (1.0 - nodes[q]) * (1.0 + (z - 1.0) * followed) + nodes[q] * followed
                    factor[k, q] = c
                    product[q] *= c
            scale = leaf_value[i] * zero
            for k in range(d):
                followed = 1.0 - np.float64((unsatisfied >> k) & 1)
                integral = 0.0
                for q in range(points):
                    integral += product[q] / factor[k, q]
                z = slot_zero[first + k]
                out[r, slot_feature[first + k]] += (
                    scale * integral * ((1.0 - z) * followed - (1.0 - followed))
                )
        out[r, n_features] = bias
    return out
