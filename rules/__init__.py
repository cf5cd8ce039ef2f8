"""The rule engine: declarative YAML rules over a transaction, its features and its score.

* ``rules.expression`` - the safe expression language (tokenizer, parser,
  type checker, closure compiler; never Python ``eval``).
* ``rules.loader`` / ``rules.ruleset`` - a validated, versioned ``RuleSet``
  with ``evaluate`` / ``evaluate_batch`` -> ``RuleOutcome``.
* ``rules.outcome`` - ``RuleHit``, ``RuleOutcome`` and the action precedence
  (allow > block > flag; tag never decides; shadow rules never change anything).
* ``rules.policy`` - ``decide`` / ``decide_batch``: score + thresholds + rule outcome -> final
  action.
* ``rules.lists`` - named lists at run time (memory / Redis) and their snapshot.
* ``rules.reload`` - ``RuleSetHolder``: reload a changed file without a restart.
* ``rules.schema`` - the names a rule can use, ``build_context`` and its hot-path twin
  ``ContextPlan`` (only the names a rule set reads).

Imports only ``contracts`` (and pyyaml, msgspec, redis).
"""

from __future__ import annotations

from rules.exceptions import (
    ExpressionError,
    ListStoreError,
    RuleError,
    RuleProblem,
    RuleSetError,
)
from rules.expression import ValueType, Vocabulary, compile_expression
from rules.loader import default_rules_text, load_rule_set, parse_rule_set
from rules.outcome import HardAction, RuleAction, RuleHit, RuleOutcome
from rules.policy import PolicyDecision, Thresholds, decide, decide_batch
from rules.reload import RuleSetHolder
from rules.ruleset import Rule, RuleSet
from rules.schema import ContextPlan, build_context, rule_vocabulary

__all__ = [
    "ContextPlan",
    "ExpressionError",
    "HardAction",
    "ListStoreError",
    "PolicyDecision",
    "Rule",
    "RuleAction",
    "RuleError",
    "RuleHit",
    "RuleOutcome",
    "RuleProblem",
    "RuleSet",
    "RuleSetError",
    "RuleSetHolder",
    "Thresholds",
    "ValueType",
    "Vocabulary",
    "build_context",
    "compile_expression",
    "decide",
    "decide_batch",
    "default_rules_text",
    "load_rule_set",
    "parse_rule_set",
    "rule_vocabulary",
]
