"""New customers and new cards over the run: cold starts exist where the models are judged."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest

from contracts.errors import ConfigError
from contracts.events import Label, Transaction
from services.simulator import SimulatedEvent, SimulationSummary, SimulatorConfig, simulate
from services.simulator.summary import format_summary
from services.simulator.world import World

DAY_MS = 86_400_000
#: The default config (30 days, default fraud rate, mix and growth) on a smaller bank.
CONFIG = SimulatorConfig(seed=13, customers=2_000)
CARD_CHANNELS = ("pos", "atm", "ecom")


@dataclass
class Run:
    items: list[SimulatedEvent]
    #: Each card's first transaction in the stream (what the feature store calls cold start).
    first: dict[str, tuple[Transaction, SimulatedEvent]]
    #: The latest label of each transaction.
    fraud_label: dict[str, bool]
    world: World


@pytest.fixture(scope="module")
def run() -> Run:
    items = list(simulate(CONFIG))
    first: dict[str, tuple[Transaction, SimulatedEvent]] = {}
    fraud_label: dict[str, bool] = {}
    for item in items:
        event = item.event
        if isinstance(event, Transaction):
            first.setdefault(event.card_id, (event, item))
        elif isinstance(event, Label):
            fraud_label[event.tx_id] = event.is_fraud
    # A fresh world with the same config makes the same growth plan (it is seeded).
    return Run(items, first, fraud_label, World(CONFIG))


def end_ms() -> int:
    assert CONFIG.end_ms is not None
    return CONFIG.end_ms


def test_cards_first_transact_in_the_last_week_with_both_classes(run: Run) -> None:
    recent = [
        (tx, item) for tx, item in run.first.values() if tx.event_time_ms >= end_ms() - 7 * DAY_MS
    ]
    # ~2,800 cards in all: joiners, replacements and fraudsters' accounts keep coming.
    assert len(recent) > 150
    fraud = [tx for tx, item in recent if item.is_fraud]
    legit = [tx for tx, item in recent if not item.is_fraud]
    assert len(legit) > 100
    assert len(fraud) >= 5
    # Labelled (the drained label stream), so a cold-start ROC AUC has both classes.
    assert sum(run.fraud_label.get(tx.tx_id, False) for tx in fraud) >= 5
    scenarios = Counter(item.scenario for _, item in recent if item.is_fraud)
    assert {"bin_attack", "new_account_fraud"} <= set(scenarios)


def test_cold_starts_come_from_joiners_replacements_and_fraud_accounts(run: Run) -> None:
    population = {c.customer_id for c in run.world.population.customers}
    seen_customers: set[str] = set()
    sources: Counter[str] = Counter()
    for tx, _ in sorted(run.first.values(), key=lambda pair: pair[0].event_time_ms):
        if tx.event_time_ms < CONFIG.start_ms + 7 * DAY_MS:
            seen_customers.add(tx.customer_id)
            continue  # the first week: every card is new to the stream
        if tx.customer_id not in population:
            sources["fraud account"] += 1
        elif tx.customer_id in seen_customers:
            sources["replacement"] += 1
        else:
            sources["joiner"] += 1
        seen_customers.add(tx.customer_id)
    assert sources["joiner"] > 200
    assert sources["replacement"] > 100
    assert sources["fraud account"] > 10


def test_joiners_open_their_account_over_the_run_and_pay_only_after_joining(run: Run) -> None:
    growth = run.world.growth
    customers = run.world.population.customers
    joiners = {c.customer_id: c for c in customers if c.active_from_ms > CONFIG.start_ms}
    assert len(joiners) == growth.joiners
    assert 0.22 < len(joiners) / len(customers) < 0.28
    quarters = Counter(
        (c.active_from_ms - CONFIG.start_ms) * 4 // (end_ms() - CONFIG.start_ms)
        for c in joiners.values()
    )
    assert set(quarters) == {0, 1, 2, 3}
    assert min(quarters.values()) > len(joiners) / 6  # spread, not bunched
    for customer in joiners.values():
        lead = customer.active_from_ms - customer.account_created_ms
        assert 0 < lead <= 10 * DAY_MS
    paid = 0
    for item in run.items:
        tx = item.event
        if isinstance(tx, Transaction) and not item.is_fraud and tx.customer_id in joiners:
            assert tx.event_time_ms >= joiners[tx.customer_id].active_from_ms
            paid += 1
    assert paid > 5_000


def test_a_replaced_card_falls_silent_once_the_new_one_is_in_use(run: Run) -> None:
    single_card = {c.customer_id for c in run.world.population.customers if len(c.cards) == 1}
    sequence: dict[str, list[str]] = defaultdict(list)
    for item in run.items:
        tx = item.event
        # Everyday payments only: a skimmed purchase was planned days ahead.
        if not isinstance(tx, Transaction) or item.is_fraud or item.episode is not None:
            continue
        if tx.customer_id in single_card:
            cards = sequence[tx.customer_id]
            if not cards or cards[-1] != tx.card_id:
                cards.append(tx.card_id)
    replaced = 0
    for cards in sequence.values():
        assert len(cards) == len(set(cards)), cards  # never back to an old number
        replaced += len(cards) - 1
    assert replaced > 80


def test_known_fraud_gets_the_card_replaced(run: Run) -> None:
    channel = {}
    for item in run.items:
        if isinstance(item.event, Transaction):
            channel[item.event.tx_id] = item.event.channel
    population_cards = run.world.population.card_to_customer
    known_at: dict[str, int] = {}
    for item in run.items:
        label = item.event
        if (
            isinstance(label, Label)
            and label.is_fraud
            and label.card_id in population_cards
            and channel[label.tx_id] in CARD_CHANNELS
        ):
            known_at.setdefault(label.card_id, label.known_at_ms)
    judged = {card: t for card, t in known_at.items() if t < end_ms() - 10 * DAY_MS}
    assert len(judged) > 30
    for item in run.items:
        tx = item.event
        if isinstance(tx, Transaction) and not item.is_fraud and item.episode is None:
            # Reissued within 7 days of the report, at the next day's start.
            blocked_from = judged.get(tx.card_id)
            assert blocked_from is None or tx.event_time_ms < blocked_from + 8 * DAY_MS


def test_summary_reports_first_uses_and_the_new_scenarios(run: Run) -> None:
    summary = SimulationSummary()
    for item in run.items:
        summary.observe(item)
    report = summary.as_dict(CONFIG)
    first_uses = report["first_uses"]
    assert first_uses["transactions"] == len(run.first)
    assert first_uses["fraud"] == sum(item.is_fraud for _, item in run.first.values())
    recent = [item for tx, item in run.first.values() if tx.event_time_ms >= end_ms() - 7 * DAY_MS]
    assert first_uses["recent_transactions"] == len(recent)
    assert first_uses["recent_fraud"] == sum(item.is_fraud for item in recent)
    for name in ("bin_attack", "new_account_fraud"):
        row = report["scenarios"][name]
        assert row["transactions"] > 0 and row["episodes"] > 0
        assert 0 < row["first_use"] <= row["transactions"]
    assert report["new_accounts"] > 0.2 * CONFIG.customers
    text = format_summary(report)
    assert "bin_attack" in text and "new_account_fraud" in text
    assert "first transactions (cold start)" in text


def test_without_growth_the_cards_of_day_one_are_all_there_is() -> None:
    static = SimulatorConfig(
        seed=5, customers=400, days=14, fraud_rate=0.05, new_customer_share=0.0,
        card_replacement_rate=0.0, reissue_after_fraud=False,
        mix={"card_testing": 1.0, "impossible_travel": 1.0},
    )  # fmt: skip
    world = World(static)
    assert world.growth.joiners == 0
    assert not world.growth.unused  # nothing issued and waiting for its first use
    txs = [item.event for item in simulate(static) if isinstance(item.event, Transaction)]
    assert all(
        tx.account_created_ms is not None and tx.account_created_ms < static.start_ms for tx in txs
    )
    issued_in_run = f"ca-{static.run_tag()}-"
    assert not any(tx.card_id.startswith(issued_in_run) for tx in txs)
    # The same run with reissue after fraud: reported cards come back with new numbers.
    reissuing = dataclasses.replace(static, reissue_after_fraud=True)
    txs = [item.event for item in simulate(reissuing) if isinstance(item.event, Transaction)]
    assert any(tx.card_id.startswith(issued_in_run) for tx in txs)


def test_growth_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="new_customer_share"):
        SimulatorConfig(new_customer_share=0.95)
    with pytest.raises(ConfigError, match="card_replacement_rate"):
        SimulatorConfig(card_replacement_rate=-0.01)
