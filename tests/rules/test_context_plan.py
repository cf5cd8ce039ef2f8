"""``ContextPlan``: the scorer's cut-down contexts give the outcomes ``build_context`` gives."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from contracts.events import Transaction
from feature_store.derive import FEATURE_NAMES
from rules.lists import ListSnapshot
from rules.loader import default_rules_text, load_rule_set, parse_rule_set
from rules.outcome import RuleOutcome
from rules.schema import ContextPlan, build_context
from tests.rules.conftest import VOCABULARY, rule, rule_file

T0 = 1_767_225_600_000


def _transactions(count: int, rng: random.Random) -> list[Transaction]:
    return [
        Transaction(
            tx_id=f"t{i}",
            event_time_ms=T0 + i,
            card_id=rng.choice(["C-1", "C-2", "C-STAFF"]),
            customer_id="U-1",
            amount=rng.choice([0.5, 4.99, 5.0, 120.0, 999.99, 1000.0, 5000.0]),
            merchant_id="M-1",
            mcc=rng.choice(["5411", "7995", "6051"]),
            country=rng.choice(["DE", "FR", "KP", "IR"]),
            channel=rng.choice(["pos", "ecom", "atm", "transfer"]),
            card_bin=rng.choice([None, "411111", "535522"]),
            device_id=rng.choice([None, "D-1", "D-EVIL"]),
            ip=rng.choice([None, "198.51.100.7", "203.0.113.9"]),
            payee_id=rng.choice([None, "P-1"]),
        )
        for i in range(count)
    ]


def _values(rng: random.Random) -> list[float]:
    # Small numbers so thresholds are crossed both ways; NaN is a missing feature.
    choices = [math.nan, 0.0, 0.01, 0.3, 1.0, 4.0, 5.0, 8.0, 20.0, 95.0, 600.0, 1000.0]
    return [rng.choice(choices) for _ in FEATURE_NAMES]


def _compare(text: str, seed: int, count: int = 400) -> list[RuleOutcome]:
    rule_set = parse_rule_set(text, VOCABULARY)
    plan = ContextPlan(rule_set.names_used, FEATURE_NAMES)
    rng = random.Random(seed)
    txs = _transactions(count, rng)
    rows = [_values(rng) for _ in txs]
    scores: list[float | None] = [rng.choice([None, math.nan, 0.1, 0.5, 0.95]) for _ in txs]
    cold = [rng.random() < 0.5 for _ in txs]
    full = [
        build_context(tx, dict(zip(FEATURE_NAMES, row, strict=True)), score=s, cold_start=c)
        for tx, row, s, c in zip(txs, rows, scores, cold, strict=True)
    ]
    cut = plan.build_batch(txs, rows, scores, cold)
    # Every name the rules read has the value build_context gives it; nothing else is there.
    for big, small in zip(full, cut, strict=True):
        assert set(small) == set(rule_set.names_used)
        assert all(_same(small[name], big[name]) for name in small)
    lists = ListSnapshot(
        3, {"blocked_bins": frozenset({"535522"}), "allowed_cards": frozenset({"C-STAFF"})}
    )
    outcomes = rule_set.evaluate_batch(full, lists)
    assert rule_set.evaluate_batch(cut, lists) == outcomes
    return outcomes


def _same(a: Any, b: Any) -> bool:
    return a is b or a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def test_default_rules_see_the_same_values_and_give_the_same_outcomes() -> None:
    outcomes = _compare(default_rules_text(), seed=1)
    # The comparison means something: rules of every kind fired on these contexts.
    assert {o.action for o in outcomes} >= {None, "allow", "block", "flag"}
    assert any(o.tags for o in outcomes) and any(o.hits and o.action is None for o in outcomes)


def test_a_feature_wins_over_a_transaction_field_of_the_same_name(tmp_path: Path) -> None:
    assert "amount" in FEATURE_NAMES  # a feature and a transaction field both
    rules = [rule("big", "amount >= 1000"), rule("odd", "score > 0.5 and not cold_start")]
    rule_set = load_rule_set(rule_file(tmp_path, rules), VOCABULARY)
    plan = ContextPlan(rule_set.names_used, FEATURE_NAMES)
    (tx,) = _transactions(1, random.Random(0))
    row = [2000.0 if name == "amount" else 0.0 for name in FEATURE_NAMES]
    context = plan.build(tx, row, score=0.7, cold_start=False)
    assert context == {"amount": 2000.0, "score": 0.7, "cold_start": False}
    assert plan.build(tx, row) == {"amount": 2000.0, "score": None, "cold_start": False}


def test_rule_sets_reading_one_or_no_model_name(tmp_path: Path) -> None:
    for when in ("score > 0.5", "cold_start", "country == 'DE'", "card_count_10m > 3"):
        rule_set = load_rule_set(rule_file(tmp_path, [rule("r", when)]), VOCABULARY)
        text = (tmp_path / "rules.yaml").read_text(encoding="utf-8")
        assert rule_set.names_used
        _compare(text, seed=2, count=100)
