"""Errors of the rule engine.

Hierarchy::

    FraudstreamError
    └── RuleError
        ├── ExpressionError     one expression is malformed, unsafe or ill-typed (line, column)
        ├── RuleSetError        a rule set file failed validation (every problem, with
        │                       file, rule id and position, in ``problems``)
        └── ListStoreError      the named-list store could not be read or written
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.errors import FraudstreamError

__all__ = ["ExpressionError", "ListStoreError", "RuleError", "RuleProblem", "RuleSetError"]


class RuleError(FraudstreamError):
    """Root of the rule engine's errors."""


class ExpressionError(RuleError):
    """An expression was rejected; ``line``/``column`` are 1-based within the expression."""

    def __init__(self, problem: str, *, line: int, column: int) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {problem}")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One reason a rule set is invalid, located as precisely as it can be."""

    source: str
    problem: str
    rule_id: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None
    #: The same place in the file (1-based), when it could be traced back there.
    file_line: int | None = None
    file_column: int | None = None

    def __str__(self) -> str:
        where = [self.source]
        if self.file_line is not None:
            where[0] += f":{self.file_line}:{self.file_column}"
        if self.rule_id is not None:
            where.append(f"rule {self.rule_id!r}")
        if self.field is not None:
            at = self.field
            if self.line is not None:
                at += f", line {self.line}, column {self.column}"
            where.append(at)
        return f"{': '.join(where)}: {self.problem}"


class RuleSetError(RuleError):
    """A rule set could not be activated. ``problems`` lists every reason found."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the rule set"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))

    @classmethod
    def single(cls, source: str, problem: str) -> RuleSetError:
        return cls([RuleProblem(source, problem)])


class ListStoreError(RuleError):
    """The named-list store failed (Redis down or timing out); ``backend`` names it."""

    def __init__(self, message: str, *, backend: str) -> None:
        self.backend = backend
        super().__init__(message)
