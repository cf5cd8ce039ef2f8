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
