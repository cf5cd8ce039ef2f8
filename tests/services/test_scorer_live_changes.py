"""Changes that reach a running scorer without a restart: rules, lists, a new champion.

A shadow rule reports what it would do and changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from click.testing import CliRunner

from contracts.events import Decision
from contracts.settings import Settings
from feature_store import FEATURE_NAMES, FeatureEngine, MemoryOnlineStore
from models.registry import ModelRegistry
from rules import RuleSetHolder, rule_vocabulary
from rules.reload import SETTLE_S
from services.cli.main import cli
from services.scoring.models import ModelSet
from services.scoring.pipeline import ScoringPipeline
from services.scoring.wiring import DEFAULT_RULES, ScorerConfig
from tests.services.scoring.helpers import (
    T0,
    ScorerThread,
    TrainedScorer,
    card_payments,
    private_model_names,
    produce_transactions,
    read_until_decided,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow

HOUR = 3_600_000
SHADOW_RULE = {
    "id": "shadow_block_everything",
    "description": "A candidate that would block every payment.",
    "when": "amount > 0",
    "action": "block",
    "reason": "R_TEST_SHADOW_BLOCK",
    "mode": "shadow",
}
RELOADED_RULE = {
    "id": "block_reloaded_merchant",
    "description": "Added to the file while the scorer runs.",
    "when": "merchant_id == 'm-reloaded'",
    "action": "block",
    "reason": "R_TEST_RELOADED",
    "priority": 80,
}


def _write_rules(path: Path, version: str, *extra: dict[str, Any]) -> None:
    document = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    document["version"] = version
    document["rules"] = [*document["rules"], *extra]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _decide(settings: Settings, transactions: list[Any]) -> dict[str, Decision]:
    wanted = {tx.tx_id for tx in transactions}
    decided = {d.tx_id: d for d in read_until_decided(settings, wanted) if d.tx_id in wanted}
    assert set(decided) == wanted, f"{len(wanted - set(decided))} transactions undecided"
    return decided


def test_shadow_rules_change_nothing_and_rule_and_list_changes_apply_live(
    scorer_settings: Settings, tmp_path: Path
) -> None:
    settings = scorer_settings
    rules_file = tmp_path / "rules.yaml"
    _write_rules(rules_file, "test-1", SHADOW_RULE)
    first = card_payments(8, 10, tag="a")
    second = card_payments(8, 3, tag="b", start_ms=T0 + 6 * HOUR)
    second[5] = msgspec.structs.replace(second[5], merchant_id="m-reloaded")
    third = card_payments(8, 3, tag="c", start_ms=T0 + 12 * HOUR)
    third[2] = msgspec.structs.replace(third[2], country="XX")

    # What the packaged rules (no shadow rule) decide for the same stream.
    offline = ScoringPipeline(
        FeatureEngine(MemoryOnlineStore()),
        ModelSet(settings.mlflow),
        RuleSetHolder(DEFAULT_RULES, rule_vocabulary(FEATURE_NAMES)),
    ).score(first)
    expected = {d.tx_id: d for d in offline.decisions}

    config = ScorerConfig(group_id="live-rules", rules_path=rules_file, reload_every_s=0.2)
    with ScorerThread(settings, config):
        produce_transactions(settings, first)
        decided = _decide(settings, first)
        assert set(decided) == set(expected)
        for tx_id, decision in decided.items():
            assert decision.shadow_rules == ["shadow_block_everything"]
            assert decision.action == expected[tx_id].action
            assert decision.reasons == expected[tx_id].reasons
            assert "R_TEST_SHADOW_BLOCK" not in decision.reasons
            assert decision.rule_set_version.startswith("test-1+")
        assert any(d.action == "allow" for d in decided.values())

        # A new rule-set file is picked up by the running scorer.
        _write_rules(rules_file, "test-2", RELOADED_RULE)
        # The scorer looks at the file every 0.2 s, and reads it once it has settled.
        time.sleep(SETTLE_S + 0.3)
        produce_transactions(settings, second)
        decided = _decide(settings, second)
        assert {d.rule_set_version.split("+")[0] for d in decided.values()} == {"test-2"}
        odd = decided.pop(second[5].tx_id)
        assert odd.action == "block" and odd.reasons[0] == "R_TEST_RELOADED"
        assert not any("R_TEST_RELOADED" in d.reasons for d in decided.values())
        assert not any(d.shadow_rules for d in decided.values())

        # A country added to a list at run time, from the command line.
        result = CliRunner().invoke(cli, ["rules", "lists", "add", "blocked_countries", "XX"])
        assert result.exit_code == 0, result.output
        time.sleep(1.2)  # the scorer reads the lists' version at most once a second
        produce_transactions(settings, third)
        decided = _decide(settings, third)
        odd = decided.pop(third[2].tx_id)
        assert odd.action == "block" and odd.reasons[0] == "R_BLOCKED_COUNTRY"
        assert not any("R_BLOCKED_COUNTRY" in d.reasons for d in decided.values())


def test_a_new_champion_is_served_without_a_restart(
    scorer_settings: Settings, trained_scorer: TrainedScorer
) -> None:
    mlflow = private_model_names(trained_scorer, champion_family="xgboost")
    settings = scorer_settings.model_copy(update={"mlflow": mlflow})
    name = mlflow.registered_model
    before = card_payments(8, 10, tag="a")
    after = card_payments(8, 5, tag="b", start_ms=T0 + 6 * HOUR)
    config = ScorerConfig(group_id="live-model", reload_every_s=0.2)
    with ScorerThread(settings, config) as scorer:
        produce_transactions(settings, before)
        decided = _decide(settings, before)
        assert {d.model_version for d in decided.values() if not d.cold_start} == {f"{name}/1"}

        # Promotion moves the alias; the scorer notices between batches.
        ModelRegistry(mlflow).set_alias(name, "champion", "2")
        time.sleep(0.3)
        produce_transactions(settings, after)
        decided = _decide(settings, after)
    assert {d.model_version for d in decided.values() if not d.cold_start} == {f"{name}/2"}
    served, _ = scorer.handler.pipeline.models.champion
    assert served.family == "lightgbm"
