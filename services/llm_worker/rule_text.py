"""Reason codes in plain words, from the rule set the scorer runs (``rules`` is a sibling of
``models``, so the worker, not ``models.llm``, reads it)."""

from __future__ import annotations

import re
from pathlib import Path

from feature_store import FEATURE_NAMES
from rules import RuleSetHolder, rule_vocabulary

__all__ = ["rule_descriptions", "short_description"]

#: A description longer than this is cut at a clause boundary (prompts stay short).
_MAX_CHARS = 100


def rule_descriptions(rules_path: Path) -> dict[str, str]:
    """``reason code -> short description`` for every rule of the file at ``rules_path``."""
    holder = RuleSetHolder(rules_path, rule_vocabulary(FEATURE_NAMES), check_interval_s=3600)
    return {
        compiled.rule.reason: short_description(compiled.rule.description, compiled.rule.reason)
        for compiled in holder.current.rules
    }


def short_description(description: str, reason: str) -> str:
    """The first clause of ``description``, starting lower-case, without a final stop."""
    text = " ".join(description.split())
    if not text:
        return reason[2:].lower().replace("_", " ")
    text = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    text = re.sub(r"\s*\([^)]*\)", "", text)
    if ": " in text[:40]:
        text = text.split(": ", 1)[1]
    if len(text) > _MAX_CHARS:
        text = text[:_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;")
    # "IP address ..." keeps its capitals; "Payment made ..." does not.
    return text if text[1:2].isupper() else text[0].lower() + text[1:]
