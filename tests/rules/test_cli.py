"""``fraudstream rules``: check, test, bench and the run-time lists (real Redis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.settings import Settings
from rules.lists import RedisListStore
from services.cli.rules_cmd import rules
from tests.rules.conftest import rule, rule_file


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [[], ["check"], ["test"], ["bench"], ["lists"], ["lists", "add"], ["lists", "show"]],
)
def test_help_everywhere(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(rules, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_check_the_default_rules(runner: CliRunner) -> None:
    result = runner.invoke(rules, ["check"])
    assert result.exit_code == 0, result.output
    assert "version 2026.11-1+" in result.output
    assert "blocked_ips" in result.output and "(ip)" in result.output
    assert "blocked_country" in result.output and "R_BLOCKED_COUNTRY" in result.output


def test_check_a_bad_file_names_file_rule_and_position(runner: CliRunner, tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("ok", "amount > 1"), rule("typo", "amount > 1 and amout < 3")])
    result = runner.invoke(rules, ["check", str(path)])
    assert result.exit_code == 1
    # path:line:column of the file (as compilers print them), then the place in `when`
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "amout" in text)
    column = path.read_text().splitlines()[line - 1].index("amout") + 1
    assert (
        f"{path}:{line}:{column}: rule 'typo': when, line 1, column 16: unknown name 'amout'"
        in result.output
    )


def test_test_prints_hits_outcome_and_policy(runner: CliRunner) -> None:
    context = {
        "amount": 1.0,
        "channel": "ecom",
        "device_cards_1h": 6,
        "mcc": "7995",
        "score": 0.2,
        "velocity": 3,
    }
    result = runner.invoke(rules, ["test", "--context", json.dumps(context)])
    assert result.exit_code == 0, result.output
    assert "hit card_testing_device" in result.output
    assert "rules: block (R_CARD_TESTING)" in result.output
    assert "tags: high_risk_mcc" in result.output
    assert "policy: block (R_CARD_TESTING)" in result.output
    assert "names no rule can use: velocity" in result.output


def test_test_reads_a_context_file_and_reports_shadow(runner: CliRunner, tmp_path: Path) -> None:
    context = {"amount": 950, "channel": "ecom", "cold_start": True, "score": 0.6}
    path = tmp_path / "context.json"
    path.write_text(json.dumps(context))
    result = runner.invoke(rules, ["test", "--context", f"@{path}"])
    assert result.exit_code == 0, result.output
    assert "cold_start_large_ecom" in result.output and "shadow" in result.output
    assert "rules: no decision" in result.output
    assert "policy: flag (S_COLD_START_FLAG)" in result.output


def test_test_refuses_a_bad_context(runner: CliRunner) -> None:
    result = runner.invoke(rules, ["test", "--context", "[1, 2]"])
    assert result.exit_code == 2 and "JSON object" in result.output


def test_lists_add_show_remove_against_redis(runner: CliRunner, settings: Settings) -> None:
    result = runner.invoke(rules, ["lists", "add", "blocked_countries", "RU", "BY"])
    assert result.exit_code == 0, result.output
    assert "add 2 of 2" in result.output
    show = runner.invoke(rules, ["lists", "show", "blocked_countries"])
    assert show.output.split() == ["BY", "RU"]
    overview = runner.invoke(rules, ["lists", "show"])
    assert "blocked_countries" in overview.output and "2 members" in overview.output
    removed = runner.invoke(rules, ["lists", "remove", "blocked_countries", "BY"])
    assert removed.exit_code == 0 and "remove 1 of 1" in removed.output
    # What the CLI wrote is what a scorer's store reads, under the test's prefix.
    store = RedisListStore.from_settings(settings.redis)
    try:
        assert store.members("blocked_countries") == {"RU"}
        assert store.version() == 2
    finally:
        store.close()
    # ... and `test --redis-lists` sees it.
    result = runner.invoke(
        rules, ["test", "--redis-lists", "--context", '{"country": "RU", "card_id": "C"}']
    )
    assert "rules: block (R_BLOCKED_COUNTRY)" in result.output


def test_lists_refuse_a_bad_name(runner: CliRunner, settings: Settings) -> None:
    result = runner.invoke(rules, ["lists", "add", "Blocked-Countries", "RU"])
    assert result.exit_code == 2 and "list name" in result.output


def _members(settings: Settings, name: str) -> frozenset[str]:
    store = RedisListStore.from_settings(settings.redis)
    try:
        return store.members(name)
    finally:
        store.close()


def test_lists_store_ip_addresses_in_one_spelling(runner: CliRunner, settings: Settings) -> None:
    added = runner.invoke(rules, ["lists", "add", "blocked_ips", "2001:DB8:0::1", "192.0.2.7"])
    assert added.exit_code == 0, added.output
    assert _members(settings, "blocked_ips") == {"2001:db8::1", "192.0.2.7"}
    context = '{"ip": "2001:0db8::0001", "card_id": "C"}'
    result = runner.invoke(rules, ["test", "--redis-lists", "--context", context])
    assert "rules: block (R_BLOCKED_IP)" in result.output
    removed = runner.invoke(rules, ["lists", "remove", "blocked_ips", "2001:db8:0:0::1"])
    assert removed.exit_code == 0 and "remove 1 of 1" in removed.output, removed.output
    # Junk stored before these checks existed can still be removed.
    store = RedisListStore.from_settings(settings.redis)
    try:
        store.add("blocked_ips", ["not-an-ip"])
    finally:
        store.close()
    junk = runner.invoke(rules, ["lists", "remove", "blocked_ips", "not-an-ip"])
    assert junk.exit_code == 0 and "remove 1 of 1" in junk.output, junk.output
    assert _members(settings, "blocked_ips") == {"192.0.2.7"}


def test_members_stored_in_another_spelling_before_can_be_removed(
    runner: CliRunner, settings: Settings
) -> None:
    # Stored as typed by the CLI before lists were typed: `remove` normalised the
    # value first and so never matched them (`remove 0 of 1`, and they stayed).
    store = RedisListStore.from_settings(settings.redis)
    try:
        store.add("blocked_ips", ["2001:DB8::1"])
        store.add("blocked_countries", ["ru"])
    finally:
        store.close()
    for name, value in (("blocked_ips", "2001:DB8::1"), ("blocked_countries", "ru")):
        removed = runner.invoke(rules, ["lists", "remove", name, value])
        assert removed.exit_code == 0 and "remove 1 of 1" in removed.output, removed.output
        assert _members(settings, name) == frozenset()


def test_lists_refuse_a_member_that_is_not_an_ip(runner: CliRunner, settings: Settings) -> None:
    result = runner.invoke(rules, ["lists", "add", "blocked_ips", "10.0.0.1", "10.0.0.300"])
    assert result.exit_code == 2, result.output
    assert "list 'blocked_ips' holds IP addresses" in result.output
    assert "'10.0.0.300'" in result.output
    assert _members(settings, "blocked_ips") == frozenset()  # nothing written


def test_lists_upper_case_country_codes_and_refuse_other_text(
    runner: CliRunner, settings: Settings
) -> None:
    added = runner.invoke(rules, ["lists", "add", "blocked_countries", "ru"])
    assert added.exit_code == 0, added.output
    assert _members(settings, "blocked_countries") == {"RU"}
    refused = runner.invoke(rules, ["lists", "add", "blocked_countries", "Russia"])
    assert refused.exit_code == 2, refused.output
    assert "list 'blocked_countries' holds two-letter ISO country codes" in refused.output
    assert "'Russia'" in refused.output


def test_lists_refuse_a_list_the_rule_file_does_not_declare(
    runner: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    result = runner.invoke(rules, ["lists", "add", "blocked_countrys", "RU"])
    assert result.exit_code == 2, result.output
    assert "list 'blocked_countrys' is not declared" in result.output
    assert "blocked_countries" in result.output and "--allow-unknown" in result.output
    assert _members(settings, "blocked_countrys") == frozenset()
    forced = runner.invoke(rules, ["lists", "add", "--allow-unknown", "blocked_countrys", "RU"])
    assert forced.exit_code == 0, forced.output
    assert _members(settings, "blocked_countrys") == {"RU"}
    # The rule file in use decides which lists exist (`run scorer --rules` takes the same file).
    path = rule_file(
        tmp_path, [rule("vip", "card_id in list('vip_cards')")], lists={"vip_cards": []}
    )
    assert (
        runner.invoke(rules, ["lists", "add", "--rules", str(path), "vip_cards", "C-1"]).exit_code
        == 0
    )
    refused = runner.invoke(
        rules, ["lists", "add", "--rules", str(path), "blocked_ips", "10.0.0.1"]
    )
    assert refused.exit_code == 2 and "vip_cards" in refused.output, refused.output
