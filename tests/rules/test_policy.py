"""The decision policy: rules win, then the score bands, with the reason codes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rules.outcome import RuleHit, RuleOutcome, combine
from rules.policy import (
    COLD_START_BLOCK,
    COLD_START_FLAG,
    NO_SCORE,
    SCORE_BLOCK,
    SCORE_FLAG,
    Thresholds,
    decide,
)

T = Thresholds(flag=0.5, block=0.9)


def outcome(*actions: str) -> RuleOutcome:
    hits = [RuleHit(f"r_{a}", a, f"R_{a.upper()}") for a in actions]  # type: ignore[arg-type]
    return combine(hits, "v1")


NONE = outcome()


@pytest.mark.parametrize(
    ("score", "rules", "action", "reasons"),
    [
        # score bands, no rule
        (0.10, NONE, "allow", ()),
        (0.4999, NONE, "allow", ()),
        (0.50, NONE, "flag", (SCORE_FLAG,)),
        (0.89, NONE, "flag", (SCORE_FLAG,)),
        (0.90, NONE, "block", (SCORE_BLOCK,)),
        (1.00, NONE, "block", (SCORE_BLOCK,)),
        # a rule block blocks regardless of the score
        (0.01, outcome("block"), "block", ("R_BLOCK",)),
        (0.95, outcome("block"), "block", ("R_BLOCK", SCORE_BLOCK)),
        # a rule allow overrides the score and every other rule
        (0.99, outcome("allow"), "allow", ("R_ALLOW",)),
        (0.99, outcome("allow", "block", "flag"), "allow", ("R_ALLOW",)),
        # a rule flag raises allow to flag, keeps flag, never lowers block
        (0.10, outcome("flag"), "flag", ("R_FLAG",)),
        (0.60, outcome("flag"), "flag", (SCORE_FLAG, "R_FLAG")),
        (0.95, outcome("flag"), "block", (SCORE_BLOCK, "R_FLAG")),
        # tags and shadow hits do not decide
        (0.10, outcome("tag"), "allow", ()),
        (
            0.10,
            combine([RuleHit("s", "block", "R_S", shadow=True)], "v1"),
            "allow",
            (),
        ),
        # no score (model down): rules still apply, else the unscored action
        (None, NONE, "allow", (NO_SCORE,)),
        (math.nan, NONE, "allow", (NO_SCORE,)),
        (None, outcome("block"), "block", ("R_BLOCK", NO_SCORE)),
        (None, outcome("flag"), "flag", (NO_SCORE, "R_FLAG")),
    ],
)
def test_decision_table(
    score: float | None, rules: RuleOutcome, action: str, reasons: tuple[str, ...]
) -> None:
    decision = decide(score, T, cold_start=False, outcome=rules)
    assert (decision.action, decision.reasons) == (action, reasons)


def test_no_outcome_is_score_only() -> None:
    assert decide(0.7, T).action == "flag"
    assert decide(0.2, T).action == "allow"


@pytest.mark.parametrize(
    ("score", "thresholds", "action", "reasons"),
    [
        # same thresholds, cold-start reason codes
        (0.95, T, "block", (COLD_START_BLOCK,)),
        (0.60, T, "flag", (COLD_START_FLAG,)),
        # cold-start scores can be made to flag only
        (0.99, Thresholds(0.5, 0.9, cold_start_block=math.inf), "flag", (COLD_START_FLAG,)),
        # or get their own, stricter flag threshold
        (0.60, Thresholds(0.5, 0.9, cold_start_flag=0.7), "allow", ()),
        (0.75, Thresholds(0.5, 0.9, cold_start_flag=0.7), "flag", (COLD_START_FLAG,)),
    ],
)
def test_cold_start_thresholds(
    score: float, thresholds: Thresholds, action: str, reasons: tuple[str, ...]
) -> None:
    decision = decide(score, thresholds, cold_start=True, outcome=NONE)
    assert (decision.action, decision.reasons) == (action, reasons)
    # The same score on a warm entity uses the ordinary thresholds.
    warm = decide(score, thresholds, cold_start=False, outcome=NONE)
    assert warm.action == ("block" if score >= 0.9 else "flag" if score >= 0.5 else "allow")


def test_unscored_action_is_configurable() -> None:
    strict = Thresholds(0.5, 0.9, unscored="flag")
    assert decide(None, strict).action == "flag"
    assert decide(None, strict, outcome=outcome("allow")).action == "allow"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flag": 0.9, "block": 0.5},
        {"flag": -0.1, "block": 0.5},
        {"flag": math.nan, "block": 0.5},
        {"flag": 0.5, "block": 0.9, "cold_start_flag": 0.95},
        {"flag": 0.5, "block": 0.9, "cold_start_block": 0.2},
    ],
)
def test_inconsistent_thresholds_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="thresholds need"):
        Thresholds(**kwargs)


def test_decide_batch_is_decide_for_every_row() -> None:
    from rules.policy import decide_batch

    scores = [None, math.nan, 0.0, 0.4999, 0.5, 0.6, 0.7, 0.75, 0.8999, 0.9, 0.95, 1.0]
    outcomes = [None, NONE, outcome("allow"), outcome("block"), outcome("flag"), outcome("tag")]
    outcomes.append(combine([RuleHit("s", "block", "R_S", shadow=True)], "v1"))
    for thresholds in (
        T,
        Thresholds(0.5, 0.9, cold_start_flag=0.7, cold_start_block=0.8),
        Thresholds(0.5, 0.9, cold_start_block=math.inf, unscored="flag"),
    ):
        rows = [(s, c, o) for s in scores for c in (False, True) for o in outcomes]
        batch = decide_batch(
            [s for s, _, _ in rows], thresholds, [c for _, c, _ in rows], [o for *_, o in rows]
        )
        expected = [decide(s, thresholds, cold_start=c, outcome=o) for s, c, o in rows]
        assert batch == expected


def test_decide_batch_wants_parallel_sequences() -> None:
    from rules.policy import decide_batch

    with pytest.raises(ValueError):
        decide_batch([0.1, 0.2], T, [False], [NONE, NONE])
