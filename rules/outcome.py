"""What evaluating a rule set produces: hits, tags and the winning hard action.

Precedence (the same as Stripe Radar's allow-before-block order):

1. ``allow`` (an override, e.g. an allow-listed card) beats everything;
2. ``block`` beats ``flag``;
3. ``flag`` sends the transaction to review;
4. ``tag`` never decides; it only adds a tag.

Among rules of the same action the higher ``priority`` comes first, then the
order in the file: the first hit of the winning action gives the primary
reason code. ``shadow`` rules are evaluated and reported (``shadow=True``)
but never change the action, the reasons or the tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ACTION_RANK",
    "HardAction",
    "RuleAction",
    "RuleHit",
    "RuleOutcome",
    "combine",
]

RuleAction = Literal["allow", "block", "flag", "tag"]
HardAction = Literal["allow", "block", "flag"]

#: Lower rank wins.
ACTION_RANK: dict[RuleAction, int] = {"allow": 0, "block": 1, "flag": 2, "tag": 3}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule whose condition was true for the transaction."""

    rule_id: str
    action: RuleAction
    reason: str
    shadow: bool = False
    priority: int = 0
    #: The tag a ``tag`` rule adds (None for other actions).
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """The rule engine's verdict on one transaction (before the decision policy).

    ``action`` is the winning hard action of the active hits (None: no rule
    decided); ``reasons`` are the reason codes of the active hits with that
    action, primary first; ``hits`` lists every hit, shadow included, in
    precedence order; ``errors`` names rules that failed at run time (a value
    of an unexpected type in the context) and so did not fire.
    """

    action: HardAction | None
    reasons: tuple[str, ...]
    hits: tuple[RuleHit, ...]
    tags: tuple[str, ...]
    rule_set_version: str
    errors: tuple[str, ...] = ()

    @property
    def active_hits(self) -> tuple[RuleHit, ...]:
        return tuple(hit for hit in self.hits if not hit.shadow)

    @property
    def shadow_hits(self) -> tuple[RuleHit, ...]:
        return tuple(hit for hit in self.hits if hit.shadow)


def _order(hit: RuleHit) -> tuple[int, int]:
    return ACTION_RANK[hit.action], -hit.priority


def combine(
    hits: Sequence[RuleHit], rule_set_version: str, errors: Sequence[str] = ()
) -> RuleOutcome:
    """The outcome of ``hits`` (any order; ties keep their given order)."""
    ordered = sorted(hits, key=_order)
    active = [hit for hit in ordered if not hit.shadow]
    action: HardAction | None = None
    for hit in active:
        if hit.action != "tag":
            action = hit.action
            break
    reasons = tuple(hit.reason for hit in active if hit.action == action)
    tags = tuple(dict.fromkeys(hit.tag for hit in active if hit.tag is not None))
    return RuleOutcome(action, reasons, tuple(ordered), tags, rule_set_version, tuple(errors))
