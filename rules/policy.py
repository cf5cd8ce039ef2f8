"""The decision policy: model score + rule outcome -> allow / flag / block, with reasons.

Rules win. In order:

1. a rule ``allow`` (override) allows, whatever the score;
2. a rule ``block`` blocks, whatever the score;
3. otherwise the score decides: ``block`` at or above the block threshold,
   ``flag`` at or above the flag threshold, else ``allow``. A cold-start score
   (from the anomaly model, less sure of itself) uses the cold-start thresholds
   when they are set;
4. a rule ``flag`` raises an ``allow`` to ``flag`` (it never lowers a block).

Without a score (the model was unavailable: a degraded, rules-only decision)
step 3 gives ``thresholds.unscored`` with reason ``S_NO_SCORE``.

Reason codes: the rules' own (``R_...``) first when a rule decided, and the
score's (``S_...``) whenever the score crossed a threshold, so an analyst sees
both. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.events import Action
from rules.outcome import RuleOutcome

__all__ = [
    "COLD_START_BLOCK",
    "COLD_START_FLAG",
    "NO_SCORE",
    "SCORE_BLOCK",
    "SCORE_FLAG",
    "PolicyDecision",
    "Thresholds",
    "decide",
    "decide_batch",
]

SCORE_BLOCK = "S_SCORE_BLOCK"
SCORE_FLAG = "S_SCORE_FLAG"
COLD_START_BLOCK = "S_COLD_START_BLOCK"
COLD_START_FLAG = "S_COLD_START_FLAG"
NO_SCORE = "S_NO_SCORE"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score cut-offs. Set ``cold_start_block`` above 1 (``math.inf``) so a
    cold-start score can flag but never block on its own."""

    flag: float
    block: float
    #: None: the same as ``flag`` / ``block``.
    cold_start_flag: float | None = None
    cold_start_block: float | None = None
    #: What a transaction without a score gets when no rule decided.
    unscored: Action = "allow"

    def __post_init__(self) -> None:
        _check_pair("", self.flag, self.block)
        cold_flag = self.flag if self.cold_start_flag is None else self.cold_start_flag
        cold_block = self.block if self.cold_start_block is None else self.cold_start_block
        _check_pair("cold_start_", cold_flag, cold_block)

    def for_entity(self, cold_start: bool) -> tuple[float, float]:
        """(flag, block) cut-offs for a warm or cold-start entity."""
        if not cold_start:
            return self.flag, self.block
        flag = self.flag if self.cold_start_flag is None else self.cold_start_flag
        block = self.block if self.cold_start_block is None else self.cold_start_block
        return flag, block


def _check_pair(prefix: str, flag: float, block: float) -> None:
    if math.isnan(flag) or math.isnan(block) or not 0.0 <= flag <= block:
        raise ValueError(
            f"thresholds need 0 <= {prefix}flag <= {prefix}block, got {flag} and {block}"
        )


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    action: Action
    reasons: tuple[str, ...]


def _score_band(
    score: float | None, thresholds: Thresholds, cold_start: bool
) -> tuple[Action, str | None]:
    if score is None or math.isnan(score):
        return thresholds.unscored, NO_SCORE
    flag, block = thresholds.for_entity(cold_start)
    if score >= block:
        return "block", COLD_START_BLOCK if cold_start else SCORE_BLOCK
    if score >= flag:
        return "flag", COLD_START_FLAG if cold_start else SCORE_FLAG
    return "allow", None


def decide(
    score: float | None,
    thresholds: Thresholds,
    *,
    cold_start: bool = False,
    outcome: RuleOutcome | None = None,
) -> PolicyDecision:
    """The final action and its reason codes (see the module docstring for the order)."""
    rule_action = outcome.action if outcome is not None else None
    rule_reasons = outcome.reasons if outcome is not None else ()
    if rule_action == "allow":
        return PolicyDecision("allow", rule_reasons)
    band, score_reason = _score_band(score, thresholds, cold_start)
    score_reasons = (score_reason,) if score_reason is not None else ()
    if rule_action == "block":
        return PolicyDecision("block", rule_reasons + score_reasons)
    if rule_action == "flag":
        action: Action = "block" if band == "block" else "flag"
        return PolicyDecision(action, score_reasons + rule_reasons)
    return PolicyDecision(band, score_reasons)


def decide_batch(
    scores: Sequence[float | None],
    thresholds: Thresholds,
    cold_start: Sequence[bool],
    outcomes: Sequence[RuleOutcome | None],
) -> list[PolicyDecision]:
    """``decide`` for parallel sequences of scores, cold-start flags and rule outcomes.

    The same decisions, cheaper: when no rule decided (almost every
    transaction) the answer depends only on the score band and warm/cold, so
    those few decisions are built once and shared (they are immutable); a row
    where a rule decided goes through ``decide`` itself.
    """
    warm_flag, warm_block = thresholds.for_entity(False)
    cold_flag, cold_block = thresholds.for_entity(True)
    allow = PolicyDecision("allow", ())
    warm = (
        PolicyDecision("block", (SCORE_BLOCK,)),
        PolicyDecision("flag", (SCORE_FLAG,)),
    )
    cold = (
        PolicyDecision("block", (COLD_START_BLOCK,)),
        PolicyDecision("flag", (COLD_START_FLAG,)),
    )
    unscored = PolicyDecision(thresholds.unscored, (NO_SCORE,))
    decisions: list[PolicyDecision] = []
    append = decisions.append
    for score, is_cold, outcome in zip(scores, cold_start, outcomes, strict=True):
        if outcome is not None and outcome.action is not None:
            append(decide(score, thresholds, cold_start=is_cold, outcome=outcome))
        elif score is None or score != score:  # NaN: no usable score
            append(unscored)
        elif is_cold:
            append(cold[0] if score >= cold_block else cold[1] if score >= cold_flag else allow)
        else:
            append(warm[0] if score >= warm_block else warm[1] if score >= warm_flag else allow)
    return decisions
