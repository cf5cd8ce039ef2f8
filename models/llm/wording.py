"""Explanation texts written from case facts: the training targets and the template fallback.

The explain adapter learns from texts written here with varied wording (a
seeded choice among phrasings for each sentence), so it learns to word facts,
not to repeat one template. Every variant states only the facts it is given,
which is why the faithfulness checker accepts all of them.

``template_explanation`` is the fixed, plain variant the worker writes when
the model is slow, down or unfaithful; the Explanation carries
``source="template"`` so nobody mistakes it for the model's words.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from models.llm.facts import CaseFacts, Factor

__all__ = ["reference_explanation", "template_explanation"]

#: Picks one phrasing among a sentence's options.
_Chooser = Callable[[tuple[str, ...]], str]

_ACTION_WORDS = {"flag": "flagged for review", "block": "blocked", "allow": "allowed"}

_OPENINGS = (
    "{Risk} risk: {acted} at score {score}.",
    "This payment was {acted} as {risk} risk (score {score}).",
)
_ONE_RULE = (
    "Rule {code} fired: {description}.",
    "It matched rule {code} ({description}).",
)
_MANY_RULES = (
    "Rules {codes} fired.",
    "It matched rules {codes}.",
)
_NO_RULE_COLD = (
    "The card is new, so the cold-start model scored it without card history.",
    "No rule fired; the card has no history, so the cold-start model decided.",
)
_RAISING = (
    "Raising the risk: {items}.",
    "The score is driven up by {items}.",
)
_LOWERING = (
    "Lowering it: {items}.",
    "Pulling it down: {items}.",
)
_NEXT = (
    "Next step: {check}.",
    "Suggested check: {check}.",
)


def reference_explanation(facts: CaseFacts, rng: random.Random) -> str:
    """A training target for ``facts``: every sentence's phrasing drawn from ``rng``."""
    return _compose(facts, lambda options: options[rng.randrange(len(options))])


def template_explanation(facts: CaseFacts) -> str:
    """The fallback text: the first phrasing of every sentence, always the same for a case."""
    return _compose(facts, lambda options: options[0])


def _compose(facts: CaseFacts, choose: _Chooser) -> str:
    acted = _ACTION_WORDS[facts.action]
    sentences = [
        choose(_OPENINGS).format(
            Risk=facts.risk_level.capitalize(),
            risk=facts.risk_level,
            acted=acted,
            score=facts.score,
        )
    ]
    if len(facts.rules) == 1:
        rule = facts.rules[0]
        sentences.append(choose(_ONE_RULE).format(code=rule.code, description=rule.description))
    elif facts.rules:
        codes = _join([rule.code for rule in facts.rules])
        sentences.append(choose(_MANY_RULES).format(codes=codes))
    elif not facts.factors:
        sentences.append(choose(_NO_RULE_COLD))
    # Names and values only (the prompt's descriptions would double the length and the
    # latency); one lowering factor is enough context.
    raising = [_item(f) for f in facts.factors if f.raises]
    lowering = [_item(f) for f in facts.factors if not f.raises][:1]
    if raising:
        sentences.append(choose(_RAISING).format(items=_join(raising)))
    if lowering:
        sentences.append(choose(_LOWERING).format(items=_join(lowering)))
    sentences.append(choose(_NEXT).format(check=facts.next_step))
    return " ".join(sentences)


def _item(factor: Factor) -> str:
    return f"{factor.feature} {factor.value}"


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
