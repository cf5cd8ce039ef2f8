"""Type-check a syntax tree and compile it, once, into nested closures.

Static checks, each an ``ExpressionError`` at the node's position: unknown
names (with a "did you mean"), unknown functions, undeclared named lists,
operands of the wrong type (``"a" > 3``, ``amount and x``, ``country + 1``),
comparisons with the ``null`` literal (use ``is_missing``), string constants a
name can never equal (``channel == 'ecomm'``, from the vocabulary's patterns),
and a result that is not a boolean where a condition is expected.

Sub-expressions made of constants only are evaluated once here (``2 * 1000``).
The run-time semantics live in ``rules.expression.closures``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rules.exceptions import ExpressionError
from rules.expression import closures
from rules.expression.functions import FUNCTIONS, SignatureError
from rules.expression.parser import parse
from rules.expression.syntax import (
    Binary,
    Call,
    Compare,
    ListLiteral,
    Literal,
    Logical,
    Membership,
    Name,
    NamedList,
    Node,
    Not,
    Unary,
)
from rules.expression.types import EMPTY_LISTS, Evaluator, ValueType, Vocabulary

__all__ = ["CompiledExpression", "compile_expression"]

# ``c < x`` is ``x > c``: lets a constant on the left use the fused closure too.
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDERED = frozenset({ValueType.NUMBER, ValueType.STRING})


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """A checked expression: call ``evaluate(context, lists)``; ``None`` = unknown."""

    text: str
    type: ValueType
    evaluate: Evaluator
    names: frozenset[str]
    lists: frozenset[str]


def compile_expression(
    text: str,
    names: Vocabulary | Mapping[str, ValueType],
    *,
    lists: Collection[str] | None = None,
    expect: ValueType | None = ValueType.BOOL,
) -> CompiledExpression:
    """Parse, check and compile ``text`` against the known ``names`` and ``lists``.

    ``lists=None`` accepts any list name; ``expect`` is the required result type
    (a rule condition must be a boolean).
    """
    vocabulary = names if isinstance(names, Vocabulary) else Vocabulary(names)
    tree = parse(text)
    compiler = _Compiler(vocabulary, lists)
    result = compiler.compile(tree)
    if expect is not None and result.type is not expect:
        hint = " (compare it, e.g. `x > 0`)" if result.type is ValueType.NUMBER else ""
        raise ExpressionError(
            f"the expression is a {result.type.value}, a {expect.value} is needed{hint}",
            line=tree.line,
            column=tree.column,
        )
    return CompiledExpression(
        text,
        result.type,
        result.evaluate,
        frozenset(compiler.names_used),
        frozenset(compiler.lists_used),
    )


@dataclass(frozen=True, slots=True)
class _Out:
    type: ValueType
    evaluate: Evaluator
    constant: bool = False

    def value(self) -> Any:
        """The value of a constant expression."""
        return self.evaluate({}, EMPTY_LISTS)


def _constant(kind: ValueType, value: Any) -> _Out:
    return _Out(kind, closures.constant(value), constant=True)


def _folded(out: _Out, *parts: _Out) -> _Out:
    """Evaluate once now when every part is a constant."""
    if parts and all(part.constant for part in parts):
        return _constant(out.type, out.value())
    return out


def _error(node: Node | NamedList | ListLiteral, problem: str) -> ExpressionError:
    return ExpressionError(problem, line=node.line, column=node.column)


class _Compiler:
    def __init__(self, vocabulary: Vocabulary, lists: Collection[str] | None) -> None:
        self._vocabulary = vocabulary
        self._names = vocabulary.types
        self._lists = lists
        self.names_used: set[str] = set()
        self.lists_used: set[str] = set()

    def compile(self, node: Node) -> _Out:
        out = self._compile(node)
        if out.constant and out.type is ValueType.NUMBER:
            value = out.value()
            # 1/0 folds to "missing", an overflow to infinity: a rule comparing with
            # either would never fire, or (with != or not) always fire.
            if value is None or not math.isfinite(value):
                raise _error(
                    node,
                    "this constant arithmetic has no finite value "
                    "(a division by zero or an overflow)",
                )
        return out

    def _compile(self, node: Node) -> _Out:
        if isinstance(node, Literal):
            return self._literal(node)
        if isinstance(node, Name):
            return self._name(node)
        if isinstance(node, Unary):
            operand = self._number(node.operand, "-")
            return _folded(_Out(ValueType.NUMBER, closures.negate(operand.evaluate)), operand)
        if isinstance(node, Not):
            operand = self._condition(node.operand, "not")
            return _folded(_Out(ValueType.BOOL, closures.not_(operand.evaluate)), operand)
        if isinstance(node, Binary):
            return self._arithmetic(node)
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, Logical):
            return self._logical(node)
        if isinstance(node, Membership):
            return self._membership(node)
        return self._call(node)

    def _literal(self, node: Literal) -> _Out:
        value = node.value
        if value is None:
            return _constant(ValueType.NULL, None)
        if isinstance(value, bool):
            return _constant(ValueType.BOOL, value)
        if isinstance(value, str):
            return _constant(ValueType.STRING, value)
        return _constant(ValueType.NUMBER, value)

    def _name(self, node: Name) -> _Out:
        kind = self._names.get(node.name)
        if kind is None:
            close = difflib.get_close_matches(node.name, list(self._names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _error(node, f"unknown name {node.name!r}{hint}")
        self.names_used.add(node.name)
        if kind is ValueType.BOOL:
            return _Out(kind, closures.name_bool(node.name))
        return _Out(kind, closures.name_value(node.name))

    def _number(self, node: Node, op: str) -> _Out:
        out = self.compile(node)
        if out.type is not ValueType.NUMBER:
            raise _error(node, f"{op!r} needs a number, not a {out.type.value}")
        return out

    def _condition(self, node: Node, op: str) -> _Out:
        out = self.compile(node)
        if out.type is not ValueType.BOOL:
            raise _error(node, f"`{op}` needs a true/false condition, not a {out.type.value}")
        return out

    def _arithmetic(self, node: Binary) -> _Out:
        left, right = self._number(node.left, node.op), self._number(node.right, node.op)
        if node.op == "/":
            evaluate = closures.divide(left.evaluate, right.evaluate)
        else:
            evaluate = closures.arithmetic(node.op, left.evaluate, right.evaluate)
        return _folded(_Out(ValueType.NUMBER, evaluate), left, right)

    def _compare(self, node: Compare) -> _Out:
        left, right = self.compile(node.left), self.compile(node.right)
        if ValueType.NULL in (left.type, right.type):
            raise _error(
                node,
                "comparing with null is never true (a missing value is unknown): "
                "use is_missing(x) or not is_missing(x)",
            )
        if left.type is not right.type:
            raise _error(
                node, f"cannot compare a {left.type.value} with a {right.type.value} ({node.op})"
            )
        if node.op not in ("==", "!=") and left.type not in _ORDERED:
            raise _error(node, f"{node.op!r} needs numbers or strings, not {left.type.value}s")
        if node.op in ("==", "!="):
            self._check_possible(node.left, node.right)
            self._check_possible(node.right, node.left)
        if isinstance(node.left, Name) and right.constant and left.type in _ORDERED:
            fused = closures.compare_name(node.left.name, node.op, right.value())
            return _Out(ValueType.BOOL, fused)
        if isinstance(node.right, Name) and left.constant and right.type in _ORDERED:
            fused = closures.compare_name(node.right.name, _FLIPPED[node.op], left.value())
            return _Out(ValueType.BOOL, fused)
        evaluate = closures.compare(node.op, left.evaluate, right.evaluate)
        return _folded(_Out(ValueType.BOOL, evaluate), left, right)

    def _check_possible(self, name: Node, literal: Node) -> None:
        if isinstance(name, Name) and isinstance(literal, Literal):
            if isinstance(literal.value, str):
                why = self._vocabulary.impossible(name.name, literal.value)
                if why is not None:
                    raise _error(literal, why)

    def _membership(self, node: Membership) -> _Out:
        item = self.compile(node.item)
        container = node.container
        list_name: str | None = None
        values: frozenset[Any] | None = None
        if isinstance(container, NamedList):
            if self._lists is not None and container.name not in self._lists:
                known = ", ".join(sorted(self._lists)) or "none"
                raise _error(
                    container, f"unknown list {container.name!r} (declared lists: {known})"
                )
            if item.type is not ValueType.STRING:
                raise _error(
                    node, f"named lists hold strings; `in` got a {item.type.value} on the left"
                )
            self.lists_used.add(container.name)
            list_name = container.name
        else:
            for literal in container.items:
                literal_type = self._literal(literal).type
                if literal_type is not item.type:
                    raise _error(
                        literal,
                        f"list item is a {literal_type.value}; the left side is a "
                        f"{item.type.value}",
                    )
                self._check_possible(node.item, literal)
            values = frozenset(literal.value for literal in container.items)
        if isinstance(node.item, Name) and item.type in _ORDERED:
            evaluate = closures.name_member(
                node.item.name, negated=node.negated, values=values, list_name=list_name
            )
            return _Out(ValueType.BOOL, evaluate)
        evaluate = closures.member(
            item.evaluate, negated=node.negated, values=values, list_name=list_name
        )
        out = _Out(ValueType.BOOL, evaluate)
        return out if list_name is not None else _folded(out, item)

    def _logical(self, node: Logical) -> _Out:
        parts = [self._condition(operand, node.op) for operand in node.operands]
        evaluators = tuple(part.evaluate for part in parts)
        build = closures.and_ if node.op == "and" else closures.or_
        return _folded(_Out(ValueType.BOOL, build(evaluators)), *parts)

    def _call(self, node: Call) -> _Out:
        function = FUNCTIONS.get(node.function)
        if function is None:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise _error(node, f"unknown function {node.function!r} (allowed: {allowed})")
        args = [self.compile(arg) for arg in node.args]
        try:
            kind = function.check([arg.type for arg in args])
        except SignatureError as exc:
            at: Node = node if exc.index is None else node.args[exc.index]
            raise _error(at, exc.problem) from None
        out = _Out(kind, function.build([arg.evaluate for arg in args]))
        return _folded(out, *args)
