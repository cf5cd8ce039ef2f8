"""Typed named lists: an IP or country list holds only members a transaction can match."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rules.exceptions import RuleSetError
from rules.lists import ListSnapshot
from rules.loader import default_rules_text, load_rule_set, parse_rule_set
from rules.ruleset import RuleSet
from tests.rules.conftest import VOCABULARY, rule

Write = Callable[..., Path]

IP_RULES = [rule("blocked_ip", "ip in list('blocked_ips')", action="block")]
COUNTRY_RULES = [rule("blocked_country", "country in list('blocked_countries')", action="block")]


def load(write_rules: Write, rules: list[dict[str, Any]], **lists: list[str]) -> RuleSet:
    return load_rule_set(write_rules(rules, lists=lists), VOCABULARY)


def action(rule_set: RuleSet, lists: ListSnapshot | None = None, **context: Any) -> str | None:
    return rule_set.evaluate(context, lists).action


def test_an_ip_list_blocks_every_spelling_of_its_addresses(write_rules: Write) -> None:
    rule_set = load(write_rules, IP_RULES, blocked_ips=["2001:db8::1", "10.0.0.1"])
    for spelling in ["2001:db8::1", "2001:DB8::1", "2001:db8:0:0::1", "2001:0db8::0001"]:
        assert action(rule_set, ip=spelling) == "block", spelling
    assert action(rule_set, ip="10.0.0.1") == "block"
    assert action(rule_set, ip="2001:db8::2") is None
    assert action(rule_set, ip="10.0.0.2") is None
    assert action(rule_set, ip="not an address") is None


def test_an_ip_list_stores_its_defaults_in_one_spelling(write_rules: Write) -> None:
    rule_set = load(write_rules, IP_RULES, blocked_ips=["2001:DB8:0::1", "192.0.2.7"])
    assert rule_set.lists["blocked_ips"] == {"2001:db8::1", "192.0.2.7"}
    assert action(rule_set, ip="2001:db8::1") == "block"


def test_an_ip_list_matches_any_spelling_of_a_run_time_member(write_rules: Write) -> None:
    rule_set = load(write_rules, IP_RULES, blocked_ips=["10.0.0.1"])
    runtime = ListSnapshot(3, {"blocked_ips": frozenset({"2001:db8::7"})})
    assert action(rule_set, runtime, ip="2001:DB8::7") == "block"
    assert action(rule_set, runtime, ip="2001:db8:0::7") == "block"
    assert action(rule_set, runtime, ip="10.0.0.1") == "block"
    assert action(rule_set, runtime, ip="2001:db8::8") is None


def test_an_ip_list_refuses_a_default_that_is_not_an_ip(write_rules: Write) -> None:
    with pytest.raises(RuleSetError) as caught:
        load(write_rules, IP_RULES, blocked_ips=["10.0.0.1", "10.0.0.300", "host.example"])
    message = str(caught.value)
    assert "list 'blocked_ips' holds IP addresses" in message
    assert "'10.0.0.300'" in message and "'host.example'" in message
    assert "'10.0.0.1'" not in message


def test_a_country_list_upper_cases_its_members(write_rules: Write) -> None:
    rule_set = load(write_rules, COUNTRY_RULES, blocked_countries=["ru", "KP"])
    assert rule_set.lists["blocked_countries"] == {"RU", "KP"}
    assert action(rule_set, country="RU") == "block"


def test_a_country_list_refuses_what_is_not_a_two_letter_code(write_rules: Write) -> None:
    with pytest.raises(RuleSetError) as caught:
        load(write_rules, COUNTRY_RULES, blocked_countries=["RU", "RUS", "Russia", "ß"])
    message = str(caught.value)
    assert "list 'blocked_countries' holds two-letter ISO country codes" in message
    assert "'RUS'" in message and "'Russia'" in message and "'ß'" in message


def test_a_list_checked_against_both_ip_and_country_is_refused(write_rules: Write) -> None:
    rules = [
        rule("by_ip", "ip in list('suspects')"),
        rule("by_country", "amount > 1 and not (country not in list('suspects'))"),
    ]
    with pytest.raises(RuleSetError, match="list 'suspects' is checked against"):
        load(write_rules, rules, suspects=[])


def test_a_list_kind_comes_from_the_rules_that_use_it() -> None:
    from rules.lists.kinds import ListKind

    rule_set = parse_rule_set(default_rules_text(), VOCABULARY)
    assert rule_set.list_kinds == {
        "blocked_ips": ListKind.IP,
        "blocked_countries": ListKind.COUNTRY,
    }
    # Text lists (BINs, devices, cards) are compared as written.
    assert rule_set.list_kind("blocked_devices") is ListKind.TEXT
    assert rule_set.list_kind("not_declared") is ListKind.TEXT


@pytest.mark.parametrize(
    ("kind", "members", "expected"),
    [
        ("ip", ["2001:DB8::1", "2001:0db8:0:0::1", "192.0.2.7"], ["192.0.2.7", "2001:db8::1"]),
        ("country", ["ru", "Kp"], ["KP", "RU"]),
        ("text", ["Dev-1", " x "], [" x ", "Dev-1"]),
    ],
)
def test_normalised_members(kind: str, members: list[str], expected: list[str]) -> None:
    from rules.lists.kinds import ListKind, normalise_members

    assert sorted(set(normalise_members(ListKind(kind), "some_list", members))) == expected
