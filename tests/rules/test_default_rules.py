"""The packaged default rule set loads, stays quiet on ordinary payments, and each rule fires."""

from __future__ import annotations

import math
from typing import Any

import pytest

from contracts.events import Transaction
from feature_store.derive import FEATURE_NAMES
from rules.bench import bench_rule_set, default_bench_contexts
from rules.lists import ListSnapshot
from rules.loader import default_rules_text, parse_rule_set
from rules.ruleset import RuleSet
from rules.schema import build_context
from tests.rules.conftest import VOCABULARY

# An ordinary in-store payment by a card with a long history.
ORDINARY: dict[str, Any] = {name: 0.0 for name in FEATURE_NAMES} | {
    "tx_id": "T-1",
    "card_id": "C-1",
    "customer_id": "U-1",
    "merchant_id": "M-1",
    "amount": 42.5,
    "currency": "EUR",
    "mcc": "5411",
    "country": "DE",
    "channel": "pos",
    "card_bin": "411111",
    "device_id": None,
    "ip": None,
    "payee_id": None,
    "account_age_days": 900.0,
    "card_history_count": 250.0,
    "card_hour_share": 0.2,
    "card_speed_kmh": math.nan,
    "card_km_from_prev": math.nan,
    "score": 0.03,
    "cold_start": False,
}
ONLINE = ORDINARY | {"channel": "ecom", "device_id": "D-1", "ip": "198.51.100.7"}
RUNTIME_LISTS = ListSnapshot(
    7,
    {
        "blocked_bins": frozenset({"535522"}),
        "blocked_devices": frozenset({"D-EVIL"}),
        "blocked_ips": frozenset({"203.0.113.9"}),
        "allowed_cards": frozenset({"C-STAFF"}),
    },
)

# rule id -> a context on which exactly that rule (among others, maybe) fires.
FIRES: dict[str, dict[str, Any]] = {
    "allow_listed_card": ORDINARY | {"card_id": "C-STAFF", "country": "KP"},
    "blocked_country": ORDINARY | {"country": "IR"},
    "blocked_bin": ORDINARY | {"card_bin": "535522"},
    "blocked_device": ONLINE | {"device_id": "D-EVIL"},
    "blocked_ip": ONLINE | {"ip": "203.0.113.9"},
    "card_testing_device": ONLINE | {"amount": 1.0, "device_cards_1h": 7.0},
    "card_testing_burst": ONLINE | {"amount": 2.0, "card_count_10m": 6.0, "card_sum_10m": 11.5},
    "impossible_travel": ORDINARY | {"card_speed_kmh": 4200.0, "card_km_from_prev": 2100.0},
    "new_device_high_amount": ONLINE | {"amount": 1800.0, "card_new_device": 1.0},
    "proxy_ip_many_cards": ONLINE | {"amount": 140.0, "ip_cards_1h": 12.0},
    "new_payee_large_transfer": ORDINARY
    | {
        "channel": "transfer",
        "amount": 4000.0,
        "payee_id": "P-MULE",
        "customer_new_payee": 1.0,
        "account_age_days": 30.0,
    },
    "risky_device": ONLINE | {"device_fraud_rate": 0.45, "device_labels_30d": 9.0},
    "high_risk_mcc": ONLINE | {"mcc": "7995"},
    "cold_start_large_ecom": ONLINE
    | {"amount": 950.0, "cold_start": True, "score": 0.62, "card_history_count": 0.0},
}


@pytest.fixture(scope="module")
def default_rules() -> RuleSet:
    return parse_rule_set(default_rules_text(), VOCABULARY, source="default_rules.yaml")


def test_it_loads_with_a_version(default_rules: RuleSet) -> None:
    assert default_rules.version.startswith("2026.11-1+")
    assert 10 <= len(default_rules.rules) <= 20
    assert default_rules.names_used <= set(VOCABULARY.types)


def test_every_rule_has_a_crafted_context(default_rules: RuleSet) -> None:
    assert {compiled.rule.id for compiled in default_rules.rules} == set(FIRES)


def test_an_ordinary_payment_fires_nothing(default_rules: RuleSet) -> None:
    for context in (ORDINARY, ONLINE):
        outcome = default_rules.evaluate(context, RUNTIME_LISTS)
        assert outcome.hits == () and outcome.action is None and outcome.errors == ()


@pytest.mark.parametrize("rule_id", sorted(FIRES))
def test_each_rule_fires_on_its_context(default_rules: RuleSet, rule_id: str) -> None:
    outcome = default_rules.evaluate(FIRES[rule_id], RUNTIME_LISTS)
    hit_ids = [hit.rule_id for hit in outcome.hits]
    assert rule_id in hit_ids
    rule = default_rules.rule(rule_id)
    if rule.mode == "shadow":
        assert outcome.action is None and outcome.shadow_hits[0].rule_id == rule_id
    elif rule.action == "tag":
        assert rule.tag in outcome.tags
    else:
        assert outcome.action == rule.action
        assert outcome.reasons[0] == rule.reason


def test_the_allow_list_overrides_a_blocked_country(default_rules: RuleSet) -> None:
    outcome = default_rules.evaluate(FIRES["allow_listed_card"], RUNTIME_LISTS)
    assert outcome.action == "allow"
    assert [h.rule_id for h in outcome.hits] == ["allow_listed_card", "blocked_country"]


def test_missing_device_and_location_fire_nothing(default_rules: RuleSet) -> None:
    context = ONLINE | {
        "device_id": None,
        "card_new_device": math.nan,
        "device_cards_1h": math.nan,
        "amount": 3000.0,
        "card_speed_kmh": math.nan,
    }
    assert default_rules.evaluate(context, RUNTIME_LISTS).hits == ()


def test_build_context_from_a_transaction(default_rules: RuleSet) -> None:
    tx = Transaction(
        tx_id="T-9",
        event_time_ms=1_767_225_600_000,
        card_id="C-9",
        customer_id="U-9",
        amount=12.0,
        merchant_id="M-9",
        country="KP",
        channel="pos",
    )
    context = build_context(tx, {"card_count_10m": 1.0}, score=0.2, cold_start=True)
    assert context["country"] == "KP" and context["card_count_10m"] == 1.0
    assert context["cold_start"] is True and "v" not in context
    assert default_rules.evaluate(context).action == "block"


def test_bench_runs() -> None:
    rule_set = parse_rule_set(default_rules_text(), VOCABULARY, source="default")
    timings = bench_rule_set(rule_set, default_bench_contexts(FEATURE_NAMES), seconds=0.05)
    assert set(timings) == {"single", "batch"}
    assert all(value > 0 for value in timings.values())
