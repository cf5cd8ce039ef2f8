"""Is the challenger really better? A paired bootstrap of the PR-AUC difference.

Champion and challenger score the *same* rows, so their errors are correlated
and the question is about the difference, not about two separate intervals.
Each bootstrap round draws the slice again with replacement, scores both
models' average precision on that same draw, and keeps the difference; the
spread of those differences says how much of the observed gain is luck.

Resampling unit: **cards**, not rows. Fraud comes in bursts on one card (a
card-testing run is ~20 transactions), so rows are not independent; drawing
rows would treat one burst as twenty pieces of evidence and make the p-value
too small. Drawing whole cards keeps each burst together (a cluster
bootstrap). Without groups, rows are drawn.

``p_value`` is one-sided: the share of rounds in which the challenger was not
better (difference <= 0), with the usual +1 so it is never exactly zero. The
interval is the percentile interval of the differences.

The rounds reuse one sort of each model's scores: a draw is a vector of
weights (how often each row was drawn), and average precision with weights is
cumulative sums in score order, so a thousand rounds over 10,000 rows take
well under a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from models.exceptions import ModelError

__all__ = ["PairedBootstrap", "paired_bootstrap_average_precision", "weighted_average_precision"]

#: Rounds evaluated together (rounds x rows weights in memory at once).
_CHUNK = 64


@dataclass(frozen=True)
class PairedBootstrap:
    """The challenger-minus-champion average precision and its bootstrap uncertainty."""

    observed_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    #: One-sided: how likely a difference this large is if the challenger is not better.
    p_value: float
    #: Rounds with fraud in the draw (rounds that drew no fraud are skipped).
    rounds: int
    #: Resampling units: cards (or rows when no groups were given).
    units: int
    unit: str

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def paired_bootstrap_average_precision(
    is_fraud: ArrayLike,
    champion_scores: ArrayLike,
    challenger_scores: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    rounds: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Bootstrap ``AP(challenger) - AP(champion)`` over ``groups`` (e.g. card ids) or rows."""
    labels = np.asarray(is_fraud, dtype=bool)
    old = np.asarray(champion_scores, dtype=np.float64)
    new = np.asarray(challenger_scores, dtype=np.float64)
    if not labels.size == old.size == new.size:
        raise ModelError("labels and both models' scores must have one value per row")
    if not labels.any() or labels.all():
        raise ModelError("the slice needs fraud and legitimate rows to compare precision")
    if rounds < 1 or not 0.0 < confidence < 1.0:
        raise ModelError("need rounds >= 1 and a confidence in (0, 1)")
    if groups is None:
        unit_of_row = np.arange(labels.size)
        unit = "rows"
    else:
        _, unit_of_row = np.unique(np.asarray(groups), return_inverse=True)
        unit = "groups"
    units = int(unit_of_row.max()) + 1

    ones = np.ones((1, labels.size))
    observed = float(
        weighted_average_precision(labels, new, ones)[0]
        - weighted_average_precision(labels, old, ones)[0]
    )
    rng = np.random.default_rng(seed)
    differences: list[NDArray[np.float64]] = []
    for start in range(0, rounds, _CHUNK):
        size = min(_CHUNK, rounds - start)
        # How often each unit is drawn in each round; a row weighs what its unit does.
        drawn = rng.multinomial(units, np.full(units, 1.0 / units), size=size)
        weights = drawn[:, unit_of_row].astype(np.float64)
        difference = weighted_average_precision(labels, new, weights) - (
            weighted_average_precision(labels, old, weights)
        )
        differences.append(difference[~np.isnan(difference)])
    spread = np.concatenate(differences)
    if spread.size == 0:
        raise ModelError("no bootstrap round drew a fraud row: the slice has too little fraud")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(spread, [tail, 1.0 - tail])
    return PairedBootstrap(
        observed_difference=observed,
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        p_value=float((1 + np.count_nonzero(spread <= 0.0)) / (1 + spread.size)),
        rounds=int(spread.size),
        units=units,
        unit=unit,
    )


def weighted_average_precision(
    is_fraud: NDArray[np.bool_], scores: NDArray[np.float64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Average precision for each row of ``weights`` (rounds x rows); NaN where no fraud weighs.

    Same definition as scikit-learn's ``average_precision_score`` with
    ``sample_weight``: tied scores form one threshold, and
    ``AP = sum_k (R_k - R_{k-1}) * P_k`` over thresholds from the highest score down.
    """
    order = np.argsort(-scores, kind="mergesort")
    ranked = scores[order]
    fraud = is_fraud[order].astype(np.float64)
    # The last position of each run of tied scores is where that threshold's counts are read.
    last_of_tie = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    w = weights[:, order]
    true_pos = np.cumsum(w * fraud, axis=1)[:, last_of_tie]
    flagged = np.cumsum(w, axis=1)[:, last_of_tie]
    precision = np.divide(true_pos, flagged, out=np.zeros_like(true_pos), where=flagged > 0)
    total = true_pos[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = true_pos / total
    gained = np.diff(recall, axis=1, prepend=0.0)
    result: NDArray[np.float64] = np.sum(gained * precision, axis=1)
    result[total[:, 0] <= 0] = np.nan
    return result
