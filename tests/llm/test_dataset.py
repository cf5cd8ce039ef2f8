"""The training data: reproducible from a seed, real flagged cases, balanced messages."""

from __future__ import annotations

import random
from collections import Counter

from contracts.events import MESSAGE_LABELS
from models.llm.prompts import sanitise_customer_text
from models.llm.signals import RISK_SIGNALS
from services.llm_worker.dataset import (
    build_datasets,
    build_messages,
    read_records,
    write_records,
)
from services.llm_worker.rule_text import rule_descriptions, short_description
from services.scoring.wiring import DEFAULT_RULES
from tests.llm.conftest import SMALL_DATA


def test_the_same_seed_builds_the_same_records(llm_data):
    again = build_datasets(SMALL_DATA, rule_descriptions(DEFAULT_RULES))
    assert again == llm_data


def test_explain_cases_are_real_flagged_decisions(llm_data):
    cases = llm_data.explain_train + llm_data.explain_test
    assert len(llm_data.explain_train) == SMALL_DATA.explain_train
    assert len(llm_data.explain_test) == SMALL_DATA.explain_test
    assert {c.action for c in cases} <= {"flag", "block"}
    assert len({c.tx_id for c in cases}) == len(cases)
    with_factors = [c for c in cases if c.factors]
    assert with_factors, "SHAP factors come with the cases"
    assert any(c.rules for c in cases), "some cases carry rule hits"


def test_messages_are_balanced_and_labelled_with_known_signals():
    examples = build_messages(random.Random(1), 10, injection_rate=0.3)
    assert Counter(e.label for e in examples) == dict.fromkeys(MESSAGE_LABELS, 10)
    assert all(set(e.signals) <= set(RISK_SIGNALS) for e in examples)
    assert any(e.injected for e in examples)
    assert build_messages(random.Random(1), 10, injection_rate=0.3) == examples


def test_injected_messages_keep_their_true_label():
    examples = build_messages(random.Random(2), 40, injection_rate=1.0)
    assert all(e.injected for e in examples)
    assert Counter(e.label for e in examples) == dict.fromkeys(MESSAGE_LABELS, 40)
    caught = [e for e in examples if sanitise_customer_text(e.text).removed_instructions]
    assert 0 < len(caught) < len(examples), "both caught and uncaught phrasings are present"


def test_records_round_trip_through_json_lines(llm_data, tmp_path):
    write_records(tmp_path / "cases.jsonl", llm_data.explain_test)
    write_records(tmp_path / "messages.jsonl", llm_data.analyse_test)
    assert read_records(tmp_path / "cases.jsonl", type(llm_data.explain_test[0])) == (
        llm_data.explain_test
    )
    assert read_records(tmp_path / "messages.jsonl", type(llm_data.analyse_test[0])) == (
        llm_data.analyse_test
    )


def test_rule_descriptions_are_short_clauses():
    descriptions = rule_descriptions(DEFAULT_RULES)
    assert descriptions["R_NEW_DEVICE_HIGH_AMOUNT"] == (
        "a large payment from a device this card has never used"
    )
    assert descriptions["R_BLOCKED_IP"].startswith("IP address")
    assert all(len(d) <= 100 and "(" not in d for d in descriptions.values())
    assert short_description("", "R_SOME_RULE") == "some rule"
