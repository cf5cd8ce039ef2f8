"""Fixtures of the rule engine's tests: the real vocabulary and small builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from feature_store.derive import FEATURE_NAMES
from rules.expression import Vocabulary, compile_expression
from rules.schema import rule_vocabulary

VOCABULARY = rule_vocabulary(FEATURE_NAMES)


@pytest.fixture(scope="session")
def vocabulary() -> Vocabulary:
    return VOCABULARY


def evaluate(text: str, context: Mapping[str, Any] | None = None, lists: Any = None) -> Any:
    """Compile ``text`` against the real vocabulary and evaluate it once."""
    compiled = compile_expression(text, VOCABULARY, lists=None)
    return compiled.evaluate(context or {}, lists or {})


def rule_file(tmp_path: Path, rules: list[dict[str, Any]], **top: Any) -> Path:
    """Write a rule set YAML file and return its path."""
    document: dict[str, Any] = {"version": "t-1", "lists": {"blocked_countries": ["KP"]}}
    document.update(top)
    document["rules"] = rules
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def rule(rule_id: str, when: str, action: str = "flag", **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "when": when, "action": action, "reason": f"R_{rule_id.upper()}"} | extra


@pytest.fixture
def write_rules(tmp_path: Path) -> Callable[..., Path]:
    def write(rules: list[dict[str, Any]], **top: Any) -> Path:
        return rule_file(tmp_path, rules, **top)

    return write
