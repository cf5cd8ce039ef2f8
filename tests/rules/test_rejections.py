"""The language refuses unsafe and malformed expressions, at load time, saying where."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rules.exceptions import ExpressionError, RuleSetError
from rules.expression import MAX_DEPTH, MAX_EXPRESSION_CHARS, compile_expression
from rules.loader import load_rule_set, parse_rule_set
from tests.rules.conftest import VOCABULARY, rule

# (expression, a fragment of the problem, line, column)
REJECTED = [
    # reaching Python
    ("__import__('os').system('id')", "double underscore", 1, 1),
    ("().__class__", "double underscore", 1, 4),
    ("amount.__class__ == 1", "double underscore", 1, 8),
    ("open('x') == 'y'", "unknown function 'open'", 1, 1),
    ("eval('1') == 1", "unknown function 'eval'", 1, 1),
    ("getattr(amount, 'real') > 0", "unknown function 'getattr'", 1, 1),
    ("lambda x: x", "'lambda' is not part of the rule language", 1, 1),
    ("import os", "'import' is not part of the rule language", 1, 1),
    ("(lambda: 1)() == 1", "'lambda' is not part", 1, 2),
    # attribute access, subscripts, calls on anything but a function name
    ("tx.country == 'DE'", "attribute access is not allowed", 1, 3),
    ("card_id.upper() == 'X'", "attribute access is not allowed", 1, 8),
    ("abs(amount).real > 1", "attribute access is not allowed", 1, 12),
    ("amount[0] > 1", "subscripts are not allowed", 1, 7),
    ("(amount)(1) > 1", "only a function name can be called", 1, 9),
    # names and functions
    ("amout > 3", "unknown name 'amout' (did you mean 'amount'?)", 1, 1),
    ("amount > 3 and velocity > 2", "unknown name 'velocity'", 1, 16),
    ("True", "write `true`", 1, 1),
    ("amount > 1 AND amount < 3", "lower case", 1, 12),
    ("country in list('no_such_list')", "unknown list 'no_such_list'", 1, 12),
    # structure
    ("(amount > 3", "'(' is never closed", 1, 1),
    ("amount > 3)", "')' without a matching '('", 1, 11),
    ("abs(amount > 3", "'(' is never closed", 1, 4),
    ("mcc in ['1234', '5678'", "'[' is never closed", 1, 8),
    ("amount > 3 amount", "unexpected 'amount' after a complete expression", 1, 12),
    ("amount >", "an operand is missing", 1, 9),
    ("", "empty expression", 1, 1),
    ("amount = 3", "use == to compare", 1, 8),
    ("amount > 1 && amount < 3", "use `and`", 1, 12),
    ("amount > 1; amount < 3", "unexpected character ';'", 1, 11),
    ("amount ** 2 > 1", "expected an expression", 1, 9),
    ("country == 'DE", "unterminated string", 1, 12),
    ("country == 'D\\E'", "unknown escape", 1, 14),
    ("1 < amount < 3", "comparisons do not chain", 1, 12),
    ("mcc in [mcc]", "list items must be literals", 1, 9),
    ("[1, 2] == [1, 2]", "a list literal can only appear after `in`", 1, 1),
    ("list('blocked_countries') == 1", "list('name') can only appear after `in`", 1, 1),
    # types
    ("'a' > 3", "cannot compare a string with a number", 1, 5),
    ("country > 3", "cannot compare a string with a number", 1, 9),
    ("amount == null", "use is_missing(x)", 1, 8),
    ("cold_start > false", "needs numbers or strings", 1, 12),
    ("country + 1 > 2", "'+' needs a number, not a string", 1, 1),
    ("amount and cold_start", "`and` needs a true/false condition, not a number", 1, 1),
    ("not amount", "`not` needs a true/false condition", 1, 5),
    ("amount + 1", "the expression is a number, a boolean is needed", 1, 8),
    ("amount in list('blocked_countries')", "named lists hold strings", 1, 8),
    ("mcc in [7995]", "list item is a number; the left side is a string", 1, 9),
    ("abs(country) > 1", "abs(x) takes numbers, not a string", 1, 5),
    ("min(amount) > 1", "wrong number of arguments", 1, 1),
    ("coalesce(amount, 'x') == 1", "must share one type", 1, 1),
    ("channel == 'ecomm'", "channel never equals 'ecomm'", 1, 12),
    ("country in ['DE', 'de']", "country never equals 'de'", 1, 19),
    # a second line inside a YAML block scalar
    ("amount > 3\n  and amout < 5", "unknown name 'amout'", 2, 7),
]


@pytest.mark.parametrize(("text", "problem", "line", "column"), REJECTED)
def test_rejected_with_position(text: str, problem: str, line: int, column: int) -> None:
    lists = ["blocked_countries"]
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, VOCABULARY, lists=lists)
    error = caught.value
    assert problem in error.problem
    assert (error.line, error.column) == (line, column)


@pytest.mark.parametrize(
    ("text", "problem", "line", "column"),
    [case for case in REJECTED if case[0]],  # an empty `when` is a structural error
)
def test_loader_names_file_rule_and_position(
    write_rules: Callable[..., Path], text: str, problem: str, line: int, column: int
) -> None:
    path = write_rules([rule("fine", "amount > 1"), rule("bad_rule", text)])
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path, VOCABULARY)
    (found,) = caught.value.problems
    assert (found.source, found.rule_id, found.field) == (str(path), "bad_rule", "when")
    assert (found.line, found.column) == (line, column)
    message = str(caught.value)
    assert f": rule 'bad_rule': when, line {line}, column {column}: " in message
    assert problem in message and str(path) in message
    if found.file_line is not None:  # traced back to the file: to the same character
        assert f"  {path}:{found.file_line}:{found.file_column}: rule 'bad_rule'" in message
        in_file = path.read_text().splitlines()[found.file_line - 1][found.file_column - 1 :]
        in_expression = text.splitlines()[line - 1][column - 1 :]
        assert in_file[:1] == in_expression[:1]


def test_over_long_expression() -> None:
    text = " or ".join(["amount > 1"] * 300)
    assert len(text) > MAX_EXPRESSION_CHARS
    with pytest.raises(ExpressionError, match="characters long; the limit is 2000"):
        compile_expression(text, VOCABULARY)


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1),
        "not " * (MAX_DEPTH + 1) + "true",
        "-" * (MAX_DEPTH + 1) + "amount > 1",
        "abs(" * (MAX_DEPTH + 1) + "amount" + ")" * (MAX_DEPTH + 1) + " > 1",
        # A flat chain is as deep as it is long (``a*b*c`` is ``(a*b)*c``): 330 of
        # these, 660 characters, were a RecursionError in the compiler.
        "amount" + "*1" * 400 + " > 3",
        "amount" + " + 1" * (MAX_DEPTH + 1) + " > 3",
    ],
)
def test_deep_nesting_is_refused_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ExpressionError, match="nested deeper than"):
        compile_expression(text, VOCABULARY)


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1
    text = "(" * depth + "amount > 1" + ")" * depth
    assert compile_expression(text, VOCABULARY).evaluate({"amount": 2.0}, {}) is True


def test_a_long_arithmetic_chain_up_to_the_limit_is_fine() -> None:
    text = "amount" + " + 1" * MAX_DEPTH + " > 40"
    assert compile_expression(text, VOCABULARY).evaluate({"amount": 9.0}, {}) is True


@pytest.mark.parametrize(
    "text",
    ["amount > 1/0", "amount != 1/0", "not (amount == -(1/0))", "abs(1/0) < amount",
     "amount > 1e308 * 10 - 1e308 * 10",
     "amount > 1e308 * 10", "amount < -(1e308 * 10)"],
)  # fmt: skip
def test_constant_arithmetic_without_a_value_is_refused(text: str) -> None:
    # It folds to "missing": `>` would never fire, `!=` and `not` always would.
    with pytest.raises(ExpressionError, match="has no finite value"):
        compile_expression(text, VOCABULARY)


def test_a_division_that_is_nan_at_run_time_is_missing() -> None:
    expression = compile_expression("is_missing(amount * 1e308 / (amount * 1e308))", VOCABULARY)
    assert expression.evaluate({"amount": 10.0}, {}) is True
    assert compile_expression("amount / 2 > 1", VOCABULARY).evaluate({"amount": 10.0}, {}) is True


# -- the file around the expressions -------------------------------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(text, VOCABULARY, source="r.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_a_key_given_twice_is_refused_not_last_one_wins() -> None:
    # YAML's own rule keeps the last: this block rule would have become an allow rule.
    twice = """version: "1"
rules:
  - id: big
    when: amount > 1000
    action: block
    reason: R_BIG
    action: allow
"""
    (problem,) = _problems(twice)
    assert "duplicate key 'action' (first at file line 5)" in problem and "line 7" in problem
    second_rules = 'version: "1"\nrules: [{id: a, when: amount > 1, action: block, reason: R_A}]\n'
    (problem,) = _problems(second_rules + "rules: []\n")
    assert "duplicate key 'rules'" in problem


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("rules: [{id: a, when: amount > 1, action: [block], reason: R_A}]", "unknown action"),
        ("rules: [{id: a, when: amount > 1, action: {b: 1}, reason: R_A}]", "unknown action"),
        ("rules: [{id: a, when: amount > 1, action: flag, mode: [x], reason: R_A}]", "mode"),
        ("description: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_odd_shapes_are_problems_never_other_exceptions(document: str, fragment: str) -> None:
    # These raised TypeError / RecursionError, which the scorer's reload did not catch.
    problems = _problems('version: "1"\n' + document + "\n")
    assert any(fragment in problem for problem in problems), problems


def test_a_folded_when_is_traced_back_to_its_file_line_and_column() -> None:
    text = """version: "1"
rules:
  - id: wide
    when: >-
      amount > 1000 and
      cold_start and amout > 3
    action: flag
    reason: R_WIDE
  - id: kept
    when: |
      amount > 5 and
        amont > 3
    action: flag
    reason: R_KEPT
"""
    folded, literal = _problems(text)
    assert folded.startswith("r.yaml:6:22: rule 'wide': when, line 1, column 34: unknown name")
    assert literal.startswith("r.yaml:12:9: rule 'kept': when, line 2, column 3: unknown name")
