"""Crashes and scale-out: SIGKILL mid-stream, a replay from the beginning, two scorers in a group.

What must hold whatever happens: every transaction gets a decision; every
decision for one transaction is the same decision (a redelivery re-emits the
first one byte for byte); every transaction is counted once in the windows
(the served ``card_history_count`` of each card goes 0, 1, 2, ... with no
repeat and no gap).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from contracts.events import Decision, Transaction
from contracts.settings import Settings
from feature_store import FEATURE_NAMES
from feature_store.engine import FeatureEngine
from services.scoring.wiring import ScorerConfig
from services.stream.wiring import redis_store
from tests.services.scoring.helpers import (
    MINUTE,
    PacedProducer,
    ScorerThread,
    card_payments,
    decisions_by_tx,
    history_gaps,
    produce_transactions,
    read_decisions,
    read_until_decided,
    start_scorer_process,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow


def _check_invariants(
    decisions: list[Decision], stream: list[Transaction]
) -> dict[str, list[Decision]]:
    by_tx = decisions_by_tx(decisions)
    missing = {tx.tx_id for tx in stream} - set(by_tx)
    assert not missing, f"{len(missing)} transactions without a decision"
    differing = [tx_id for tx_id, found in by_tx.items() if any(d != found[0] for d in found)]
    assert not differing, f"redelivered decisions differ: {by_tx[differing[0]]}"
    firsts = [found[0] for found in by_tx.values()]
    gaps = history_gaps(firsts, stream)
    assert not gaps, f"windows counted a transaction twice or not at all: {gaps}"
    return by_tx


def _history_count(settings: Settings, card_id: str, at_ms: int) -> float:
    """What the windows hold for ``card_id``: a probe transaction reads it from Redis."""
    probe = card_payments(1, 1, start_ms=at_ms, tag=f"probe-{at_ms}", card_id=card_id)
    store = redis_store(settings)
    try:
        (row,) = FeatureEngine(store).process(probe)
    finally:
        store.close()
    return row.values[FEATURE_NAMES.index("card_history_count")]


def test_sigkill_mid_stream_then_restart_decides_everything_once(
    scorer_settings: Settings, tmp_path: Path
) -> None:
    settings = scorer_settings
    cards, per_card = 40, 50
    stream = card_payments(cards, per_card)
    log = tmp_path / "scorer.log"
    # --idle-exit only as a safety net: the test ends both processes itself.
    args = ("--group-id", "crash", "--idle-exit", "60")

    head, middle, tail = stream[:200], stream[200:1000], stream[1000:]
    produce_transactions(settings, head)
    first = start_scorer_process(settings, log, *args)
    try:
        # The first scorer is up and deciding; more of the stream arrives live ...
        assert len(read_decisions(settings, len(head), timeout_s=90)) >= len(head), log.read_text()
        live = PacedProducer(settings, middle, per_second=300).start()
        read_decisions(settings, len(head) + 200, timeout_s=60)
        # ... and it dies the hard way while that goes on.
        first.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
        live.join()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)

    # The stream goes on while no scorer runs; a new one takes over the group.
    produce_transactions(settings, tail)
    second = start_scorer_process(settings, log, *args)
    try:
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream], timeout_s=120)
        second.send_signal(signal.SIGTERM)  # a graceful stop: finish the batch, commit, exit
        assert second.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(30)

    by_tx = _check_invariants(decisions, stream)
    assert len(by_tx) == len(stream)
    end = stream[-1].event_time_ms + MINUTE
    assert _history_count(settings, "card-7", end) == per_card

    # Replaying the whole topic (a new group reads it from the start) is the extreme
    # redelivery: every decision comes out again, identical, and nothing is counted twice.
    with ScorerThread(settings, ScorerConfig(group_id="replay")) as replay:
        again = read_decisions(settings, len(decisions) + len(stream), timeout_s=90)
    assert replay.handler.emitted == len(stream)
    by_tx = _check_invariants(again, stream)
    assert all(len(found) >= 2 for found in by_tx.values())
    assert _history_count(settings, "card-7", end + MINUTE) == per_card + 1  # + the first probe


def test_two_scorers_in_one_group_share_the_partitions(scorer_settings: Settings) -> None:
    settings = scorer_settings
    stream = card_payments(40, 40)
    config = ScorerConfig(group_id="pair")
    with ScorerThread(settings, config) as one, ScorerThread(settings, config) as two:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assigned = [one.partitions(), two.partitions()]
            if all(assigned) and len(assigned[0] | assigned[1]) == settings.kafka.partitions:
                break
            time.sleep(0.2)
        assert all(assigned), f"both members hold partitions: {assigned}"
        assert not assigned[0] & assigned[1], "no partition is held twice"
        produce_transactions(settings, stream)
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream])
    assert one.handler.emitted > 0 and two.handler.emitted > 0
    assert one.handler.emitted + two.handler.emitted >= len(stream)
    by_tx = _check_invariants(decisions, stream)
    assert len(by_tx) == len(stream)
