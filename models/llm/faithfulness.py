"""Is an explanation true to its case? Every cited feature, value, number, rule and level.

The checker reads the text the way an analyst would and holds each claim
against the case facts (``models.llm.facts.CaseFacts``):

* every number in the text occurs in the facts (score, feature values, the
  numbers inside descriptions), compared as numbers (``1500`` = ``1500.00``);
* every feature name it cites (snake_case, or a factor's name followed by a
  value) is one of the case's factors, and a value written next to a feature
  is that feature's value;
* every reason code (``R_...``) is a rule that fired on the case;
* a risk level ("high risk") is the case's level; "blocked" / "flagged" match
  the action;
* a sentence that says factors raise the risk names only factors that raise
  it, and likewise for lowering.

Format adherence is checked separately (``check_format``): one paragraph of a
few sentences, the risk level and score stated, every rule that fired and at
least one factor cited, no prompt scaffolding echoed back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.llm.facts import CaseFacts, Factor
from models.llm.prompts import explain_prompt

__all__ = [
    "MAX_EXPLANATION_CHARS",
    "CaseClaims",
    "FaithfulnessReport",
    "check_faithfulness",
    "check_format",
]

#: An explanation longer than this is not "short" (and would not fit the event's limit).
MAX_EXPLANATION_CHARS = 600
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w)")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_CODE = re.compile(r"\b[A-Z]_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")
_LEVEL = re.compile(r"\b(low|medium|high|critical)\s+risk\b", re.I)
_VALUE_AFTER = r"\s*(?:=|:|is|was|of|at)?\s*\(?\s*(?P<value>[-+]?\d+(?:\.\d+)?|yes|no|missing)\b"
_SENTENCE = re.compile(r"[^.!?]*(?:[.!?](?!\d)|$)")
_UP = re.compile(r"\b(rais\w*|driven up|push\w* up|increas\w*)\b", re.I)
_DOWN = re.compile(r"\b(lower\w*|pull\w* (it )?down|driven down|decreas\w*|reduc\w*)\b", re.I)
_SCAFFOLDING = re.compile(
    r"(Action:|Risk:|Score:|Rule:|Factors?:|Raises risk:|Lowers risk:|Check:|Explanation:|<<<|>>>)"
)


@dataclass(frozen=True)
class FaithfulnessReport:
    faithful: bool
    problems: list[str] = field(default_factory=list)
    #: Factor names the text cites (all true for the case when ``faithful``).
    cited_features: list[str] = field(default_factory=list)


def check_faithfulness(text: str, facts: CaseFacts) -> FaithfulnessReport:
    """Hold every claim of ``text`` against ``facts`` (see the module docstring)."""
    return CaseClaims(facts).check(text)


class CaseClaims:
    """What may be said about one case, prepared once and held against many texts.

    ``check`` is the full faithfulness check of a finished text. ``admits_prefix``
    is the same check on a text still being written: its complete claims must
    hold, and the word or number it ends in must still be able to become a true
    one (a prefix of a number in the case, of a factor's name, of a rule code,
    of the value of the factor just named). Constrained decoding
    (``models.llm.constrained``) asks it about each candidate token, so it must
    stay cheap: everything that depends only on the case is computed here.
    """

    def __init__(self, facts: CaseFacts) -> None:
        self.facts = facts
        self.factors = {f.feature: f for f in facts.factors}
        numbers = _NUMBER.findall(explain_prompt(facts))
        self.allowed_numbers = {float(n) for n in numbers}
        self.number_strings = tuple(sorted(set(numbers)))
        self.rule_codes = {rule.code for rule in facts.rules}
        self._value_after = {
            name: re.compile(rf"\b{re.escape(name)}\b{_VALUE_AFTER}") for name in self.factors
        }
        self._value_tail = (
            re.compile(
                rf"\b(?P<name>{'|'.join(map(re.escape, self.factors))})\b"
                r"\s*(?:=|:|is|was|of|at)?\s*\(?\s*(?P<value>[-+]?\d+(?:\.\d*)?)$"
            )
            if self.factors
            else None
        )

    def check(self, text: str) -> FaithfulnessReport:
        facts, factors = self.facts, self.factors
        problems: list[str] = []
        for number in _NUMBER.findall(text):
            if float(number) not in self.allowed_numbers:
                problems.append(f"number {number} is not in the case")

        cited: dict[str, None] = {}
        for name in _SNAKE.findall(text):
            if name in factors:
                cited[name] = None
            else:
                problems.append(f"cites {name}, which is not a factor of the case")
        for name, factor in factors.items():
            for match in self._value_after[name].finditer(text):
                cited[name] = None
                if not _same_value(match.group("value"), factor.value):
                    problems.append(
                        f"{name} is {factor.value}, the text says {match.group('value')}"
                    )

        for code in _CODE.findall(text):
            if code not in self.rule_codes:
                problems.append(f"reason {code} did not fire on the case")
        for level in _LEVEL.findall(text):
            if level.lower() != facts.risk_level:
                problems.append(f"says {level.lower()} risk, the case is {facts.risk_level}")
        if re.search(r"\bblocked\b", text, re.I) and facts.action != "block":
            problems.append(f"says blocked, the action was {facts.action}")
        if re.search(r"\bflagged\b", text, re.I) and facts.action != "flag":
            problems.append(f"says flagged, the action was {facts.action}")
        problems += _direction_problems(text, factors)
        in_case_order = [name for name in factors if name in cited]
        return FaithfulnessReport(not problems, problems, in_case_order)

    def admits_prefix(self, text: str) -> bool:
        """Can ``text``, a beginning of an explanation, still end as a faithful one?

        Conservative: a claim is judged as soon as it can be, so a sentence that
        states a wrong direction is refused even though a later word could have
        made it claim none, and a factor's name is refused from its first
        underscore when every factor it could become would be a false citation
        there (greedy decoding cannot take a token back, so a late refusal
        would leave the sentence with nowhere true to go).
        """
        tail = _OPEN_TAIL.search(text)
        closed = text[: tail.start()] if tail else text
        if not self.check(closed).faithful:
            return False
        if tail is None:
            return True
        word = tail.group(0)
        if tail.group("number") is not None:
            if not self._number_may_continue(word):
                return False
            value = self._value_tail.search(text) if self._value_tail else None
            if value is not None:
                written = value.group("value")
                actual = self.factors[value.group("name")].value
                return _number_prefix(written, actual) or (
                    written.endswith(".") and _same_value(written[:-1], actual)
                )
            return True
        if tail.group("snake") is not None:
            # A name is judged by what it can still become: only factors whose citation
            # here would be true (a "lowering" sentence cannot start a raising factor).
            return any(
                self.check(closed + name).faithful for name in self.factors if name.startswith(word)
            )
        if tail.group("code") is not None:
            return any(code.startswith(word) for code in self.rule_codes)
        return True

    def _number_may_continue(self, written: str) -> bool:
        if any(_number_prefix(written, allowed) for allowed in self.number_strings):
            return True
        # "... at score 0.91." - the full stop after a complete number ends the sentence.
        return written.endswith(".") and float(written[:-1]) in self.allowed_numbers


#: The unfinished word a prefix ends in: a number (maybe with its decimal point
#: still open), a snake_case name with at least one underscore, a reason code.
_OPEN_TAIL = re.compile(
    r"(?P<number>(?<![\w.])[-+]?\d+(?:\.\d*)?$)"
    r"|(?P<snake>(?<![\w])[a-z][a-z0-9]*(?:_[a-z0-9]*)+$)"
    r"|(?P<code>(?<![\w])[A-Z]_[A-Z0-9_]*$)"
    r"|(?P<word>(?<![\w])\w+$)"
)


def _number_prefix(written: str, allowed: str) -> bool:
    """Can ``written`` still grow into ``allowed`` (or into a number equal to it)?"""
    if allowed.startswith(written):
        return True
    try:
        target = float(allowed)
        # "1500" may become "1500.0": trailing zeros after a point change nothing.
        return written.rstrip("0").rstrip(".") != "" and float(written.rstrip(".")) == target
    except ValueError:
        return False


def check_format(text: str, facts: CaseFacts) -> list[str]:
    """What is wrong with the form of ``text`` (empty list = adheres to the format)."""
    problems: list[str] = []
    stripped = text.strip()
    if not stripped:
        return ["empty"]
    if len(stripped) > MAX_EXPLANATION_CHARS:
        problems.append(f"longer than {MAX_EXPLANATION_CHARS} characters")
    if "\n" in stripped:
        problems.append("more than one paragraph")
    if not stripped.endswith("."):
        problems.append("does not end with a full stop")
    sentences = [s for s in _SENTENCE.findall(stripped) if s.strip()]
    if not 2 <= len(sentences) <= 6:
        problems.append(f"{len(sentences)} sentences (2-6 expected)")
    if not re.search(rf"(?<!\w){facts.risk_level}(?!\w)", stripped, re.I):
        problems.append("does not state the risk level")
    if facts.score not in stripped:
        problems.append("does not state the score")
    missing_rules = [r.code for r in facts.rules if r.code not in stripped]
    if missing_rules:
        problems.append(f"omits rule {', '.join(missing_rules)}")
    if facts.factors and not any(f.feature in stripped for f in facts.factors):
        problems.append("cites no factor")
    if _SCAFFOLDING.search(stripped):
        problems.append("echoes the prompt's layout")
    return problems


def _same_value(written: str, actual: str) -> bool:
    try:
        return float(written) == float(actual)
    except ValueError:
        return written.lower() == actual.lower()


def _direction_problems(text: str, factors: dict[str, Factor]) -> list[str]:
    problems = []
    for sentence in _SENTENCE.findall(text):
        up, down = bool(_UP.search(sentence)), bool(_DOWN.search(sentence))
        if up == down:
            continue  # no direction claimed, or both in one sentence: nothing to hold it to
        for name, factor in factors.items():
            if not re.search(rf"\b{re.escape(name)}\b", sentence):
                continue
            if factor.raises != up:
                said = "raises" if up else "lowers"
                problems.append(f"says {name} {said} the risk, it does the opposite")
    return problems
