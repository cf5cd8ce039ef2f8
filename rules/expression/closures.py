"""The run-time semantics of the language, as closure builders (no checking here).

SQL-NULL-like, three-valued:

* a missing value (``None`` or NaN in the context, or a name absent from it)
  makes arithmetic missing and comparisons / membership *unknown* (``None``);
* ``x / 0`` is missing, so a rule that divides by zero does not fire;
* ``and`` is false if any operand is false, else unknown if any is unknown;
  ``or`` is true if any operand is true, else unknown if any is unknown;
  ``not unknown`` is unknown. Both stop at the first deciding operand;
* a rule fires only when its condition is ``True``: a missing value can never
  make a rule fire. Test for it explicitly with ``is_missing(x)``.

Comparisons return plain ``bool`` even when the context holds numpy scalars.
A name compared with a constant, or tested for membership, is one fused
closure: those are most rules' leaves, and each saved call is ~50 ns.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from rules.expression.types import Context, Evaluator, Lists

__all__ = [
    "COMPARE",
    "and_",
    "arithmetic",
    "compare",
    "compare_name",
    "constant",
    "divide",
    "member",
    "name_bool",
    "name_member",
    "name_value",
    "negate",
    "not_",
    "or_",
]

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_EMPTY: frozenset[str] = frozenset()


def constant(value: Any) -> Evaluator:
    def constant_value(ctx: Context, lists: Lists) -> Any:
        return value

    return constant_value


def name_value(name: str) -> Evaluator:
    def value_of(ctx: Context, lists: Lists) -> Any:
        value = ctx.get(name)
        return None if value is None or value != value else value

    return value_of


def name_bool(name: str) -> Evaluator:
    def boolean(ctx: Context, lists: Lists) -> bool | None:
        value = ctx.get(name)
        if value is None or value != value:
            return None
        return True if value else False

    return boolean


def negate(inner: Evaluator) -> Evaluator:
    def negative(ctx: Context, lists: Lists) -> float | None:
        value = inner(ctx, lists)
        return None if value is None else -value

    return negative


def divide(a: Evaluator, b: Evaluator) -> Evaluator:
    def quotient(ctx: Context, lists: Lists) -> float | None:
        x = a(ctx, lists)
        if x is None:
            return None
        y = b(ctx, lists)
        if y is None or y == 0:
            return None  # x / 0 is missing: the rule does not fire
        result: float = x / y
        return None if result != result else result  # inf / inf is NaN: missing

    return quotient


def arithmetic(op: str, a: Evaluator, b: Evaluator) -> Evaluator:
    apply = _ARITHMETIC[op]

    def result(ctx: Context, lists: Lists) -> float | None:
        x = a(ctx, lists)
        if x is None:
            return None
        y = b(ctx, lists)
        if y is None:
            return None
        value = apply(x, y)
        return None if value != value else value  # inf - inf is NaN: missing

    return result


def compare(op: str, a: Evaluator, b: Evaluator) -> Evaluator:
    test = COMPARE[op]

    def comparison(ctx: Context, lists: Lists) -> bool | None:
        x = a(ctx, lists)
        if x is None:
            return None
        y = b(ctx, lists)
        if y is None:
            return None
        return True if test(x, y) else False

    return comparison


def compare_name(name: str, op: str, value: Any) -> Evaluator:
    """``name <op> constant`` in one closure, the operator inlined."""
    c = value
    if op == ">":

        def gt(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            return None if v is None or v != v else (True if v > c else False)

        return gt
    if op == ">=":

        def ge(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            return None if v is None or v != v else (True if v >= c else False)

        return ge
    if op == "<":

        def lt(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            return None if v is None or v != v else (True if v < c else False)

        return lt
    if op == "<=":

        def le(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            return None if v is None or v != v else (True if v <= c else False)

        return le
    if op == "==":

        def eq(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            return None if v is None or v != v else (True if v == c else False)

        return eq

    def ne(ctx: Context, lists: Lists) -> bool | None:
        v = ctx.get(name)
        return None if v is None or v != v else (True if v != c else False)

    return ne


def name_member(
    name: str, *, negated: bool, values: frozenset[Any] | None, list_name: str | None
) -> Evaluator:
    """``name [not] in [..]`` (``values``) or ``name [not] in list('..')`` (``list_name``)."""
    if list_name is not None:

        def in_list(ctx: Context, lists: Lists) -> bool | None:
            v = ctx.get(name)
            if v is None or v != v:
                return None
            return (v in lists.get(list_name, _EMPTY)) is not negated

        return in_list
    fixed = values if values is not None else _EMPTY

    def in_values(ctx: Context, lists: Lists) -> bool | None:
        v = ctx.get(name)
        if v is None or v != v:
            return None
        return (v in fixed) is not negated

    return in_values


def member(
    inner: Evaluator, *, negated: bool, values: frozenset[Any] | None, list_name: str | None
) -> Evaluator:
    """``expression [not] in ...``, for items that are not a bare name."""
    fixed = values if values is not None else _EMPTY

    def in_container(ctx: Context, lists: Lists) -> bool | None:
        v = inner(ctx, lists)
        if v is None:
            return None
        found = lists.get(list_name, _EMPTY) if list_name is not None else fixed
        return (v in found) is not negated

    return in_container


def not_(inner: Evaluator) -> Evaluator:
    def negation(ctx: Context, lists: Lists) -> bool | None:
        value = inner(ctx, lists)
        return None if value is None else not value

    return negation


def and_(evaluators: tuple[Evaluator, ...]) -> Evaluator:
    """Three-valued ``and``: false wins, then unknown; stops at the first false."""
    if len(evaluators) == 2:
        first, second = evaluators

        def and2(ctx: Context, lists: Lists) -> bool | None:
            a = first(ctx, lists)
            if a is False:
                return False
            b = second(ctx, lists)
            if b is False:
                return False
            return None if a is None or b is None else True

        return and2

    def and_n(ctx: Context, lists: Lists) -> bool | None:
        unknown = False
        for evaluate in evaluators:
            value = evaluate(ctx, lists)
            if value is False:
                return False
            if value is None:
                unknown = True
        return None if unknown else True

    return and_n


def or_(evaluators: tuple[Evaluator, ...]) -> Evaluator:
    """Three-valued ``or``: true wins, then unknown; stops at the first true."""
    if len(evaluators) == 2:
        first, second = evaluators

        def or2(ctx: Context, lists: Lists) -> bool | None:
            a = first(ctx, lists)
            if a is True:
                return True
            b = second(ctx, lists)
            if b is True:
                return True
            return None if a is None or b is None else False

        return or2

    def or_n(ctx: Context, lists: Lists) -> bool | None:
        unknown = False
        for evaluate in evaluators:
            value = evaluate(ctx, lists)
            if value is True:
                return True
            if value is None:
                unknown = True
        return None if unknown else False

    return or_n
