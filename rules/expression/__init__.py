"""The rule expression language: tokenizer, parser, type checker, closure compiler.

Never Python ``eval``: text becomes tokens, tokens a syntax tree, the tree is
checked against a ``Vocabulary`` and compiled once into closures.

Cheat sheet (details in ``parser`` and ``compiler``)::

    amount >= 1000 and card_new_device == 1
    country in list('blocked_countries')            # a named list (strings)
    mcc not in ['7995', '6051']                     # a list literal (literals only)
    card_sum_10m / card_count_10m < 5               # x / 0 is missing: no fire
    not is_missing(payee_id) and max(amount, 0) > 500
    channel == 'transfer' or (cold_start and score >= 0.8)

Names are flat (``country``, not ``tx.country``): a transaction field, a
feature, ``score`` or ``cold_start``. A missing value never makes a rule fire.
"""

from __future__ import annotations

from rules.expression.compiler import CompiledExpression, compile_expression
from rules.expression.functions import FUNCTIONS
from rules.expression.parser import MAX_DEPTH, parse
from rules.expression.tokens import MAX_EXPRESSION_CHARS
from rules.expression.types import Context, Evaluator, Lists, ValueType, Vocabulary

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPRESSION_CHARS",
    "CompiledExpression",
    "Context",
    "Evaluator",
    "Lists",
    "ValueType",
    "Vocabulary",
    "compile_expression",
    "parse",
]
