"""The whitelist of functions a rule may call, with their static types and closures.

``is_missing(x)``         true when ``x`` is missing (``None`` or NaN); never missing itself
``abs(x)``                absolute value of a number
``min(a, b, ...)``        smallest of two or more numbers (missing if any is missing)
``max(a, b, ...)``        largest of two or more numbers (missing if any is missing)
``coalesce(a, b, ...)``   the first argument that is not missing (all of one type)

Nothing else can be called: there is no way to reach Python from a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rules.expression.types import Context, Evaluator, Lists, ValueType

__all__ = ["FUNCTIONS", "Function", "SignatureError"]


class SignatureError(Exception):
    """Arguments do not fit a function; ``index`` is the offending argument (or None)."""

    def __init__(self, problem: str, index: int | None = None) -> None:
        self.problem = problem
        self.index = index
        super().__init__(problem)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    signature: str
    #: Argument types -> result type; raises ``SignatureError``.
    check: Callable[[Sequence[ValueType]], ValueType]
    build: Callable[[Sequence[Evaluator]], Evaluator]


def _count(types: Sequence[ValueType], low: int, high: int | None, signature: str) -> None:
    if len(types) < low or (high is not None and len(types) > high):
        raise SignatureError(f"wrong number of arguments: the signature is {signature}")


def _numbers(signature: str, low: int, high: int | None) -> Callable[..., ValueType]:
    def check(types: Sequence[ValueType]) -> ValueType:
        _count(types, low, high, signature)
        for index, kind in enumerate(types):
            if kind is not ValueType.NUMBER:
                raise SignatureError(f"{signature} takes numbers, not a {kind.value}", index)
        return ValueType.NUMBER

    return check


def _check_is_missing(types: Sequence[ValueType]) -> ValueType:
    _count(types, 1, 1, "is_missing(x)")
    return ValueType.BOOL


def _check_coalesce(types: Sequence[ValueType]) -> ValueType:
    _count(types, 2, None, "coalesce(a, b, ...)")
    concrete = {kind for kind in types if kind is not ValueType.NULL}
    if len(concrete) > 1:
        kinds = " and ".join(sorted(kind.value for kind in concrete))
        raise SignatureError(f"coalesce(...) arguments must share one type, not {kinds}")
    return concrete.pop() if concrete else ValueType.NULL


def _build_is_missing(args: Sequence[Evaluator]) -> Evaluator:
    (arg,) = args

    def is_missing(ctx: Context, lists: Lists) -> bool:
        return arg(ctx, lists) is None

    return is_missing


def _build_abs(args: Sequence[Evaluator]) -> Evaluator:
    (arg,) = args

    def absolute(ctx: Context, lists: Lists) -> float | None:
        value = arg(ctx, lists)
        return None if value is None else abs(value)

    return absolute


def _build_extreme(smallest: bool) -> Callable[[Sequence[Evaluator]], Evaluator]:
    def build(args: Sequence[Evaluator]) -> Evaluator:
        evaluators = tuple(args)

        def extreme(ctx: Context, lists: Lists) -> float | None:
            best: float | None = None
            for evaluate in evaluators:
                value = evaluate(ctx, lists)
                if value is None:
                    return None
                if best is None or (value < best if smallest else value > best):
                    best = value
            return best

        return extreme

    return build


def _build_coalesce(args: Sequence[Evaluator]) -> Evaluator:
    evaluators = tuple(args)

    def coalesce(ctx: Context, lists: Lists) -> object:
        for evaluate in evaluators:
            value = evaluate(ctx, lists)
            if value is not None:
                return value
        return None

    return coalesce


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function("is_missing", "is_missing(x)", _check_is_missing, _build_is_missing),
        Function("abs", "abs(x)", _numbers("abs(x)", 1, 1), _build_abs),
        Function(
            "min", "min(a, b, ...)", _numbers("min(a, b, ...)", 2, None), _build_extreme(True)
        ),
        Function(
            "max", "max(a, b, ...)", _numbers("max(a, b, ...)", 2, None), _build_extreme(False)
        ),
        Function("coalesce", "coalesce(a, b, ...)", _check_coalesce, _build_coalesce),
    )
}
