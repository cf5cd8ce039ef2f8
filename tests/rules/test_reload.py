"""Reloading a changed rule file without a restart; a bad file never replaces a good one."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rules.exceptions import RuleSetError
from rules.reload import RuleSetHolder
from tests.rules.conftest import VOCABULARY, rule, rule_file

Write = Callable[..., Path]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_invalid_file_keeps_the_old_set_and_a_valid_one_switches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    original = holder.current
    assert holder.maybe_reload() is False  # unchanged

    path.write_text(path.read_text().replace("amount > 100", "amount >"))
    with caplog.at_level(logging.ERROR, logger="rules.reload"):
        assert holder.maybe_reload() is False
    assert holder.current is original
    assert isinstance(holder.last_error, RuleSetError)
    assert "rule 'big': when, line 1, column 9" in str(holder.last_error)
    assert "keeping version " + original.version in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="rules.reload"):
        assert holder.maybe_reload() is False  # the same bad content is logged once
    assert caplog.text == ""

    rule_file(tmp_path, [rule("big", "amount > 500")], version="t-2")
    assert holder.maybe_reload() is True
    assert holder.current.version.startswith("t-2+")
    assert holder.last_error is None
    assert holder.current.evaluate({"amount": 200.0}).action is None
    assert original.evaluate({"amount": 200.0}).action == "flag"  # the old object is intact


def test_checks_are_throttled_by_the_interval(tmp_path: Path) -> None:
    clock = Clock()
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=2.0, settle_s=0, clock=clock)
    rule_file(tmp_path, [rule("big", "amount > 200")])
    clock.now = 1.9
    assert holder.maybe_reload() is False
    assert holder.current.evaluate({"amount": 150.0}).action == "flag"
    clock.now = 2.0
    assert holder.maybe_reload() is True
    assert holder.current.evaluate({"amount": 150.0}).action is None


def test_a_missing_file_keeps_the_set(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    version = holder.current.version
    path.unlink()
    assert holder.reload() is False
    assert holder.current.version == version
    assert holder.last_error is not None and "cannot read" in str(holder.last_error)


def test_comment_only_edit_is_not_a_new_version(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    before = holder.current
    path.write_text("# reviewed by the risk team\n" + path.read_text())
    assert holder.reload() is False
    assert holder.current is before


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount >>> 100")])
    with pytest.raises(RuleSetError, match="rule 'big'"):
        RuleSetHolder(path, VOCABULARY)


def test_not_utf8_is_rejected_and_kept_out(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    path.write_bytes(b"version: '\xff'\n")
    assert holder.reload() is False
    assert holder.last_error is not None and "not UTF-8" in str(holder.last_error)


def test_a_file_modified_just_now_is_read_once_it_has_settled(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=30)
    # Written in place, half-way: a valid prefix (one rule of two) must not go live.
    rule_file(tmp_path, [rule("big", "amount > 500")], version="t-2")
    assert holder.reload() is False
    assert holder.current.evaluate({"amount": 200.0}).action == "flag"
    settled = time.time() - 31
    os.utime(path, (settled, settled))
    assert holder.reload() is True
    assert holder.current.evaluate({"amount": 200.0}).action is None


def test_an_error_outlives_a_passing_read_failure_of_the_same_bad_file(tmp_path: Path) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    good = path.read_text()
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    bad = good.replace("amount > 100", "amount >")
    path.write_text(bad)
    assert holder.reload() is False and "column 9" in str(holder.last_error)
    path.unlink()
    assert holder.reload() is False and "cannot read" in str(holder.last_error)
    path.write_text(bad)
    assert holder.reload() is False and "column 9" in str(holder.last_error)
    path.write_text(good)
    assert holder.reload() is False  # the active set's own content: nothing to swap
    assert holder.last_error is None


def test_an_unforeseen_failure_keeps_the_rules_and_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = rule_file(tmp_path, [rule("big", "amount > 100")])
    holder = RuleSetHolder(path, VOCABULARY, check_interval_s=0, settle_s=0)
    before = holder.current
    rule_file(tmp_path, [rule("big", "amount > 500")], version="t-2")

    def broken(data: bytes) -> None:
        raise MemoryError("a bug, not the file")

    monkeypatch.setattr(holder, "_parse", broken)
    with caplog.at_level(logging.ERROR, logger="rules.reload"):
        assert holder.reload() is False
    assert holder.current is before
    assert "reload failed; keeping version" in caplog.text
