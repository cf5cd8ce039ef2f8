"""Flag and block thresholds chosen from a stated policy, and the volumes they imply.

A decision fires when ``score >= threshold``. Thresholds are float32 values,
like the scores, so the comparison gives the same answer in float32 and in
float64. The policy speaks the language
of a fraud operation, not of probabilities:

* **block** at a false-positive rate: at most ``block_fpr`` of legitimate
  transactions may be blocked (default 0.1 %: blocking a good customer costs
  a customer);
* **flag** at a false-positive rate (default 1 %) and, optionally, at most
  ``flag_daily_capacity`` alerts per day on average, because the review queue
  has a fixed number of analysts. Capacity counts every alert at or above the
  flag threshold (blocked transactions are reviewed too). When both limits are
  given the stricter one wins; the flag threshold never exceeds the block one.

Thresholds are chosen on the later (test) slice: it is the most recent
labeled traffic, i.e. the best estimate of the traffic the model will meet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from models.exceptions import ModelError

__all__ = [
    "DecisionVolumes",
    "ThresholdPolicy",
    "Thresholds",
    "choose_thresholds",
    "decision_volumes",
    "threshold_for_count",
    "threshold_for_fpr",
]


@dataclass(frozen=True)
class ThresholdPolicy:
    """The operation's limits from which thresholds are derived."""

    block_fpr: float = 0.001
    flag_fpr: float = 0.01
    flag_daily_capacity: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.block_fpr <= self.flag_fpr <= 1.0:
            raise ModelError("need 0 <= block_fpr <= flag_fpr <= 1")
        if self.flag_daily_capacity is not None and self.flag_daily_capacity < 0:
            raise ModelError("flag_daily_capacity cannot be negative")


@dataclass(frozen=True)
class Thresholds:
    """``flag <= block``; a score at or above a threshold triggers its action."""

    flag: float
    block: float
    #: How they were chosen, in words (shown in reports and stored with the model).
    basis: str = ""

    def __post_init__(self) -> None:
        if self.flag > self.block:
            raise ModelError(f"flag threshold {self.flag} is above block threshold {self.block}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        return cls(flag=float(data["flag"]), block=float(data["block"]), basis=str(data["basis"]))


@dataclass(frozen=True)
class DecisionVolumes:
    """What the thresholds imply on a slice: alerts per day, shares, and their FPR/recall."""

    days: float  # the slice's time span
    flag_per_day: float
    block_per_day: float
    flag_share: float
    block_share: float
    flag_fpr: float
    block_fpr: float
    flag_recall: float
    block_recall: float


def threshold_for_count(scores: ArrayLike, max_count: int) -> float:
    """The lowest threshold with at most ``max_count`` of ``scores`` at or above it.

    Ties are respected: if the next score ties with one inside the budget, the
    threshold rises above both rather than exceed the budget.
    """
    # Scores are float32 (what every predictor returns), and so is the threshold: a
    # float64 threshold just above a float32 score would round back onto it when the
    # scorer compares in float32, and fire where the policy said it must not.
    values = np.sort(np.asarray(scores, dtype=np.float32))[::-1]
    if max_count < 0:
        raise ModelError("max_count cannot be negative")
    if values.size == 0:
        return 0.0
    if max_count >= values.size:
        return float(min(values[-1], np.float32(0.0)))
    # The next float32 above the first score that must stay below the threshold.
    return float(np.nextafter(values[max_count], np.float32(np.inf)))


def threshold_for_fpr(scores: ArrayLike, is_fraud: ArrayLike, fpr: float) -> float:
    """The lowest threshold whose false-positive rate on this slice is at most ``fpr``."""
    negatives = np.asarray(scores, dtype=np.float64)[~np.asarray(is_fraud, dtype=bool)]
    if negatives.size == 0:
        raise ModelError("no legitimate rows to measure a false-positive rate on")
    return threshold_for_count(negatives, int(np.floor(fpr * negatives.size + 1e-9)))


def choose_thresholds(
    scores: ArrayLike, is_fraud: ArrayLike, days: float, policy: ThresholdPolicy
) -> Thresholds:
    """Thresholds for ``policy`` on a labeled slice ``days`` long (its time span, not
    the calendar days it touches: a 7-day slice from noon touches 8 of those, and a
    capacity of N a day would have let N x 8/7 through)."""
    block = threshold_for_fpr(scores, is_fraud, policy.block_fpr)
    flag = threshold_for_fpr(scores, is_fraud, policy.flag_fpr)
    basis = f"block at FPR<={policy.block_fpr:g}; flag at FPR<={policy.flag_fpr:g}"
    if policy.flag_daily_capacity is not None:
        budget = int(np.floor(policy.flag_daily_capacity * _positive(days) + 1e-9))
        by_capacity = threshold_for_count(scores, budget)
        if by_capacity > flag:
            flag = by_capacity
            basis += f", raised to {policy.flag_daily_capacity} alerts/day (review capacity)"
        else:
            basis += f" (within {policy.flag_daily_capacity} alerts/day)"
    if flag > block:
        flag = block
        basis += "; blocks alone fill the review capacity, flag = block"
    return Thresholds(flag=flag, block=block, basis=basis)


def decision_volumes(
    scores: ArrayLike, is_fraud: ArrayLike, days: float, thresholds: Thresholds
) -> DecisionVolumes:
    """Alert volumes, shares, FPR and recall that ``thresholds`` imply on a labeled
    slice ``days`` long (its time span, as in ``choose_thresholds``)."""
    values = np.asarray(scores, dtype=np.float64)
    fraud = np.asarray(is_fraud, dtype=bool)
    days = _positive(days)
    flagged = values >= thresholds.flag
    blocked = values >= thresholds.block
    return DecisionVolumes(
        days=days,
        flag_per_day=float(flagged.sum() / days),
        block_per_day=float(blocked.sum() / days),
        flag_share=_share(flagged),
        block_share=_share(blocked),
        flag_fpr=_share(flagged[~fraud]),
        block_fpr=_share(blocked[~fraud]),
        flag_recall=_share(flagged[fraud]),
        block_recall=_share(blocked[fraud]),
    )


def _positive(days: float) -> float:
    if not days > 0:
        raise ModelError(f"a slice must last some time, not {days} days")
    return float(days)


def _share(mask: NDArray[np.bool_]) -> float:
    return float(mask.mean()) if mask.size else 0.0
