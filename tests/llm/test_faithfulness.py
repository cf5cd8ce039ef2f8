"""The faithfulness checker: true citations pass, every kind of false one is caught."""

from __future__ import annotations

import random

import pytest

from models.llm.facts import case_facts
from models.llm.faithfulness import CaseClaims, check_faithfulness, check_format
from models.llm.wording import reference_explanation, template_explanation
from tests.llm.helpers import make_decision

DESCRIPTIONS = {
    "R_NEW_DEVICE_HIGH_AMOUNT": "a large payment from a device this card has never used"
}
FACTS = case_facts(make_decision(), DESCRIPTIONS)
GOOD = (
    "High risk: flagged for review at score 0.91. Rule R_NEW_DEVICE_HIGH_AMOUNT fired: a large "
    "payment from a device this card has never used. Raising the risk: amount 1500.00 and "
    "card_new_device yes. Lowering it: card_count_24h 0. Next step: confirm the payment with the "
    "customer."
)


def test_a_true_explanation_passes_and_names_its_citations():
    report = check_faithfulness(GOOD, FACTS)
    assert report.faithful, report.problems
    assert report.cited_features == ["amount", "card_new_device", "card_count_24h"]
    assert check_format(GOOD, FACTS) == []


def test_numbers_compare_as_numbers():
    assert check_faithfulness(GOOD.replace("1500.00", "1500"), FACTS).faithful


@pytest.mark.parametrize(
    ("wrong", "problem"),
    [
        (GOOD.replace("0.91", "0.97"), "number 0.97 is not in the case"),
        (GOOD.replace("amount 1500.00", "amount 2500.00"), "number 2500.00"),
        (GOOD.replace("card_count_24h 0", "card_count_24h 12"), "number 12"),
        (GOOD.replace("card_new_device yes", "card_new_device no"), "card_new_device is yes"),
        (GOOD.replace("card_count_24h 0", "card_count_1h 0"), "cites card_count_1h"),
        (GOOD.replace("Rule R_NEW_DEVICE_HIGH_AMOUNT", "Rule R_CARD_TESTING"), "R_CARD_TESTING"),
        (GOOD.replace("High risk", "Critical risk"), "says critical risk"),
        (GOOD.replace("flagged for review", "blocked"), "says blocked"),
        (GOOD.replace("Lowering it: card_count_24h 0", "Raising it further: card_count_24h 0"),
         "card_count_24h raises"),
        (GOOD + " The customer's card was used 3 times today.", "number 3"),
    ],
)  # fmt: skip
def test_false_citations_are_caught(wrong, problem):
    report = check_faithfulness(wrong, FACTS)
    assert not report.faithful
    assert any(problem in p for p in report.problems), report.problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("High risk at score 0.91 with amount 1500.00", "does not end with a full stop"),
        ("Flagged. amount 1500.00. R_NEW_DEVICE_HIGH_AMOUNT.", "does not state the risk level"),
        (GOOD.replace("Rule R_NEW_DEVICE_HIGH_AMOUNT fired", "A rule fired"), "omits rule"),
        (GOOD + "\nFactor: amount = 1500.00", "more than one paragraph"),
        (GOOD + " " + GOOD * 3, "longer than"),
    ],
)
def test_format_problems_are_named(text, problem):
    assert any(problem in p for p in check_format(text, FACTS))


def test_every_written_reference_and_template_is_faithful(llm_data):
    """The targets the adapter learns from, and the fallback, never state a falsehood."""
    rng = random.Random(0)
    cases = llm_data.explain_train + llm_data.explain_test
    assert len(cases) >= 20
    for facts in cases:
        for text in (template_explanation(facts), reference_explanation(facts, rng)):
            report = check_faithfulness(text, facts)
            assert report.faithful, (text, report.problems)
            assert check_format(text, facts) == [], text


# -- the same claims on a text still being written (constrained decoding asks this) --


def test_every_beginning_of_a_true_explanation_is_admitted():
    claims = CaseClaims(FACTS)
    refused = [GOOD[:end] for end in range(len(GOOD) + 1) if not claims.admits_prefix(GOOD[:end])]
    assert refused == []


@pytest.mark.parametrize(
    ("admitted", "refused"),
    [
        ("at score 0.9", "at score 0.97"),  # a number on its way to one of the case's, or not
        ("at score 0.91.", "at score 0.915"),  # a full stop ends a number; a digit more is false
        ("amount 1500", "amount 2500"),
        ("amount 1500.0", "amount 1500.01"),  # 1500.0 = 1500.00
        ("Raising the risk: card_new_d", "Raising the risk: card_zz"),  # a factor's name, or not
        ("Rule R_NEW_DEV", "Rule R_CARD"),  # a rule that fired, or not
        ("card_count_24h 0", "card_count_24h 1"),  # the value written after a factor is its own
        ("High risk", "Critical risk"),
        ("It was flagged", "It was blocked"),
        ("Lowering it: card_count_24h", "Raising it: card_count_24h"),
    ],
)
def test_a_false_claim_is_refused_as_soon_as_it_is_written(admitted, refused):
    claims = CaseClaims(FACTS)
    assert claims.admits_prefix(admitted)
    assert not claims.admits_prefix(refused + " ")


def test_a_factor_name_is_refused_before_it_is_finished_if_it_can_only_be_false():
    claims = CaseClaims(FACTS)  # card_new_device raises the risk, card_count_24h lowers it
    assert claims.admits_prefix("Lowering it: card_")  # could still be card_count_24h
    assert claims.admits_prefix("Lowering it: card_co")
    assert not claims.admits_prefix("Lowering it: card_n")  # only card_new_device is left
    assert claims.admits_prefix("Raising it: card_n")


def test_prefix_refusal_agrees_with_the_full_check(llm_data):
    """A finished text every beginning of which is admitted passes the full check."""
    rng = random.Random(1)
    for facts in llm_data.explain_test:
        claims = CaseClaims(facts)
        text = reference_explanation(facts, rng)
        assert claims.admits_prefix(text), text
        assert claims.check(text).faithful
        wrong = text.replace(facts.score, "0.123") if facts.score != "0.123" else text
        assert not claims.admits_prefix(wrong) or wrong == text
