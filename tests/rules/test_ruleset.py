"""Rule set files: validation, versions, evaluation, shadow mode and action precedence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rules.exceptions import RuleSetError
from rules.lists import ListSnapshot
from rules.loader import load_rule_set, parse_rule_set
from rules.outcome import RuleHit, combine
from rules.ruleset import RuleSet
from tests.rules.conftest import VOCABULARY, rule

Write = Callable[..., Path]


def load(write_rules: Write, rules: list[dict[str, Any]], **top: Any) -> RuleSet:
    return load_rule_set(write_rules(rules, **top), VOCABULARY)


# -- validation -----------------------------------------------------------------------------


def test_every_problem_is_reported_at_once(write_rules: Write) -> None:
    path = write_rules(
        [
            rule("a", "amount > 1"),
            rule("a", "amount > 2"),  # duplicate id
            rule("b", "amount > 1", action="deny"),  # unknown action
            {"id": "c", "when": "amount > 1", "action": "flag"},  # no reason
            rule("d", "amount > 1", colour="red"),  # unknown key
            rule("e", "amount > 1", mode="dark"),
            rule("f", "amount > 1", priority="high"),
            rule("g", "amount > 1", action="tag"),  # tag without `tag`
            rule("h", "amount > 1", tag="x"),  # `tag` on a flag rule
            rule("i", "amount >", enabled=False),  # disabled rules are validated too
            {"id": "j k", "when": "amount > 1", "action": "flag", "reason": "lower"},
        ]
    )
    with pytest.raises(RuleSetError) as caught:
        load_rule_set(path, VOCABULARY)
    found = {(p.rule_id, p.problem.split(" ")[0]) for p in caught.value.problems}
    assert found == {
        ("a", "duplicate"),
        ("b", "unknown"),
        ("c", "`reason`"),
        ("d", "unknown"),
        ("e", "mode"),
        ("f", "priority"),
        ("g", "action"),
        ("h", "`tag`"),
        ("i", "expression"),
        ("j k", "id"),
        ("j k", "reason"),
    }
    assert all(p.source == str(path) for p in caught.value.problems)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- just a list", "must be a YAML mapping"),
        ("version: 1.0\nrules: [{id: a, when: amount > 1, action: flag, reason: R_A}]", "quote"),
        ("version: '1'\nrules: []", "non-empty list"),
        ("version: '1'\nrule: []\nrules: [{id: a, when: x, action: flag, reason: R_A}]", "rule"),
        ("version: '1'\nlists: {blocked_bins: [411111]}\nrules: []", "quote them"),
        ("version: '1'\nlists: {Bad-Name: []}\nrules: []", "list name"),
        ("version: '1'\nrules: [{id: a, when: 'x\n", "not valid YAML"),
    ],
)
def test_structural_problems(text: str, problem: str) -> None:
    with pytest.raises(RuleSetError, match="in the rule set") as caught:
        parse_rule_set(text, VOCABULARY, source="inline.yaml")
    assert any(problem in p.problem for p in caught.value.problems), caught.value
    assert str(caught.value).count("inline.yaml") == len(caught.value.problems)


def test_unreadable_file_is_a_rule_set_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="cannot read the file"):
        load_rule_set(tmp_path / "absent.yaml", VOCABULARY)


# -- versions -------------------------------------------------------------------------------


def test_version_is_declared_plus_content_hash(write_rules: Write, tmp_path: Path) -> None:
    rules = [rule("a", "amount > 1")]
    first = load(write_rules, rules)
    assert first.version.startswith("t-1+") and len(first.content_hash) == 12
    # Comments and layout do not change the version ...
    path = tmp_path / "rules.yaml"
    flow = yaml.safe_dump(yaml.safe_load(path.read_text()), default_flow_style=True)
    path.write_text("# a comment\n" + flow)
    assert load_rule_set(path, VOCABULARY).version == first.version
    # ... any change of content does, even with the same declared version.
    assert load(write_rules, [rule("a", "amount > 2")]).version != first.version
    assert load(write_rules, rules, version="t-2").version.startswith("t-2+")


# -- evaluation and precedence ------------------------------------------------------------


PRECEDENCE_RULES = [
    rule("flag_big", "amount > 100", action="flag", priority=5),
    rule("block_kp", "country in list('blocked_countries')", action="block", priority=1),
    rule("block_huge", "amount > 5000", action="block", priority=9),
    rule("allow_vip", "card_id == 'VIP'", action="allow"),
    rule("tag_gambling", "mcc == '7995'", action="tag", tag="gambling"),
    rule("flag_kp", "country == 'KP'", action="flag", priority=5),
]


@pytest.mark.parametrize(
    ("context", "action", "reasons"),
    [
        ({"amount": 10.0, "country": "DE"}, None, ()),
        ({"amount": 200.0, "country": "DE"}, "flag", ("R_FLAG_BIG",)),
        # two flags of equal priority: file order
        ({"amount": 200.0, "country": "KP"}, "block", ("R_BLOCK_KP",)),
        # block beats flag; higher priority first among blocks
        ({"amount": 6000.0, "country": "KP"}, "block", ("R_BLOCK_HUGE", "R_BLOCK_KP")),
        # allow overrides every block
        ({"amount": 6000.0, "country": "KP", "card_id": "VIP"}, "allow", ("R_ALLOW_VIP",)),
        # tag never decides
        ({"amount": 10.0, "mcc": "7995"}, None, ()),
    ],
)
def test_action_precedence(
    write_rules: Write, context: dict[str, Any], action: str | None, reasons: tuple[str, ...]
) -> None:
    rule_set = load(write_rules, PRECEDENCE_RULES)
    outcome = rule_set.evaluate(context)
    assert outcome.action == action
    assert outcome.reasons == reasons
    assert outcome.rule_set_version == rule_set.version


def test_hits_come_in_precedence_order_with_tags(write_rules: Write) -> None:
    outcome = load(write_rules, PRECEDENCE_RULES).evaluate(
        {"amount": 6000.0, "country": "KP", "mcc": "7995"}
    )
    assert [h.rule_id for h in outcome.hits] == [
        "block_huge",
        "block_kp",
        "flag_big",
        "flag_kp",
        "tag_gambling",
    ]
    assert outcome.tags == ("gambling",)
    assert all(not h.shadow for h in outcome.hits)


def test_shadow_rules_are_reported_but_change_nothing(write_rules: Write) -> None:
    shadow = [
        rule("flag_big", "amount > 100", action="flag"),
        rule("candidate", "amount > 1000", action="block", mode="shadow", priority=99),
        rule("allow_candidate", "amount > 1000", action="allow", mode="shadow"),
        rule("tag_candidate", "amount > 1000", action="tag", tag="t", mode="shadow"),
    ]
    outcome = load(write_rules, shadow).evaluate({"amount": 5000.0})
    assert outcome.action == "flag"
    assert outcome.reasons == ("R_FLAG_BIG",)
    assert outcome.tags == ()
    assert {(h.rule_id, h.shadow) for h in outcome.shadow_hits} == {
        ("candidate", True),
        ("allow_candidate", True),
        ("tag_candidate", True),
    }
    assert [h.rule_id for h in outcome.active_hits] == ["flag_big"]
    # The same rule set without the shadow rules decides exactly the same.
    alone = load(write_rules, shadow[:1]).evaluate({"amount": 5000.0})
    assert (alone.action, alone.reasons, alone.tags) == (
        outcome.action,
        outcome.reasons,
        outcome.tags,
    )


def test_shadow_only_hit_leaves_no_decision(write_rules: Write) -> None:
    rule_set = load(write_rules, [rule("c", "amount > 1", action="block", mode="shadow")])
    outcome = rule_set.evaluate({"amount": 5.0})
    assert outcome.action is None and outcome.reasons == ()
    assert outcome.hits == (RuleHit("c", "block", "R_C", shadow=True),)


def test_disabled_rules_do_not_run(write_rules: Write) -> None:
    rule_set = load(write_rules, [rule("off", "amount > 1", action="block", enabled=False)])
    assert rule_set.evaluate({"amount": 5.0}).hits == ()
    assert rule_set.rule("off").enabled is False


def test_a_wrongly_typed_value_fails_one_rule_not_the_set(write_rules: Write) -> None:
    rule_set = load(
        write_rules,
        [rule("numeric", "amount > 100", action="block"), rule("ok", "country == 'DE'")],
    )
    outcome = rule_set.evaluate({"amount": "lots", "country": "DE"})
    assert outcome.errors == ("numeric",)
    assert outcome.action == "flag" and outcome.reasons == ("R_OK",)


def test_batch_equals_one_by_one(write_rules: Write) -> None:
    rule_set = load(write_rules, PRECEDENCE_RULES)
    contexts = [
        {"amount": float(a), "country": c, "card_id": v, "mcc": m}
        for a in (10, 200, 6000)
        for c in ("DE", "KP")
        for v in ("VIP", "C1")
        for m in ("7995", "5411")
    ]
    lists = ListSnapshot(3, {"blocked_countries": frozenset({"DE"})})
    assert rule_set.evaluate_batch(contexts, lists) == [
        rule_set.evaluate(c, lists) for c in contexts
    ]


def test_lists_are_file_defaults_plus_runtime_members(write_rules: Write) -> None:
    rule_set = load(write_rules, [rule("kp", "country in list('blocked_countries')", "block")])
    assert rule_set.evaluate({"country": "KP"}).action == "block"  # file default
    assert rule_set.evaluate({"country": "RU"}).action is None
    runtime = ListSnapshot(1, {"blocked_countries": frozenset({"RU"}), "other": frozenset()})
    assert rule_set.evaluate({"country": "RU"}, runtime).action == "block"
    assert rule_set.evaluate({"country": "KP"}, runtime).action == "block"
    assert rule_set.effective_lists(runtime) == {"blocked_countries": frozenset({"KP", "RU"})}
    newer = ListSnapshot(2, {})
    assert rule_set.evaluate({"country": "RU"}, newer).action is None


def test_combine_orders_any_input() -> None:
    hits = [
        RuleHit("f", "flag", "R_F", priority=50),
        RuleHit("t", "tag", "R_T", tag="x"),
        RuleHit("b2", "block", "R_B2", priority=1),
        RuleHit("b1", "block", "R_B1", priority=7),
        RuleHit("s", "allow", "R_S", shadow=True),
    ]
    outcome = combine(hits, "v")
    assert [h.rule_id for h in outcome.hits] == ["s", "b1", "b2", "f", "t"]
    assert outcome.action == "block" and outcome.reasons == ("R_B1", "R_B2")
    assert outcome.tags == ("x",)
