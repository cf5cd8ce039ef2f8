"""A simulated run through the real scorer: each fraud scenario is caught, for sensible reasons.

One stream (seeded, ~6,000 transactions, six fraud scenarios) goes through
the scorer on the real broker and Redis; the simulator's ground truth says
which transactions were fraud and of which scenario. The same run checks what
every decision carries and that flagged/blocked ones reach the ``cases`` topic.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import numpy as np
import pytest

from contracts.codec import decode_as
from contracts.events import Decision
from contracts.settings import Settings, TopicNames
from feature_store import FEATURE_NAMES
from services.kafka.admin import delete_topics, ensure_topics
from services.kafka.reader import read_topic
from services.scoring.service import ScorerHandler
from services.scoring.wiring import ScorerConfig, build_scorer
from services.simulator import SCENARIOS, SimulatedEvent, SimulatorConfig
from tests.services.scoring.helpers import (
    decisions_by_tx,
    produce_transactions,
    read_decisions,
    simulated_transactions,
)

#: The scorer fixtures (a plugin, so the session-scoped models are trained once).
pytest_plugins = ["tests.services.scorer_fixtures"]

pytestmark = pytest.mark.slow

#: A different seed and population from the training history: unseen cards, unseen fraud.
RUN = SimulatorConfig(seed=11, customers=600, days=10, fraud_rate=0.03)

#: Reason codes that explain each scenario: its rule(s) and the features that carry its
#: signature (see services/simulator/scenarios/). A caught fraud transaction should carry
#: at least one of them.
SIGNATURES: dict[str, set[str]] = {
    "card_testing": {"R_CARD_TESTING", "R_CARD_TESTING_BURST", "F_ip_count_1h", "F_ip_cards_1h",
                     "F_device_cards_1h", "F_card_count_10m"},
    "impossible_travel": {"R_IMPOSSIBLE_TRAVEL", "F_card_speed_kmh", "F_card_km_from_prev",
                          "F_card_seconds_since_prev"},
    "proxy_ip": {"R_PROXY_IP_MANY_CARDS", "F_ip_count_1h", "F_ip_cards_1h", "F_ip_count_24h",
                 "F_ip_cards_24h"},
    "account_takeover": {"R_NEW_DEVICE_HIGH_AMOUNT", "R_NEW_PAYEE_LARGE_TRANSFER",
                         "F_card_new_device", "F_card_new_ip", "F_customer_new_payee",
                         "F_ip_count_1h", "F_card_km_from_prev", "F_card_sum_1h",
                         "F_customer_sum_1h", "F_amount"},
    "app_scam": {"R_NEW_PAYEE_LARGE_TRANSFER", "R_NEW_DEVICE_HIGH_AMOUNT", "F_customer_new_payee",
                 "F_amount", "F_amount_to_card_max_30d", "F_amount_to_card_mean_30d",
                 "F_card_sum_1h", "F_card_sum_24h", "F_customer_sum_1h", "F_customer_sum_24h"},
    "compromised_terminal": {"R_IMPOSSIBLE_TRAVEL", "F_card_km_from_prev", "F_card_speed_kmh",
                             "F_card_seconds_since_prev", "F_merchant_count_24h",
                             "F_merchant_cards_24h", "F_card_new_country", "F_card_sum_1h"},
    # Never-used cards: the device and IP give the enumeration away, not the card's history.
    "bin_attack": {"R_CARD_TESTING", "R_CARD_TESTING_BURST", "R_PROXY_IP_MANY_CARDS",
                   "F_ip_count_1h", "F_ip_cards_1h", "F_device_cards_1h", "S_COLD_START_FLAG",
                   "S_COLD_START_BLOCK"},
    "new_account_fraud": {"R_NEW_PAYEE_LARGE_TRANSFER", "R_NEW_DEVICE_HIGH_AMOUNT",
                          "F_account_age_days", "F_customer_new_payee", "F_amount",
                          "F_card_sum_1h", "S_COLD_START_FLAG", "S_COLD_START_BLOCK"},
}  # fmt: skip
#: The scenario's own rule must decide some of its caught transactions by itself.
OWN_RULES: dict[str, set[str]] = {
    "card_testing": {"R_CARD_TESTING", "R_CARD_TESTING_BURST"},
    "impossible_travel": {"R_IMPOSSIBLE_TRAVEL"},
    "proxy_ip": {"R_PROXY_IP_MANY_CARDS"},
    "bin_attack": {"R_CARD_TESTING", "R_CARD_TESTING_BURST"},
}
STAGES = {"features", "model", "rules", "explain", "total"}


@pytest.fixture
def one_partition(scorer_settings: Settings) -> Iterator[Settings]:
    """The test's topics with one partition each.

    A live stream is consumed in (nearly) event-time order across cards; a
    back-logged topic with four partitions would be read one partition's
    hour after another's, which scrambles the device / IP windows that span
    cards. One partition keeps the order the payment system produced.
    """
    names = scorer_settings.kafka.topics.model_dump()
    topics = TopicNames(**{field: f"{name}-p1" for field, name in names.items()})
    kafka = scorer_settings.kafka.model_copy(update={"partitions": 1, "topics": topics})
    ensure_topics(kafka)
    yield scorer_settings.model_copy(update={"kafka": kafka})
    delete_topics(kafka, topics.all())


def test_each_scenario_is_caught_with_its_reasons_and_decisions_are_complete(
    one_partition: Settings,
) -> None:
    settings = one_partition
    stream = simulated_transactions(RUN)
    truth = {item.event.tx_id: item for item in stream}
    produce_transactions(settings, [item.event for item in stream])

    loop, handler = build_scorer(settings, ScorerConfig(group_id="scenarios"))
    stats = loop.run(max_messages=len(stream), idle_exit_s=30)
    assert stats.messages == len(stream)
    assert stats.dead_letters == 0
    assert handler.emitted == len(stream)

    by_tx = decisions_by_tx(read_decisions(settings, len(stream)))
    assert set(by_tx) == set(truth), "every transaction gets a decision"
    assert all(len(d) == 1 for d in by_tx.values()), "one decision each (nothing redelivered)"
    decisions = {tx_id: found[0] for tx_id, found in by_tx.items()}

    _check_scenarios(truth, decisions)
    _check_decision_records(settings, handler, truth, decisions)
    cases = [
        decode_as(r.value, Decision)
        for r in read_topic(settings.kafka, settings.kafka.topics.cases, idle_ms=700)
    ]
    _check_cases(cases, decisions)


def _check_scenarios(truth: dict[str, SimulatedEvent], decisions: dict[str, Decision]) -> None:
    """Per scenario: most fraud is flagged or blocked, for reasons that name its signature."""
    caught: dict[str, list[Decision]] = collections.defaultdict(list)
    totals: collections.Counter[str] = collections.Counter()
    for tx_id, item in truth.items():
        if item.is_fraud:
            assert item.scenario is not None
            totals[item.scenario] += 1
            if decisions[tx_id].action != "allow":
                caught[item.scenario].append(decisions[tx_id])
    assert set(SIGNATURES) == set(SCENARIOS), "a new scenario needs its signature here"
    assert set(totals) == set(SCENARIOS), f"every scenario appears in the run: {totals}"
    summary = {s: (len(caught[s]), totals[s], _reason_counts(caught[s])) for s in totals}
    for scenario, total in totals.items():
        found = caught[scenario]
        assert total >= 10, f"{scenario}: too few fraud transactions to judge ({total})"
        assert len(found) >= 0.6 * total, f"{scenario}: caught {len(found)}/{total}; {summary}"
        explained = [d for d in found if SIGNATURES[scenario] & set(d.reasons)]
        assert len(explained) >= 0.6 * len(found), (
            f"{scenario}: {len(explained)}/{len(found)} caught carry a reason of its "
            f"signature {sorted(SIGNATURES[scenario])}; {summary[scenario]}"
        )
        own = OWN_RULES.get(scenario)
        if own:
            by_rule = [d for d in found if own & set(d.reasons)]
            assert len(by_rule) >= 0.25 * len(found), f"{scenario}: {summary[scenario]}"
    legit = [decisions[t] for t, item in truth.items() if not item.is_fraud]
    flagged_legit = sum(d.action != "allow" for d in legit)
    assert flagged_legit <= 0.03 * len(legit), f"{flagged_legit}/{len(legit)} legit flagged"


def _check_decision_records(
    settings: Settings,
    handler: ScorerHandler,
    truth: dict[str, SimulatedEvent],
    decisions: dict[str, Decision],
) -> None:
    """Action, score, versions, the served vector (it gives the score back), stage timings."""
    champion, _ = handler.pipeline.models.champion
    cold = handler.pipeline.models.cold_start
    assert cold is not None
    rule_set = handler.pipeline.rules.current.version
    for decision in decisions.values():
        assert decision.action in ("allow", "flag", "block")
        assert decision.rule_set_version == rule_set
        model = cold[0] if decision.cold_start else champion
        assert decision.model_version == f"{model.name}/{model.version}"
        assert list(decision.features) == list(FEATURE_NAMES)
        assert decision.features["amount"] == truth[decision.tx_id].event.amount
        assert STAGES <= set(decision.timings_ms)
        assert all(ms >= 0.0 for ms in decision.timings_ms.values())
        assert decision.timings_ms["total"] >= decision.timings_ms["features"]
        assert not decision.degraded
        if decision.action != "allow":
            assert decision.reasons, decision
    assert champion.name == settings.mlflow.registered_model
    assert cold[0].name == settings.mlflow.cold_start_model
    assert any(d.cold_start for d in decisions.values()), "new cards meet the cold-start model"
    # The vector as served is the one the model scored: scoring it again gives the score.
    for model, is_cold in ((champion, False), (cold[0], True)):
        rows = [d for d in decisions.values() if d.cold_start == is_cold]
        matrix = np.array(
            [[np.nan if d.features[f] is None else d.features[f] for f in model.feature_names]
             for d in rows],
            dtype=np.float32,
        )  # fmt: skip
        again = model.predict(matrix)
        assert [d.score for d in rows] == pytest.approx(np.clip(again, 0, 1).tolist(), abs=1e-6)


def _check_cases(cases: list[Decision], decisions: dict[str, Decision]) -> None:
    """Flagged/blocked ones, and only those, are cases; warm ones with their top SHAP features."""
    not_allowed = {t for t, d in decisions.items() if d.action != "allow"}
    assert {c.tx_id for c in cases} == not_allowed
    assert len(cases) == len(not_allowed)
    for case in cases:
        assert case == decisions[case.tx_id], "the case is the decision itself"
        if case.cold_start:
            # The Isolation Forest explains nothing; the features are all the analyst gets.
            assert case.top_contributions == []
            continue
        contributions = case.top_contributions
        assert 1 <= len(contributions) <= 5, case
        magnitudes = [abs(c.contribution) for c in contributions]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for contribution in contributions:
            assert contribution.feature in FEATURE_NAMES
            # The model reads float32: the served value, as the model saw it.
            assert contribution.value == pytest.approx(case.features[contribution.feature])
        shap_reasons = [r for r in case.reasons if r.startswith("F_")]
        positive = [f"F_{c.feature}" for c in contributions if c.contribution > 0]
        assert shap_reasons == positive[:3]


def _reason_counts(decisions: list[Decision]) -> list[tuple[str, int]]:
    return collections.Counter(r for d in decisions for r in d.reasons).most_common(6)
