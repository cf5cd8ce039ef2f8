"""The value types of the rule language and the shape of a compiled closure.

At run time a value is a Python ``float``/``int``, ``str``, ``bool`` or
``None``; ``None`` and NaN both mean *missing*. Every closure returns ``None``
for a missing or unknown result (SQL NULL), never NaN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["EMPTY_LISTS", "Context", "Evaluator", "Lists", "ValueType", "Vocabulary"]


class ValueType(Enum):
    NUMBER = "number"
    STRING = "string"
    BOOL = "boolean"
    #: Only the literal ``null``: it is compatible with any type in ``coalesce``.
    NULL = "null"


#: Names to values for one transaction: transaction fields, features, score, cold_start.
Context = Mapping[str, Any]
#: Named lists (name -> members) as the evaluator sees them for one evaluation.
Lists = Mapping[str, frozenset[str]]
#: A compiled expression: ``(context, lists) -> value`` (``None`` = missing/unknown).
Evaluator = Callable[[Context, Lists], Any]

EMPTY_LISTS: Lists = {}


@dataclass(frozen=True)
class Vocabulary:
    """The names a rule may use, with their types.

    ``patterns`` optionally gives the shape of a string name's values (a regular
    expression matched in full): comparing ``channel`` with ``'ecomm'`` or
    ``country`` with ``'de'`` can then be rejected at load time as never true.
    """

    types: Mapping[str, ValueType]
    patterns: Mapping[str, str] = field(default_factory=dict)
    _compiled: dict[str, re.Pattern[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._compiled.update({name: re.compile(p) for name, p in self.patterns.items()})

    def impossible(self, name: str, value: str) -> str | None:
        """Why ``name`` can never equal ``value``, or None if it can."""
        pattern = self._compiled.get(name)
        if pattern is None or pattern.fullmatch(value):
            return None
        return f"{name} never equals {value!r} (its values match {pattern.pattern})"
