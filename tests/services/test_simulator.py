"""The simulator's stream as a whole: determinism, validity, order, rates, labels, rhythm."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest

from contracts.codec import decode, encode
from contracts.errors import ConfigError
from contracts.events import Label, Transaction, UserMessage
from services.simulator import (
    MESSAGE_CATEGORIES,
    SCENARIOS,
    SimulatedEvent,
    SimulationSummary,
    SimulatorConfig,
    events,
    parse_mix,
    simulate,
    stream_time,
)
from services.simulator.config import parse_start
from services.simulator.geo import CITIES, haversine_km

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
CONFIG = SimulatorConfig(seed=7, customers=1500, days=21, fraud_rate=0.02)


@pytest.fixture(scope="module")
def run() -> list[SimulatedEvent]:
    return list(simulate(CONFIG))


@dataclass(frozen=True)
class TxItem:
    """A ``SimulatedEvent`` known to hold a transaction (typed for the checks below)."""

    event: Transaction
    is_fraud: bool
    scenario: str | None
    episode: str | None


def transactions(run: list[SimulatedEvent]) -> list[TxItem]:
    return [
        TxItem(item.event, item.is_fraud, item.scenario, item.episode)
        for item in run
        if isinstance(item.event, Transaction)
    ]


# -- determinism --------------------------------------------------------------------


def test_same_seed_and_config_give_byte_identical_events() -> None:
    config = SimulatorConfig(seed=3, customers=300, days=4, fraud_rate=0.03)
    first = [encode(event) for event in events(config)]
    second = [encode(event) for event in events(config)]
    assert len(first) > 1000
    assert first == second


def test_a_different_seed_gives_different_events() -> None:
    base = SimulatorConfig(seed=3, customers=300, days=2)
    other = SimulatorConfig(seed=4, customers=300, days=2)
    first = [encode(event) for event in events(base)]
    second = [encode(event) for event in events(other)]
    assert first != second
    # Not just renamed ids: the amounts differ too.
    amounts = {e.amount for e in events(base) if isinstance(e, Transaction)}
    other_amounts = {e.amount for e in events(other) if isinstance(e, Transaction)}
    assert len(amounts & other_amounts) < len(amounts) / 2


# -- validity and order -------------------------------------------------------------


def test_every_event_survives_the_codec_round_trip(run: list[SimulatedEvent]) -> None:
    kinds: Counter[str] = Counter()
    for item in run:
        event = item.event
        assert decode(encode(event)) == event
        kinds[type(event).__name__] += 1
    assert kinds["Transaction"] > 30_000
    assert kinds["UserMessage"] > 100
    assert kinds["Label"] > 1000


def test_stream_is_in_stream_time_order_and_inside_the_run(run: list[SimulatedEvent]) -> None:
    times = [stream_time(item.event) for item in run]
    assert times == sorted(times)
    end = CONFIG.end_ms
    assert end is not None
    assert times[0] >= CONFIG.start_ms
    for item in run:
        if not isinstance(item.event, Label):
            assert CONFIG.start_ms <= item.event.event_time_ms < end


def test_ids_are_unique(run: list[SimulatedEvent]) -> None:
    tx_ids = [item.event.tx_id for item in transactions(run)]
    assert len(tx_ids) == len(set(tx_ids))
    message_ids = [i.event.message_id for i in run if isinstance(i.event, UserMessage)]
    assert len(message_ids) == len(set(message_ids))


# -- fraud rate and mix --------------------------------------------------------------


def test_achieved_fraud_rate_is_near_the_configured_one(run: list[SimulatedEvent]) -> None:
    txs = transactions(run)
    rate = sum(item.is_fraud for item in txs) / len(txs)
    assert rate == pytest.approx(CONFIG.fraud_rate, rel=0.2)


def test_default_rate_on_a_larger_bank_is_near_target() -> None:
    config = SimulatorConfig(seed=11, customers=3000, days=14)
    summary = SimulationSummary()
    for item in simulate(config):
        summary.observe(item)
    assert summary.transactions > 50_000
    assert summary.fraud_rate == pytest.approx(config.fraud_rate, rel=0.25)


def test_every_scenario_appears_near_its_share(run: list[SimulatedEvent]) -> None:
    fraud = Counter(item.scenario for item in transactions(run) if item.is_fraud)
    total = sum(fraud.values())
    assert set(fraud) == set(SCENARIOS)
    for name, share in CONFIG.normalised_mix().items():
        assert fraud[name] / total == pytest.approx(share, abs=0.07), name


def test_fraud_has_a_scenario_and_episode_legit_has_no_scenario(
    run: list[SimulatedEvent],
) -> None:
    for item in transactions(run):
        if item.is_fraud:
            assert item.scenario in SCENARIOS and item.episode is not None
        else:
            assert item.scenario is None


def test_mix_limits_the_scenarios() -> None:
    config = SimulatorConfig(
        seed=5, customers=600, days=7, fraud_rate=0.03, mix=parse_mix("card_testing=1")
    )
    scenarios = {item.scenario for item in simulate(config) if item.is_fraud}
    assert scenarios == {"card_testing"}


def test_zero_fraud_rate_means_no_fraud() -> None:
    config = SimulatorConfig(seed=5, customers=300, days=3, fraud_rate=0.0)
    assert not any(item.is_fraud for item in simulate(config))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("card_testing=0.5,bogus=0.5", "unknown scenario"),
        ("card_testing", "not name=share"),
        ("card_testing=lots", "not a number"),
        ("", "empty"),
    ],
)
def test_bad_mix_is_a_config_error(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_mix(text)


def test_bad_config_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="fraud_rate"):
        SimulatorConfig(fraud_rate=0.7)
    with pytest.raises(ConfigError, match="positive sum"):
        SimulatorConfig(mix={"card_testing": 0.0})
    with pytest.raises(ConfigError, match="ISO"):
        parse_start("yesterday")
    assert parse_start("2025-01-06") == 1_736_121_600_000


# -- labels ----------------------------------------------------------------------------


def test_labels_follow_their_transaction_and_match_it(run: list[SimulatedEvent]) -> None:
    seen: dict[str, SimulatedEvent] = {}
    labels = 0
    for item in run:
        event = item.event
        if isinstance(event, Transaction):
            seen[event.tx_id] = item
        elif isinstance(event, Label):
            labels += 1
            tx_item = seen[event.tx_id]  # the transaction came earlier in the stream
            tx = tx_item.event
            assert isinstance(tx, Transaction)
            assert event.known_at_ms >= tx.event_time_ms
            assert event.event_time_ms == tx.event_time_ms
            assert (event.card_id, event.device_id, event.ip, event.merchant_id) == (
                tx.card_id,
                tx.device_id,
                tx.ip,
                tx.merchant_id,
            )
            assert event.is_fraud == tx_item.is_fraud
            assert event.scenario == tx_item.scenario
    assert labels > 1000


def test_label_delays_are_in_the_stated_ranges(run: list[SimulatedEvent]) -> None:
    delays: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for item in run:
        if isinstance(item.event, Label):
            label = item.event
            assert label.event_time_ms is not None
            delays[label.source, label.is_fraud].append(label.known_at_ms - label.event_time_ms)
    chargebacks = delays["chargeback", True]
    assert len(chargebacks) > 200
    assert all(2 * DAY_MS <= d <= 45 * DAY_MS for d in chargebacks)
    median = sorted(chargebacks)[len(chargebacks) // 2]
    assert 7 * DAY_MS < median < 18 * DAY_MS
    reports = delays["customer", True]
    assert len(reports) > 50
    # Half an hour to two days after the victim's last fraudulent payment; an
    # episode's payments span a few hours at most.
    assert all(0.5 * HOUR_MS <= d <= 54 * HOUR_MS for d in reports)
    assert len(delays["import", False]) > 400
    assert all(DAY_MS <= d <= 10 * DAY_MS for d in delays["import", False])
    # Disputes lost by the customer: legitimate, known from the chargeback process.
    assert delays["chargeback", False]
    assert all(15 * DAY_MS <= d <= 45 * DAY_MS for d in delays["chargeback", False])


def test_transfers_are_never_charged_back(run: list[SimulatedEvent]) -> None:
    channel = {i.event.tx_id: i.event.channel for i in transactions(run)}
    for item in run:
        if isinstance(item.event, Label) and item.event.source == "chargeback":
            assert channel[item.event.tx_id] != "transfer"


def test_most_fraud_is_labelled_some_never(run: list[SimulatedEvent]) -> None:
    fraud_ids = {i.event.tx_id for i in transactions(run) if i.is_fraud}
    labelled = {i.event.tx_id for i in run if isinstance(i.event, Label) and i.event.is_fraud}
    assert labelled <= fraud_ids
    assert 0.75 < len(labelled) / len(fraud_ids) < 0.99


def test_without_draining_no_label_is_known_after_the_end() -> None:
    config = SimulatorConfig(seed=2, customers=400, days=5, fraud_rate=0.03, drain_labels=False)
    end = config.end_ms
    assert end is not None
    labels = [e for e in events(config) if isinstance(e, Label)]
    assert labels
    assert all(label.known_at_ms < end for label in labels)


# -- messages ------------------------------------------------------------------------


def test_messages_cover_every_category_with_varied_wording(run: list[SimulatedEvent]) -> None:
    texts: dict[str, list[str]] = defaultdict(list)
    for item in run:
        if isinstance(item.event, UserMessage):
            assert item.category in MESSAGE_CATEGORIES
            texts[item.category].append(item.event.text)
    assert set(texts) == set(MESSAGE_CATEGORIES)
    for category, bodies in texts.items():
        assert len(bodies) >= 30, category
        assert len(set(bodies)) / len(bodies) > 0.9, category


def test_dispute_messages_name_a_real_transaction(run: list[SimulatedEvent]) -> None:
    tx_ids = {i.event.tx_id for i in transactions(run)}
    disputes = [
        i.event
        for i in run
        if isinstance(i.event, UserMessage) and i.category == "dispute_complaint" and i.event.tx_id
    ]
    assert disputes
    assert all(message.tx_id in tx_ids for message in disputes)


# -- legitimate behaviour ------------------------------------------------------------------


def test_legitimate_card_payments_never_imply_impossible_speed(run: list[SimulatedEvent]) -> None:
    last: dict[str, Transaction] = {}
    far_pairs = 0
    for item in transactions(run):
        tx = item.event
        if item.is_fraud or tx.lat is None or tx.lon is None:
            last.pop(tx.card_id, None)
            continue
        previous = last.get(tx.card_id)
        last[tx.card_id] = tx
        if previous is None or previous.lat is None or previous.lon is None:
            continue
        km = haversine_km(previous.lat, previous.lon, tx.lat, tx.lon)
        if km < 100:  # same city: shops are spread over ~10 km
            continue
        far_pairs += 1
        hours = (tx.event_time_ms - previous.event_time_ms) / HOUR_MS
        assert hours > 0 and km / hours <= 900, (previous, tx)
    assert far_pairs > 50  # people did travel


def test_new_devices_and_new_payees_occur_in_legitimate_traffic(run: list[SimulatedEvent]) -> None:
    run_tag = CONFIG.run_tag()
    legit = [i.event for i in transactions(run) if not i.is_fraud]
    new_devices = {
        t.device_id for t in legit if t.device_id and t.device_id.startswith(f"dv-{run_tag}")
    }
    new_payees = {
        t.payee_id for t in legit if t.payee_id and t.payee_id.startswith(f"py-{run_tag}")
    }
    assert len(new_devices) > 20
    assert len(new_payees) > 20


def test_daily_and_weekly_rhythm(run: list[SimulatedEvent]) -> None:
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[int] = Counter()
    for item in transactions(run):
        if item.is_fraud:
            continue
        moment = dt.datetime.fromtimestamp(item.event.event_time_ms / 1000, tz=dt.UTC)
        by_hour[(moment.hour + 1) % 24] += 1  # most customers live at UTC+1
        by_weekday[moment.weekday()] += 1
    night = sum(by_hour[h] for h in (1, 2, 3, 4))
    midday = sum(by_hour[h] for h in (11, 12, 13, 14))
    assert night * 10 < midday
    assert by_weekday[6] < 0.85 * by_weekday[4]  # quiet Sundays, busy Fridays


def test_channels_carry_the_right_fields(run: list[SimulatedEvent]) -> None:
    channels: Counter[str] = Counter()
    for item in transactions(run):
        tx = item.event
        channels[tx.channel] += 1
        if tx.channel in ("pos", "atm"):
            assert tx.terminal_id is not None
        if tx.channel in ("ecom", "transfer"):
            assert tx.device_id is not None and tx.ip is not None
        assert (tx.channel == "transfer") == (tx.payee_id is not None)
        assert tx.account_created_ms is not None and tx.account_created_ms < tx.event_time_ms
    assert set(channels) == {"pos", "ecom", "atm", "transfer"}
    assert channels["pos"] > channels["ecom"] > channels["transfer"]


def test_customers_live_mostly_in_one_country_and_some_accounts_are_new(
    run: list[SimulatedEvent],
) -> None:
    home: dict[str, str] = {}
    new_accounts: set[str] = set()
    for item in transactions(run):
        tx = item.event
        if tx.channel == "transfer":
            home[tx.customer_id] = tx.country
        assert tx.account_created_ms is not None
        if tx.event_time_ms - tx.account_created_ms < 90 * DAY_MS:
            new_accounts.add(tx.customer_id)
    shares = Counter(home.values())
    assert shares.most_common(1)[0][0] == "DE"
    assert shares["DE"] / len(home) > 0.7
    assert len(shares) >= 4
    # A quarter of the customers join during the run (config), 5% opened their
    # account shortly before it, and fraudsters open a few accounts of their own.
    assert 0.2 < len(new_accounts) / CONFIG.customers < 0.4


def test_cities_table_is_sane() -> None:
    for city in CITIES:
        assert -90 <= city.lat <= 90 and -180 <= city.lon <= 180
    berlin = next(c for c in CITIES if c.name == "Berlin")
    paris = next(c for c in CITIES if c.name == "Paris")
    assert math.isclose(
        haversine_km(berlin.lat, berlin.lon, paris.lat, paris.lon), 878, rel_tol=0.02
    )
