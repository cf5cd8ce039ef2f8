"""Each fraud scenario shows the signature real fraud teams know it by."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest

from contracts.events import Label, Transaction, UserMessage
from services.simulator import SimulatedEvent, SimulatorConfig, simulate
from services.simulator.geo import EUR_RATES, haversine_km
from services.simulator.population import build_population

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DAY_MS = 24 * HOUR_MS
CONFIG = SimulatorConfig(seed=7, customers=1500, days=21, fraud_rate=0.02)


@dataclass
class Novelty:
    """Whether a transaction's device, IP and payee were new for its customer."""

    device: bool
    ip: bool
    payee: bool


@dataclass(frozen=True)
class TxItem:
    event: Transaction
    is_fraud: bool
    scenario: str | None


@dataclass(frozen=True)
class MessageItem:
    event: UserMessage
    category: str | None


@dataclass
class Run:
    items: list[SimulatedEvent]
    txs: list[TxItem]
    novelty: dict[str, Novelty]
    #: Transactions of each episode, in stream order.
    episodes: dict[str, list[TxItem]]
    #: Messages of each customer, in stream order.
    messages: dict[str, list[MessageItem]]


@pytest.fixture(scope="module")
def run() -> Run:
    items = list(simulate(CONFIG))
    population = build_population(
        CONFIG.customers, CONFIG.population_tag(), CONFIG.start_ms, CONFIG.seed
    )
    devices = {c.customer_id: set(c.devices) for c in population.customers}
    ips = {c.customer_id: set(c.ips) for c in population.customers}
    payees = {c.customer_id: set(c.payees) for c in population.customers}
    novelty: dict[str, Novelty] = {}
    txs: list[TxItem] = []
    episodes: dict[str, list[TxItem]] = defaultdict(list)
    messages: dict[str, list[MessageItem]] = defaultdict(list)
    for item in items:
        event = item.event
        if isinstance(event, UserMessage):
            messages[event.customer_id].append(MessageItem(event, item.category))
        if not isinstance(event, Transaction):
            continue
        tx_item = TxItem(event, item.is_fraud, item.scenario)
        txs.append(tx_item)
        if item.episode is not None:
            episodes[item.episode].append(tx_item)
        who = event.customer_id
        # Accounts fraudsters open during the run are in no population: all new.
        novelty[event.tx_id] = Novelty(
            device=event.device_id is not None and event.device_id not in devices.get(who, ()),
            ip=event.ip is not None and event.ip not in ips.get(who, ()),
            payee=event.payee_id is not None and event.payee_id not in payees.get(who, ()),
        )
        for known, value in ((devices, event.device_id), (ips, event.ip), (payees, event.payee_id)):
            if value is not None:
                known.setdefault(who, set()).add(value)
    return Run(items, txs, novelty, episodes, messages)


def fraud_episodes(run: Run, scenario: str) -> list[list[Transaction]]:
    found = []
    for items in run.episodes.values():
        fraud = [i.event for i in items if i.is_fraud and i.scenario == scenario]
        if fraud:
            found.append(fraud)
    assert len(found) >= 3, f"too few {scenario} episodes to judge"
    return found


def eur(tx: Transaction) -> float:
    return tx.amount / EUR_RATES[tx.currency]


def speed_kmh(a: Transaction, b: Transaction) -> float:
    assert a.lat is not None and a.lon is not None and b.lat is not None and b.lon is not None
    hours = (b.event_time_ms - a.event_time_ms) / HOUR_MS
    return haversine_km(a.lat, a.lon, b.lat, b.lon) / hours


def test_card_testing_is_a_burst_of_tiny_payments_from_one_device_and_ip(run: Run) -> None:
    for txs in fraud_episodes(run, "card_testing"):
        assert len(txs) >= 5
        assert all(eur(tx) <= 3.0 for tx in txs)
        assert all(tx.channel == "ecom" for tx in txs)
        assert txs[-1].event_time_ms - txs[0].event_time_ms <= 25 * MINUTE_MS
        assert len({tx.device_id for tx in txs}) == 1
        assert len({tx.ip for tx in txs}) == 1
        assert len({tx.merchant_id for tx in txs}) == 1
        assert len({tx.card_id for tx in txs}) >= 4


def test_impossible_travel_implies_a_speed_no_traveller_reaches(run: Run) -> None:
    previous: dict[str, Transaction] = {}
    firsts = {txs[0].tx_id for txs in fraud_episodes(run, "impossible_travel")}
    checked = 0
    for item in run.txs:
        tx = item.event
        if tx.tx_id in firsts:
            before = previous[tx.card_id]
            assert before.event_time_ms < tx.event_time_ms <= before.event_time_ms + 3 * HOUR_MS
            assert speed_kmh(before, tx) > 900
            checked += 1
        previous[tx.card_id] = tx
    assert checked == len(firsts)


def test_impossible_travel_starts_with_a_genuine_purchase_at_home(run: Run) -> None:
    for episode, items in run.episodes.items():
        if not episode.endswith("impossible_travel"):
            continue
        txs = items
        assert not txs[0].is_fraud and txs[0].event.channel == "pos"
        assert all(i.is_fraud for i in txs[1:])
        assert all(i.event.card_id == txs[0].event.card_id for i in txs)


def test_proxy_ip_is_one_datacenter_ip_across_many_cards(run: Run) -> None:
    legit_ips = {i.event.ip for i in run.txs if not i.is_fraud}
    for txs in fraud_episodes(run, "proxy_ip"):
        assert len({tx.ip for tx in txs}) == 1
        assert len({tx.card_id for tx in txs}) >= 6
        assert len({tx.device_id for tx in txs}) >= 2  # fingerprints rotate, the IP does not
        assert txs[0].ip not in legit_ips
        assert all(eur(tx) >= 20.0 for tx in txs)
        assert txs[-1].event_time_ms - txs[0].event_time_ms <= 6 * HOUR_MS


def test_account_takeover_new_device_and_ip_after_a_reset_message(run: Run) -> None:
    for txs in fraud_episodes(run, "account_takeover"):
        first = txs[0]
        assert run.novelty[first.tx_id].device
        assert run.novelty[first.tx_id].ip
        assert len({tx.device_id for tx in txs}) == 1  # the fraudster's one device
        assert first.channel == "transfer" and eur(first) >= 500
        assert first.payee_id is not None
        before = [
            m
            for m in run.messages[first.customer_id]
            if m.category == "account_takeover"
            and first.event_time_ms - 3 * HOUR_MS <= m.event.event_time_ms < first.event_time_ms
        ]
        assert before, "no reset message shortly before the takeover"


def test_app_scam_victim_pays_a_new_payee_after_announcing_it(run: Run) -> None:
    for txs in fraud_episodes(run, "app_scam"):
        first = txs[0]
        assert all(tx.channel == "transfer" for tx in txs)
        assert run.novelty[first.tx_id].payee
        # The victim's own, familiar phone: nothing but the payee and the words look odd.
        assert not run.novelty[first.tx_id].device
        assert not run.novelty[first.tx_id].ip
        assert eur(first) >= 500
        before = [
            m
            for m in run.messages[first.customer_id]
            if m.category == "scam_social_engineering"
            and first.event_time_ms - 3 * HOUR_MS <= m.event.event_time_ms < first.event_time_ms
        ]
        assert before, "no victim message before the push payment"


def test_compromised_terminal_cards_share_a_point_of_purchase(run: Run) -> None:
    episodes = 0
    for txs in run.episodes.values():
        fraud = [i.event for i in txs if i.is_fraud and i.scenario == "compromised_terminal"]
        if not fraud:
            continue
        episodes += 1
        skims = [i.event for i in txs if not i.is_fraud]
        terminals = {tx.terminal_id for tx in skims}
        assert len(terminals) == 1 and None not in terminals
        skim_by_card = {tx.card_id: tx for tx in skims}
        for tx in fraud:
            skim = skim_by_card[tx.card_id]
            assert tx.event_time_ms - skim.event_time_ms >= DAY_MS
            assert skim.lat is not None and skim.lon is not None
            assert tx.lat is not None and tx.lon is not None
            assert haversine_km(skim.lat, skim.lon, tx.lat, tx.lon) > 250  # cashed out elsewhere
            assert tx.channel in ("atm", "pos")
    assert episodes >= 3


def test_fraud_labels_know_the_scenario_and_push_payments_come_from_customers(run: Run) -> None:
    scenario_of = {i.event.tx_id: i.scenario for i in run.txs}
    sources: dict[str, set[str]] = defaultdict(set)
    for item in run.items:
        label = item.event
        if isinstance(label, Label) and label.is_fraud:
            assert label.scenario == scenario_of[label.tx_id]
            sources[label.scenario or ""].add(label.source)
    assert sources["app_scam"] == {"customer"}
    assert sources["card_testing"] >= {"chargeback"}
    assert sources["impossible_travel"] == {"chargeback", "customer"}
    assert sources["new_account_fraud"] == {"import"}


def test_customer_reports_come_with_a_message_before_the_label(run: Run) -> None:
    owner = {i.event.tx_id: i.event.customer_id for i in run.txs}
    reported = 0
    end = CONFIG.end_ms
    assert end is not None
    for item in run.items:
        label = item.event
        if not (isinstance(label, Label) and label.source == "customer"):
            continue
        if label.known_at_ms >= end:
            continue  # drained after the end: the run has no messages there
        assert any(
            label.known_at_ms - HOUR_MS <= m.event.event_time_ms <= label.known_at_ms
            for m in run.messages[owner[label.tx_id]]
        )
        reported += 1
    assert reported > 50


def first_uses(run: Run) -> set[str]:
    """Transactions that were their card's first in the stream (cold start)."""
    seen: set[str] = set()
    firsts: set[str] = set()
    for item in run.txs:
        if item.event.card_id not in seen:
            seen.add(item.event.card_id)
            firsts.add(item.event.tx_id)
    return firsts


def test_bin_attack_enumerates_never_used_cards_with_tiny_payments(run: Run) -> None:
    firsts = first_uses(run)
    legit_ips = {i.event.ip for i in run.txs if not i.is_fraud}
    cards = fresh = 0
    for txs in fraud_episodes(run, "bin_attack"):
        assert all(eur(tx) <= 1.0 and tx.channel == "ecom" for tx in txs)
        assert txs[-1].event_time_ms - txs[0].event_time_ms <= 5 * MINUTE_MS
        assert len({tx.device_id for tx in txs}) == 1
        assert len({tx.ip for tx in txs}) == 1 and txs[0].ip not in legit_ips
        assert len({tx.merchant_id for tx in txs}) == 1
        assert len({tx.card_bin for tx in txs}) == 1  # one BIN enumerated
        episode_cards = {tx.card_id for tx in txs}
        assert len(episode_cards) >= 5
        episode_fresh = {tx.card_id for tx in txs if tx.tx_id in firsts}
        assert len(episode_fresh) >= 0.4 * len(episode_cards)
        cards += len(episode_cards)
        fresh += len(episode_fresh)
    assert fresh >= 0.65 * cards  # mostly the first transaction those cards ever make


def test_new_account_fraud_busts_out_of_a_just_opened_account(run: Run) -> None:
    firsts = first_uses(run)
    population = build_population(
        CONFIG.customers, CONFIG.population_tag(), CONFIG.start_ms, CONFIG.seed
    )
    genuine = {c.customer_id for c in population.customers}
    legit_devices = {i.event.device_id for i in run.txs if not i.is_fraud}
    by_account: dict[str, list[TxItem]] = defaultdict(list)
    for item in run.txs:
        by_account[item.event.customer_id].append(item)
    for txs in fraud_episodes(run, "new_account_fraud"):
        assert len({tx.device_id for tx in txs}) == 1  # a ring's one device
        accounts = {tx.customer_id for tx in txs}
        assert 1 <= len(accounts) <= 3
        for account in accounts:
            assert account not in genuine
            items = by_account[account]
            # Nobody genuine ever pays with it: every payment is the episode's fraud.
            assert all(i.is_fraud and i.scenario == "new_account_fraud" for i in items)
            first = items[0].event
            assert first.tx_id in firsts
            assert first.account_created_ms is not None
            assert 5 * MINUTE_MS <= first.event_time_ms - first.account_created_ms <= 4 * HOUR_MS
            assert first.device_id not in legit_devices
            assert max(eur(i.event) for i in items) >= 300


def test_new_account_fraud_is_found_by_the_bank_not_reported(run: Run) -> None:
    scenario_of = {i.event.tx_id: i.scenario for i in run.txs}
    delays = []
    for item in run.items:
        label = item.event
        if isinstance(label, Label) and scenario_of.get(label.tx_id) == "new_account_fraud":
            assert label.is_fraud and label.source == "import"
            assert label.event_time_ms is not None
            delays.append(label.known_at_ms - label.event_time_ms)
    assert len(delays) > 10
    # 1-20 days after the account's last payment, which is at most ~1.5 days after its first.
    assert all(DAY_MS <= d <= 22 * DAY_MS for d in delays)
