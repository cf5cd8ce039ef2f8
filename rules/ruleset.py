"""A validated, compiled rule set and its evaluation over one or many contexts.

A ``RuleSet`` is immutable: reloading makes a new one (see ``rules.reload``).
Its ``version`` is the file's declared version plus a hash of its content
(``2026.11-1+3f2a9c1b04de``), so two files that differ never share a version.

Named lists: the file declares every list a rule may use, with default members.
At evaluation the members of a list are the file's defaults *plus* the members
of the run-time snapshot passed in (``rules.lists``); removing a file default
means editing the file. A list checked against ``ip`` or ``country`` is typed
by that use (``rules.lists.kinds``): its defaults are normalised (IP addresses
to one spelling, country codes upper-cased) and a default that no transaction
could match makes the rule set invalid; an IP list matches any spelling of the
transaction's ``ip``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rules.exceptions import RuleProblem, RuleSetError
from rules.expression import CompiledExpression
from rules.expression.types import Context, Evaluator, Lists
from rules.lists.kinds import IpAddresses, ListKind, list_kinds, normalise_members
from rules.outcome import ACTION_RANK, RuleAction, RuleHit, RuleOutcome, combine

__all__ = ["CompiledRule", "Rule", "RuleMode", "RuleSet"]

log = logging.getLogger(__name__)

RuleMode = Literal["active", "shadow"]
# A context with a value of an unexpected type (a string where a number belongs)
# makes a comparison raise one of these: the rule does not fire, the outcome says so.
_RUNTIME_ERRORS = (TypeError, ValueError, ArithmeticError)
#: Bound on the per-combination outcome cache (a set of 20 rules rarely shows 100).
_MAX_CACHED_OUTCOMES = 4096


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as written in the file."""

    id: str
    when: str
    action: RuleAction
    reason: str
    description: str = ""
    priority: int = 0
    mode: RuleMode = "active"
    enabled: bool = True
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    condition: CompiledExpression
    #: The hit this rule reports, built once (hits carry no per-transaction data).
    hit: RuleHit


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Compiled rules ready to evaluate; build with ``rules.loader``."""

    declared_version: str
    content_hash: str
    source: str
    rules: tuple[CompiledRule, ...]
    #: The file's named lists with their default members (normalised by kind).
    lists: Mapping[str, frozenset[str]]
    description: str = ""
    #: The IP and country lists, typed by the rules that use them; the rest are text.
    list_kinds: Mapping[str, ListKind] = field(init=False)
    _plan: tuple[tuple[Evaluator, int], ...] = field(init=False, repr=False)
    _hits: tuple[RuleHit, ...] = field(init=False, repr=False)
    _nothing: RuleOutcome = field(init=False, repr=False)
    _merged: list[tuple[object, Lists]] = field(init=False, repr=False)
    _outcomes: dict[tuple[int, ...], RuleOutcome] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._prepare_lists()
        # Evaluate in precedence order so hits come out sorted: no sort per transaction.
        enabled = sorted(
            (r for r in self.rules if r.rule.enabled),
            key=lambda r: (ACTION_RANK[r.rule.action], -r.rule.priority),
        )
        plan = tuple((r.condition.evaluate, i) for i, r in enumerate(enabled))
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_hits", tuple(r.hit for r in enabled))
        object.__setattr__(self, "_outcomes", {})
        object.__setattr__(self, "_nothing", RuleOutcome(None, (), (), (), self.version))
        object.__setattr__(self, "_merged", [(None, dict(self.lists))])

    def _prepare_lists(self) -> None:
        """Type the lists by their use and normalise their defaults; ``RuleSetError`` if bad.

        Checked here, where the members are prepared for the membership checks, so
        every way of building a rule set (file, reload, CLI) refuses the same files.
        """
        try:
            kinds = list_kinds((r.rule.id, r.rule.when) for r in self.rules)
        except ValueError as exc:
            raise RuleSetError.single(self.source, str(exc)) from exc
        problems: list[RuleProblem] = []
        lists: dict[str, frozenset[str]] = {}
        for name, defaults in self.lists.items():
            kind = kinds.get(name, ListKind.TEXT)
            try:
                lists[name] = _membership(kind, normalise_members(kind, name, defaults))
            except ValueError as exc:
                problems.append(RuleProblem(self.source, str(exc)))
        if problems:
            raise RuleSetError(problems)
        object.__setattr__(self, "list_kinds", kinds)
        object.__setattr__(self, "lists", lists)

    def list_kind(self, name: str) -> ListKind:
        """What list ``name`` holds (text for a list no rule checks ``ip``/``country`` against)."""
        return self.list_kinds.get(name, ListKind.TEXT)

    @property
    def version(self) -> str:
        return f"{self.declared_version}+{self.content_hash}"

    def rule(self, rule_id: str) -> Rule:
        for compiled in self.rules:
            if compiled.rule.id == rule_id:
                return compiled.rule
        raise KeyError(rule_id)

    @property
    def names_used(self) -> frozenset[str]:
        return frozenset().union(*(r.condition.names for r in self.rules))

    def effective_lists(self, runtime: Lists | None = None) -> Lists:
        """File defaults plus ``runtime`` members, for the lists this file declares.

        Cached for the last ``runtime`` object seen, so passing the same snapshot
        for every transaction costs one identity check.
        """
        cached_for, merged = self._merged[0]
        if runtime is cached_for:
            return merged
        if runtime is None:
            merged = dict(self.lists)
        else:
            merged = {
                name: _membership(self.list_kind(name), defaults | runtime[name])
                if name in runtime
                else defaults
                for name, defaults in self.lists.items()
            }
        self._merged[0] = (runtime, merged)
        return merged

    def evaluate(self, context: Context, lists: Lists | None = None) -> RuleOutcome:
        """Run every enabled rule over one context (names -> values; missing = absent/None/NaN)."""
        return self._evaluate(context, self.effective_lists(lists))

    def evaluate_batch(
        self, contexts: Iterable[Context], lists: Lists | None = None
    ) -> list[RuleOutcome]:
        """``evaluate`` for many contexts, resolving the lists once."""
        merged = self.effective_lists(lists)
        evaluate = self._evaluate
        return [evaluate(context, merged) for context in contexts]

    def _evaluate(self, context: Context, lists: Lists) -> RuleOutcome:
        fired: list[int] | None = None
        errors: list[str] | None = None
        for condition, index in self._plan:
            try:
                if condition(context, lists) is True:
                    if fired is None:
                        fired = [index]
                    else:
                        fired.append(index)
            except _RUNTIME_ERRORS as exc:
                rule_id = self._hits[index].rule_id
                log.debug("rule %s failed on this context: %s", rule_id, exc)
                errors = [rule_id] if errors is None else [*errors, rule_id]
        if errors is not None:
            hits = [self._hits[i] for i in fired or ()]
            return combine(hits, self.version, errors)
        if fired is None:
            return self._nothing
        # Outcomes hold nothing specific to one transaction, and few combinations
        # of rules fire together in practice: build each combination's outcome once.
        key = tuple(fired)
        outcome = self._outcomes.get(key)
        if outcome is None:
            outcome = combine([self._hits[i] for i in key], self.version)
            if len(self._outcomes) < _MAX_CACHED_OUTCOMES:
                self._outcomes[key] = outcome
        return outcome

    def describe(self) -> Sequence[str]:
        """One line per rule, for the CLI."""
        lines = []
        for compiled in self.rules:
            rule = compiled.rule
            state = "disabled" if not rule.enabled else rule.mode
            lines.append(
                f"{rule.id:<28} {rule.action:<6} {rule.priority:>5}  {state:<8} {rule.reason}"
            )
        return lines


def _membership(kind: ListKind, members: Iterable[str]) -> frozenset[str]:
    """The set a rule's ``in list(..)`` checks: an IP list also finds other spellings."""
    return IpAddresses(members) if kind is ListKind.IP else frozenset(members)
