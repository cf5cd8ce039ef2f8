"""Dedup keys follow the reply layout their records hold.

A dedup record keeps a transaction's first reply and hands it back on
redelivery. A release whose replies are laid out otherwise (a window added, a
state's parameters changed) must not read an older release's records: their
width no longer decodes, and every redelivered transaction would stop the
consumer. So the dedup key's suffix is derived from the layout.
"""

from __future__ import annotations

from dataclasses import replace

from feature_store.definitions import LABEL_STATES, TRANSACTION_STATES, DistinctSet, Window
from feature_store.online import keys
from feature_store.online.keys import dedup_key, label_dedup_key, reply_layout


def _changed_window() -> tuple[object, ...]:
    at = next(i for i, s in enumerate(TRANSACTION_STATES) if isinstance(s, Window))
    window = TRANSACTION_STATES[at]
    assert isinstance(window, Window)
    wider = replace(window, windows=(*window.windows, window.windows[-1] * 2))
    return (*TRANSACTION_STATES[:at], wider, *TRANSACTION_STATES[at + 1 :])


def test_the_reply_layout_changes_with_any_state_that_shapes_the_reply() -> None:
    current = reply_layout(TRANSACTION_STATES, LABEL_STATES)
    assert reply_layout(TRANSACTION_STATES, LABEL_STATES) == current  # stable
    assert reply_layout(_changed_window(), LABEL_STATES) != current  # type: ignore[arg-type]
    assert reply_layout(TRANSACTION_STATES[:-1], LABEL_STATES) != current
    assert reply_layout(TRANSACTION_STATES[::-1], LABEL_STATES) != current
    assert reply_layout(TRANSACTION_STATES, ()) != current  # the label windows it reads
    # Updating the label states is another reply than reading them.
    assert reply_layout(LABEL_STATES) != reply_layout((), LABEL_STATES)


def test_a_named_layout_keeps_its_suffix_and_any_other_gets_its_own() -> None:
    named = {"abc123": ":seen3"}
    assert keys._dedup_suffix("abc123", named, ":seen") == ":seen3"
    assert keys._dedup_suffix("d0d0d0", named, ":seen") == ":seen-d0d0d0"


def test_a_distinct_sets_look_backs_change_the_layout() -> None:
    """They set the reply's width, yet its state_suffix leaves them out."""
    at = next(i for i, s in enumerate(TRANSACTION_STATES) if isinstance(s, DistinctSet))
    distinct = TRANSACTION_STATES[at]
    assert isinstance(distinct, DistinctSet)
    longer = replace(distinct, windows_ms=(*distinct.windows_ms, distinct.windows_ms[-1] * 2))
    changed = (*TRANSACTION_STATES[:at], longer, *TRANSACTION_STATES[at + 1 :])
    assert reply_layout(changed, LABEL_STATES) != reply_layout(TRANSACTION_STATES, LABEL_STATES)


def test_todays_definitions_keep_the_keys_they_had() -> None:
    """Upgrading to the derived suffixes changed no key: records written before are
    read after, so a redelivery across the upgrade still counts once. (A change to
    the definitions fails this on purpose: it does need new keys; name them here.)"""
    assert dedup_key("fs1", "T-991") == "fs1:{tx:T-991}:seen3"
    # A label's record holds when it was counted too ("<ms>:<reply>"), so not ".2".
    assert label_dedup_key("fs1", "T-991", True) == "fs1:{tx:T-991}:label1.v-9bb064"
    assert label_dedup_key("fs1", "T-991", False) == "fs1:{tx:T-991}:label0.v-9bb064"
