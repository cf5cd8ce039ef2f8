"""The syntax tree of a rule expression: small frozen nodes, each with its position.

Positions (``line``, ``column``) are 1-based within the expression text and
are where an error about the node points.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Binary",
    "Call",
    "Compare",
    "ListLiteral",
    "Literal",
    "Logical",
    "Membership",
    "Name",
    "NamedList",
    "Node",
    "Not",
    "Scalar",
    "Unary",
]

Scalar = float | str | bool | None


@dataclass(frozen=True, slots=True)
class Literal:
    value: Scalar
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Unary:
    """Arithmetic negation ``-x``."""

    operand: Node
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic: ``op`` is one of ``+ - * /``."""

    op: str
    left: Node
    right: Node
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Compare:
    """``op`` is one of ``== != < <= > >=``; comparisons do not chain."""

    op: str
    left: Node
    right: Node
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Logical:
    """``op`` is ``and`` or ``or``; a chain ``a and b and c`` is one node."""

    op: str
    operands: tuple[Node, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[1, 2, 3]``: literal items only, so the set is built once."""

    items: tuple[Literal, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class NamedList:
    """``list('blocked_countries')``: a named list, looked up at evaluation time."""

    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Membership:
    item: Node
    container: ListLiteral | NamedList
    negated: bool
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]
    line: int
    column: int


Node = Literal | Name | Unary | Not | Binary | Compare | Logical | Membership | Call
