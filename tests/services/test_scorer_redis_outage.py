"""Redis goes down mid-stream and comes back: the two degraded policies do what they promise.

``retry``: nothing is decided without features; the stream waits, nothing is lost.
``rules-only``: decisions marked ``degraded`` go out during the outage, and the
transactions they decided are counted into the windows once Redis is back.

These tests run on a private redis-server (``PrivateRedis``): the session's is shared.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from contracts.events import Decision, Transaction
from contracts.settings import Settings
from services.kafka.reader import read_topic
from services.scoring.pipeline import DEGRADED_REASON
from services.scoring.wiring import ScorerConfig
from tests.services.scoring.helpers import (
    PrivateRedis,
    ScorerThread,
    card_payments,
    decisions_by_tx,
    history_gaps,
    produce_transactions,
    read_decisions,
    read_until_decided,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow

CARDS, PER_CARD = 10, 30
PHASE = CARDS * PER_CARD // 3  # before the outage, during it, after it


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with PrivateRedis(tmp_path / "redis") as redis:
        yield redis


@pytest.fixture
def outage_settings(scorer_settings: Settings, private_redis: PrivateRedis) -> Settings:
    redis = scorer_settings.redis.model_copy(update={"url": private_redis.url})
    return scorer_settings.model_copy(update={"redis": redis})


def _decide_by_rules_while_redis_is_down(
    settings: Settings,
    private_redis: PrivateRedis,
    scorer: ScorerThread,
    before: list[Transaction],
    during: list[Transaction],
) -> None:
    """``before`` decided with features; Redis killed; ``during`` decided by the rules."""
    produce_transactions(settings, before)
    assert len(read_decisions(settings, len(before))) == len(before)
    private_redis.kill()
    produce_transactions(settings, during)
    assert len(read_decisions(settings, len(before) + len(during))) == len(before) + len(during)
    assert len(scorer.handler.backlog) == len(during)


def _wait_for_retries(scorer: ScorerThread, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while scorer.loop.stats.retries < at_least:
        assert time.monotonic() < deadline, "the scorer never retried"
        time.sleep(0.05)


def test_retry_policy_decides_nothing_without_features_and_loses_nothing(
    outage_settings: Settings, private_redis: PrivateRedis
) -> None:
    settings = outage_settings
    stream = card_payments(CARDS, PER_CARD)
    before, during, after = stream[:PHASE], stream[PHASE : 2 * PHASE], stream[2 * PHASE :]
    config = ScorerConfig(group_id="outage-retry", degraded="retry")
    with ScorerThread(settings, config) as scorer:
        produce_transactions(settings, before)
        assert len(read_decisions(settings, len(before))) == len(before)

        private_redis.kill()
        produce_transactions(settings, during)
        _wait_for_retries(scorer, 3)
        # The batch is held: not one decision for the transactions of the outage.
        decided = read_topic(settings.kafka, settings.kafka.topics.decisions, idle_ms=500)
        assert len(decided) == len(before)

        private_redis.start()
        produce_transactions(settings, after)
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream])
    assert scorer.loop.stats.retries >= 3

    by_tx = decisions_by_tx(decisions)
    assert set(by_tx) == {tx.tx_id for tx in stream}, "nothing lost"
    assert all(len(found) == 1 for found in by_tx.values())
    assert not any(d.degraded for d in decisions)
    assert all(len(d.features) > 0 and d.model_version != "none" for d in decisions)
    assert not history_gaps(decisions, stream), "each transaction counted once"


def test_rules_only_policy_decides_during_the_outage_and_counts_it_afterwards(
    outage_settings: Settings, private_redis: PrivateRedis
) -> None:
    settings = outage_settings
    # One of the outage's payments comes from a blocked country: the rules still block it.
    stream = card_payments(CARDS, PER_CARD)
    before, during, after = stream[:PHASE], stream[PHASE : 2 * PHASE], stream[2 * PHASE :]
    during[3] = msgspec.structs.replace(during[3], country="KP")
    stream = before + during + after
    config = ScorerConfig(group_id="outage-rules", degraded="rules-only")
    with ScorerThread(settings, config) as scorer:
        produce_transactions(settings, before)
        assert len(read_decisions(settings, len(before))) == len(before)

        private_redis.kill()
        produce_transactions(settings, during)
        in_outage = read_decisions(settings, len(before) + len(during))
        assert len(in_outage) == len(before) + len(during), "decided while Redis is down"
        assert len(scorer.handler.backlog) == len(during)

        private_redis.start()
        produce_transactions(settings, after)
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream])
    assert not scorer.handler.backlog, "the outage's transactions were counted"

    by_tx = decisions_by_tx(decisions)
    assert set(by_tx) == {tx.tx_id for tx in stream}
    assert all(len(found) == 1 for found in by_tx.values())
    degraded = {tx.tx_id for tx in during}
    for tx_id, (decision,) in by_tx.items():
        assert decision.degraded == (tx_id in degraded), decision
        if decision.degraded:
            _check_degraded(decision)
    blocked = by_tx[during[3].tx_id][0]
    assert blocked.action == "block" and "R_BLOCKED_COUNTRY" in blocked.reasons
    # Windows after the outage count the outage's transactions, once each.
    scored = [d for d in decisions if not d.degraded]
    assert not history_gaps(scored, stream)


def test_rules_only_backlog_is_counted_as_soon_as_redis_answers_with_no_new_batch(
    outage_settings: Settings, private_redis: PrivateRedis
) -> None:
    """A quiet stream after the outage: the backlog is counted without waiting for
    the next transaction (before, it waited for one, or for ever if the scorer
    was stopped first)."""
    settings = outage_settings
    stream = card_payments(CARDS, PER_CARD)
    before, during, after = stream[:PHASE], stream[PHASE : 2 * PHASE], stream[2 * PHASE :]
    config = ScorerConfig(group_id="outage-quiet", degraded="rules-only")
    with ScorerThread(settings, config) as scorer:
        _decide_by_rules_while_redis_is_down(settings, private_redis, scorer, before, during)

        private_redis.start()
        deadline = time.monotonic() + 15
        while scorer.handler.backlog:
            assert time.monotonic() < deadline, "the backlog waited for a new batch"
            time.sleep(0.1)
        processed = scorer.loop.stats.messages
        assert processed == len(before) + len(during)  # no batch came meanwhile

        produce_transactions(settings, after)
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream])
    scored = [d for d in decisions if not d.degraded]
    assert len(scored) == len(before) + len(after)
    assert not history_gaps(scored, stream), "the outage's transactions counted, once each"


def test_a_scorer_stopped_during_the_outage_names_what_it_could_not_count(
    outage_settings: Settings, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    settings = outage_settings
    stream = card_payments(CARDS, PER_CARD)
    before, during = stream[:PHASE], stream[PHASE : 2 * PHASE]
    config = ScorerConfig(group_id="outage-stop", degraded="rules-only")
    with caplog.at_level("ERROR", logger="services.scoring.service"):
        with ScorerThread(settings, config) as scorer:
            _decide_by_rules_while_redis_is_down(settings, private_redis, scorer, before, during)
    (error,) = [r.getMessage() for r in caplog.records if "never counted" in r.getMessage()]
    assert error.startswith(f"stopping with {len(during)} transaction(s)")
    shown = error.partition("the first: ")[2].split(", ")
    assert len(shown) == 10 and set(shown) <= {tx.tx_id for tx in during}


def _check_degraded(decision: Decision) -> None:
    assert DEGRADED_REASON in decision.reasons
    assert decision.model_version == "none"
    assert decision.features == {}
    assert decision.rule_set_version.startswith("2026.11-1+")  # declared version + content hash
