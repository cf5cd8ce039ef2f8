"""The facts of a flagged case, computed in code: what the explain adapter may put into words.

Everything that can be computed is computed here, never by the model: the
risk level (from action, score and rule hits), the formatted score, the top
SHAP features with their served values formatted once, the direction each one
pushes the score, the rules that fired with their descriptions, and the next
check an analyst would make. The model only words these facts; the
faithfulness checker (``models.llm.faithfulness``) holds its text against them.

Risk level (one rule, documented because analysts sort by it):

    block                                     -> critical
    flag with a rule hit (R_*) or score >= 0.8 -> high
    other flags                               -> medium
    allow                                     -> low
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from contracts.events import Action, Decision, RiskLevel
from models.llm.features_text import (
    BINARY_FEATURES,
    MONEY_FEATURES,
    describe_feature,
    feature_check,
)

__all__ = [
    "HIGH_SCORE",
    "DEFAULT_CHECK",
    "CaseFacts",
    "Factor",
    "RuleFact",
    "case_facts",
    "format_number",
    "format_value",
    "risk_level",
]

#: A flag at or above this score is "high" risk even without a rule hit.
HIGH_SCORE = 0.8
#: How many SHAP features an explanation may cite (the largest by |contribution|).
MAX_FACTORS = 3
DEFAULT_CHECK = "review the recent activity with the customer"


class Factor(msgspec.Struct, frozen=True):
    """One SHAP feature of the case: its served value (formatted) and which way it pushed."""

    feature: str
    value: str
    description: str
    raises: bool


class RuleFact(msgspec.Struct, frozen=True):
    code: str
    description: str


class CaseFacts(msgspec.Struct, frozen=True, kw_only=True):
    """A flagged case reduced to the facts an explanation may state."""

    tx_id: str
    action: Action
    score: str
    risk_level: RiskLevel
    rules: tuple[RuleFact, ...] = ()
    factors: tuple[Factor, ...] = ()
    next_step: str = DEFAULT_CHECK
    cold_start: bool = False


def risk_level(action: Action, score: float, rule_codes: tuple[str, ...] | list[str]) -> RiskLevel:
    """The risk level an analyst sorts by (see the module docstring for the rule)."""
    if action == "block":
        return "critical"
    if action == "allow":
        return "low"
    if score >= HIGH_SCORE or any(code.startswith("R_") for code in rule_codes):
        return "high"
    return "medium"


def format_number(value: float) -> str:
    """A number as explanations write it: integers plain, else 1-3 decimals by magnitude."""
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_value(feature: str, value: float | None) -> str:
    """A served feature value as text: "missing", "yes"/"no", money with cents, else a number."""
    if value is None or math.isnan(value):
        return "missing"
    if feature in BINARY_FEATURES:
        return "yes" if value >= 0.5 else "no"
    if feature in MONEY_FEATURES:
        return f"{value:.2f}"
    return format_number(value)


def case_facts(
    decision: Decision,
    rule_descriptions: Mapping[str, str] | None = None,
    *,
    max_factors: int = MAX_FACTORS,
) -> CaseFacts:
    """The facts of ``decision``; ``rule_descriptions`` maps reason codes (R_*) to plain words."""
    descriptions = rule_descriptions or {}
    rule_codes = [code for code in decision.reasons if code.startswith("R_")]
    rules = tuple(
        RuleFact(code, descriptions.get(code, code[2:].lower().replace("_", " ")))
        for code in dict.fromkeys(rule_codes)
    )
    factors = tuple(
        Factor(
            feature=c.feature,
            value=format_value(c.feature, c.value),
            description=describe_feature(c.feature),
            raises=c.contribution > 0,
        )
        for c in decision.top_contributions[:max_factors]
    )
    checks = [feature_check(f.feature) for f in factors if f.raises]
    return CaseFacts(
        tx_id=decision.tx_id,
        action=decision.action,
        score=f"{decision.score:.2f}",
        risk_level=risk_level(decision.action, decision.score, rule_codes),
        rules=rules,
        factors=factors,
        next_step=next((c for c in checks if c), DEFAULT_CHECK),
        cold_start=decision.cold_start,
    )
