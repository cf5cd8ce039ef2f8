"""The expression language: precedence, three-valued logic, membership, arithmetic."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.expression import compile_expression, parse
from rules.expression.syntax import Logical, Name, Not
from tests.rules.conftest import VOCABULARY, evaluate

NAN = math.nan


class RecordingContext(Mapping[str, Any]):
    """A context that records which names the evaluator read."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.data = values
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


# -- precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3 == 7", True),
        ("(1 + 2) * 3 == 9", True),
        ("10 - 4 - 3 == 3", True),  # left-associative
        ("12 / 3 / 2 == 2", True),
        ("-2 * 3 == -6", True),
        ("- -2 == 2", True),
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("not 1 > 2", True),  # ... and looser than a comparison: not (1 > 2)
        ("2 * 1000 >= 2000.0", True),
        ("1e3 == 1000", True),
        (".5 < 1", True),
        ("'abc' < 'abd'", True),
    ],
)
def test_precedence_and_literals(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


def test_tree_shape_of_or_and_not() -> None:
    tree = parse("a or not b and c")
    assert isinstance(tree, Logical) and tree.op == "or"
    left, right = tree.operands
    assert isinstance(left, Name) and left.name == "a"
    assert isinstance(right, Logical) and right.op == "and"
    assert isinstance(right.operands[0], Not)


def test_chains_are_flat_nodes() -> None:
    tree = parse("a and b and c and d")
    assert isinstance(tree, Logical) and len(tree.operands) == 4


_small = st.integers(min_value=-20, max_value=20)


@st.composite
def arithmetic(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """(text, value) of a random integer expression with + - * and parentheses."""
    if depth > 3 or draw(st.booleans()):
        n = draw(_small)
        return (f"({n})" if n < 0 else str(n)), n
    op = draw(st.sampled_from(["+", "-", "*"]))
    left_text, left = draw(arithmetic(depth + 1))
    right_text, right = draw(arithmetic(depth + 1))
    value = {"+": left + right, "-": left - right, "*": left * right}[op]
    return f"({left_text} {op} {right_text})", value


@settings(max_examples=200, deadline=None)
@given(arithmetic())
def test_arithmetic_matches_integer_arithmetic(case: tuple[str, int]) -> None:
    text, value = case
    assert evaluate(f"{text} == ({value})") is True
    assert evaluate(f"{text} != ({value})") is False


@settings(max_examples=100, deadline=None)
@given(st.lists(_small, min_size=2, max_size=6), st.lists(st.sampled_from("+-*"), min_size=5))
def test_unparenthesised_chains_follow_the_usual_precedence(
    numbers: list[int], ops: list[str]
) -> None:
    # Reference: multiply first, then add/subtract left to right.
    terms: list[int] = [numbers[0]]
    signs: list[int] = [1]
    text = f"({numbers[0]})"
    for number, op in zip(numbers[1:], ops, strict=False):
        text += f" {op} ({number})"
        if op == "*":
            terms[-1] *= number
        else:
            terms.append(number)
            signs.append(1 if op == "+" else -1)
    value = sum(sign * term for sign, term in zip(signs, terms, strict=True))
    assert evaluate(f"{text} == ({value})") is True


# -- short-circuit --------------------------------------------------------------------------


def test_and_stops_at_the_first_false() -> None:
    context = RecordingContext({"amount": 10.0, "card_count_10m": 9.0})
    assert evaluate("amount > 1000 and card_count_10m > 5", context) is False
    assert context.read == ["amount"]


def test_or_stops_at_the_first_true() -> None:
    context = RecordingContext({"amount": 5000.0, "card_count_10m": 9.0})
    assert evaluate("amount > 1000 or card_count_10m > 5", context) is True
    assert context.read == ["amount"]


def test_and_goes_on_after_an_unknown_to_find_a_false() -> None:
    context = RecordingContext({"card_count_10m": 1.0})
    assert evaluate("amount > 1000 and card_count_10m > 5", context) is False
    assert context.read == ["amount", "card_count_10m"]


# -- missing values: SQL NULL ---------------------------------------------------------------


@pytest.mark.parametrize("missing", [{}, {"amount": None}, {"amount": NAN}])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 5", None),
        ("amount <= 5", None),
        ("amount == 5", None),
        ("amount != 5", None),
        ("not (amount > 5)", None),
        ("amount > 5 or true", True),
        ("amount > 5 or false", None),
        ("amount > 5 and false", False),
        ("amount > 5 and true", None),
        ("amount * 2 > 1", None),
        ("-amount < 0", None),
        ("is_missing(amount)", True),
        ("not is_missing(amount)", False),
        ("coalesce(amount, 7) == 7", True),
        ("max(amount, 1) > 0", None),
        ("abs(amount) >= 0", None),
    ],
)
def test_missing_values_are_unknown(
    missing: dict[str, Any], text: str, expected: bool | None
) -> None:
    assert evaluate(text, missing) is expected


@pytest.mark.parametrize("value", [None, NAN])
def test_missing_string_and_membership_are_unknown(value: Any) -> None:
    context = {"country": value}
    assert evaluate("country == 'DE'", context) is None
    assert evaluate("country in ['DE', 'FR']", context) is None
    assert evaluate("country not in ['DE', 'FR']", context) is None
    lists = {"blocked_countries": frozenset({"KP"})}
    assert evaluate("country in list('blocked_countries')", context, lists) is None
    assert evaluate("country not in list('blocked_countries')", context, lists) is None


def test_boolean_names() -> None:
    assert evaluate("cold_start", {"cold_start": True}) is True
    assert evaluate("cold_start", {"cold_start": False}) is False
    assert evaluate("cold_start", {}) is None
    assert evaluate("not cold_start", {"cold_start": False}) is True
    assert evaluate("cold_start == false", {"cold_start": False}) is True


# -- arithmetic -----------------------------------------------------------------------------


def test_division_by_zero_is_missing_so_nothing_fires() -> None:
    context = {"card_sum_10m": 12.0, "card_count_10m": 0.0}
    assert evaluate("card_sum_10m / card_count_10m < 5", context) is None
    assert evaluate("card_sum_10m / card_count_10m >= 5", context) is None
    assert evaluate("amount / 0 > 1", {"amount": 3.0}) is None
    assert evaluate("card_sum_10m / card_count_10m < 5", {**context, "card_count_10m": 4}) is True


def test_infinite_minus_infinite_is_missing() -> None:
    assert evaluate("amount * 1e308 * 10 - amount * 1e308 * 10 == 0", {"amount": 5.0}) is None


def test_functions() -> None:
    assert evaluate("abs(-3) == 3") is True
    assert evaluate("min(amount, 10, 20) == 4", {"amount": 4.0}) is True
    assert evaluate("max(amount, 10, 20) == 20", {"amount": 4.0}) is True
    assert evaluate("coalesce(payee_id, 'none') == 'none'", {}) is True
    assert evaluate("coalesce(payee_id, 'none') == 'P1'", {"payee_id": "P1"}) is True
    assert evaluate("is_missing(device_id)", {"device_id": "D1"}) is False


# -- membership -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        ("mcc in ['7995', '6051']", {"mcc": "7995"}, True),
        ("mcc in ['7995', '6051']", {"mcc": "5411"}, False),
        ("mcc not in ['7995', '6051']", {"mcc": "5411"}, True),
        ("hour_of_day in [0, 1, 2, 3]", {"hour_of_day": 2.0}, True),
        ("hour_of_day in [0, 1, 2, 3]", {"hour_of_day": 4}, False),
        ("hour_of_day - 1 in [-1, 0]", {"hour_of_day": 0.0}, True),
        ("mcc in []", {"mcc": "5411"}, False),
        ("country in list('blocked_countries')", {"country": "KP"}, True),
        ("country in list('blocked_countries')", {"country": "DE"}, False),
        ("country not in list('blocked_countries')", {"country": "DE"}, True),
        ("card_bin in list('never_filled')", {"card_bin": "411111"}, False),
        ("coalesce(ip, '') in list('blocked_ips')", {"ip": "10.0.0.1"}, True),
    ],
)
def test_membership(text: str, context: dict[str, Any], expected: bool) -> None:
    lists = {
        "blocked_countries": frozenset({"KP", "IR"}),
        "blocked_ips": frozenset({"10.0.0.1"}),
    }
    assert evaluate(text, context, lists) is expected


def test_named_list_members_are_read_at_evaluation_time() -> None:
    compiled = compile_expression("device_id in list('blocked_devices')", VOCABULARY)
    context = {"device_id": "D-7"}
    assert compiled.evaluate(context, {"blocked_devices": frozenset()}) is False
    assert compiled.evaluate(context, {"blocked_devices": frozenset({"D-7"})}) is True
    assert compiled.lists == {"blocked_devices"}
    assert compiled.names == {"device_id"}


# -- results are plain booleans -------------------------------------------------------------


def test_numpy_values_give_plain_booleans() -> None:
    context = {"amount": np.float64(1500.0), "card_count_10m": np.int64(7)}
    assert evaluate("amount > 1000", context) is True
    assert evaluate("1000 < amount and card_count_10m == 7", context) is True
    assert evaluate("amount + card_count_10m > 1506", context) is True
    assert evaluate("amount > 1000", {"amount": np.float64("nan")}) is None


def test_constant_on_the_left_is_flipped_correctly() -> None:
    for text, expected in [
        ("1000 < amount", True),
        ("1000 > amount", False),
        ("1500 <= amount", True),
        ("1500 >= amount", True),
        ("1500 == amount", True),
        ("1500 != amount", False),
    ]:
        assert evaluate(text, {"amount": 1500.0}) is expected, text
