"""A backlog: the scorer sends the next batch's features before it finishes the current one,
and produces a batch's decisions after the next batch is scored.

The look-ahead must change nothing that the stream can see: every transaction
decided once, each card's windows counted in order with no gap or repeat, each
card's decisions produced in order, and the group's committed offsets at the
end of every partition.
"""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from contracts.settings import Settings
from services.kafka.clients import make_consumer
from services.scoring.wiring import ScorerConfig
from tests.services.scoring.helpers import (
    ScorerThread,
    card_payments,
    decisions_by_tx,
    history_gaps,
    produce_transactions,
    read_until_decided,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow


def test_a_backlog_is_scored_with_features_sent_ahead_and_nothing_changes(
    scorer_settings: Settings,
) -> None:
    settings = scorer_settings
    stream = card_payments(60, 40)  # 2,400 transactions waiting before the scorer starts
    produce_transactions(settings, stream)
    config = ScorerConfig(group_id="backlog", max_batch=128, in_flight=3)
    with ScorerThread(settings, config) as scorer:
        decisions = read_until_decided(settings, [tx.tx_id for tx in stream])
    by_tx = decisions_by_tx(decisions)
    assert {tx.tx_id for tx in stream} <= set(by_tx)
    assert all(len(found) == 1 for found in by_tx.values()), "a transaction decided twice"
    assert not history_gaps([found[0] for found in by_tx.values()], stream)
    assert scorer.handler.prefetched > 0, "no batch was scored with features sent ahead"
    assert scorer.stats is not None and scorer.stats.finished_late > 0, (
        "no batch produced its decisions after the next one was scored"
    )
    # Produced in order: each card's decisions (one partition) come in its event order.
    produced: dict[str, list[str]] = {}
    for decision in decisions:
        produced.setdefault(decision.card_id, []).append(decision.tx_id)
    expected: dict[str, list[str]] = {}
    for tx in sorted(stream, key=lambda t: t.event_time_ms):
        expected.setdefault(tx.card_id, []).append(tx.tx_id)
    assert produced == expected

    # Everything decided was committed (on close at the latest): a restart starts at the end.
    consumer = make_consumer(settings.kafka, "backlog")
    try:
        partitions = consumer.list_topics(settings.kafka.topics.transactions, timeout=10)
        topic = partitions.topics[settings.kafka.topics.transactions]
        wanted = [TopicPartition(topic.topic, p) for p in topic.partitions]
        committed = consumer.committed(wanted, timeout=10)
    finally:
        consumer.close()
    assert sum(tp.offset for tp in committed) == len(stream)
