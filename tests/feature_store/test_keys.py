"""Dedup keys follow the reply layout their records hold.

A dedup record keeps a transaction's first reply and hands it back on
redelivery. A release whose replies are laid out otherwise (a window added, a
state's parameters changed) must not read an older release's records: their
width no longer decodes, and every redelivered transaction would stop the
consumer. So the dedup key's suffix is derived from the layout.
"""

from __future__ import annotations

from dataclasses import replace

from feature_store.definitions import LABEL_STATES, TRANSACTION_STATES, Window
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


def test_dedup_keys_carry_the_transaction_in_their_hash_tag() -> None:
    key = dedup_key("fs1", "T-991")
    assert key.startswith("fs1:{tx:T-991}:seen")
    assert label_dedup_key("fs1", "T-991", True).startswith("fs1:{tx:T-991}:label1")
    assert label_dedup_key("fs1", "T-991", False) != label_dedup_key("fs1", "T-991", True)
