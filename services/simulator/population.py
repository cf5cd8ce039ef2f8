"""The simulated bank's world: customers with cards, devices, IPs and habits; merchants.

Built once per run from the population seed alone, so two runs with the same
seed (a file export and a Kafka stream, say) see the same customers, cards and
merchants under the same ids, whatever their fraud mix or start time.

Customers mutate during a run (a new phone becomes a usual device, a new payee
becomes a usual one, a trip starts and ends, a card is replaced; growth.py picks
who joins the bank during the run); merchants never do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from services.simulator.geo import (
    CITIES,
    HOME_COUNTRY_SHARES,
    cities_in,
    country_currency,
    random_ip,
)

__all__ = [
    "CHANNEL_INDEX",
    "ECOM_MCCS",
    "POS_MCCS",
    "Customer",
    "Merchant",
    "MerchantKind",
    "Population",
    "Trip",
    "build_population",
]

MerchantKind = str  # "pos" | "ecom" | "atm" | "transfer"

#: Channel order used in the per-customer channel mix arrays.
CHANNEL_INDEX: tuple[str, ...] = ("pos", "ecom", "atm", "transfer")

# (mcc, trade, weight, amount scale relative to the customer's typical amount)
POS_MCCS: tuple[tuple[str, str, float, float], ...] = (
    ("5411", "Market", 30, 1.0),
    ("5812", "Restaurant", 12, 1.3),
    ("5814", "Snacks", 12, 0.4),
    ("5499", "Bakery", 8, 0.35),
    ("5541", "Fuel", 8, 1.6),
    ("5912", "Pharmacy", 6, 0.8),
    ("4111", "Transit", 6, 0.3),
    ("5651", "Fashion", 6, 2.2),
    ("5311", "Department Store", 5, 2.0),
    ("5732", "Electronics", 3, 4.0),
    ("7011", "Hotel", 2, 5.0),
    ("5944", "Jewellers", 1, 6.0),
)
ECOM_MCCS: tuple[tuple[str, str, float, float], ...] = (
    ("5999", "Marketplace", 25, 1.5),
    ("5691", "Clothing Online", 12, 2.0),
    ("4121", "Rides", 12, 0.6),
    ("5815", "Digital Media", 10, 0.4),
    ("5818", "App Store", 10, 0.3),
    ("5942", "Books", 6, 0.8),
    ("5732", "Electronics Online", 6, 4.0),
    ("4511", "Airline", 4, 8.0),
    ("7995", "Betting", 3, 1.0),
)
_NAME_WORDS = (
    "Green", "Blue", "Golden", "Silver", "Corner", "City", "North", "Harbour", "Old Town",
    "Bright", "Lucky", "Prime", "Urban", "River", "Sunny", "Royal", "Little", "Central",
)  # fmt: skip
_BINS = ("412345", "455600", "520473", "535110", "41778234")


@dataclass(frozen=True, slots=True)
class Merchant:
    index: int
    merchant_id: str
    name: str
    kind: MerchantKind
    mcc: str
    city: int
    country: str
    lat: float
    lon: float
    terminals: tuple[str, ...]
    amount_scale: float


@dataclass(frozen=True, slots=True)
class Trip:
    """A journey away from home; no card-present purchases while in transit."""

    city: int
    depart_ms: int
    arrive_ms: int
    back_depart_ms: int
    back_arrive_ms: int
    #: The hotel's or roaming IP used for online payments while away.
    ip: str


@dataclass(slots=True)
class Customer:
    index: int
    customer_id: str
    home_city: int
    currency: str
    account_created_ms: int
    cards: list[str]
    card_bins: list[str]
    devices: list[str]
    ips: list[str]
    payees: list[str]
    #: Typical purchase in EUR before the merchant's scale.
    typical_amount_eur: float
    fav_pos: list[int]
    fav_ecom: list[int]
    trip: Trip | None = None
    #: From when the customer pays: the start of time for long-standing customers,
    #: the day they join for those who open their account during the run (growth.py).
    active_from_ms: int = 0


@dataclass(slots=True)
class Population:
    customers: list[Customer]
    merchants: list[Merchant]
    #: Per city: indexes of its card-present shops and of its ATMs.
    pos_by_city: dict[int, list[int]]
    atm_by_city: dict[int, list[int]]
    ecom: list[int]
    #: The bank's own transfer "merchant" per country (payee is on the transaction).
    transfer_by_country: dict[str, int]
    #: Per customer: expected transactions per day, and cumulative channel mix.
    activity: np.ndarray
    channel_cum: np.ndarray
    card_to_customer: dict[str, int]
    #: Next free serials for devices and payees created during the run.
    device_serial: int
    payee_serial: int


def build_population(customers: int, tag: str, start_ms: int, seed: int) -> Population:
    """Customers and merchants for ``customers`` people; ids carry ``tag``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    merchants, pos_by_city, atm_by_city, ecom, transfer = _build_merchants(customers, tag, rng)
    people: list[Customer] = []
    countries = list(HOME_COUNTRY_SHARES)
    shares = np.array([HOME_COUNTRY_SHARES[c] for c in countries])
    home_countries = rng.choice(len(countries), size=customers, p=shares / shares.sum())
    city_choices = {c: cities_in(c) for c in countries}
    device_serial = payee_serial = card_serial = 0
    ip_rng = random.Random(int(rng.integers(0, 2**62)))
    for i in range(customers):
        country = countries[int(home_countries[i])]
        options = city_choices[country]
        weights = np.array([CITIES[c].weight for c in options])
        home = options[int(rng.choice(len(options), p=weights / weights.sum()))]
        # ~5% of accounts opened in the last 60 days: new accounts are a risk signal
        # only in combination, so most new accounts simply behave normally.
        age_days = rng.uniform(1, 60) if rng.random() < 0.05 else rng.uniform(180, 15 * 365)
        n_cards = 1 + int(rng.random() < 0.3)
        n_devices = 1 + int(rng.random() < 0.45)
        cards = [f"ca-{tag}-{card_serial + k:07d}" for k in range(n_cards)]
        card_serial += n_cards
        devices = [f"dv-{tag}-{device_serial + k:07d}" for k in range(n_devices)]
        device_serial += n_devices
        n_payees = int(rng.integers(1, 4))
        payees = [f"py-{tag}-{payee_serial + k:07d}" for k in range(n_payees)]
        payee_serial += n_payees
        ips = [random_ip(ip_rng, country) for _ in range(int(rng.integers(1, 4)))]
        local_shops = pos_by_city[home]
        fav_pos = [local_shops[int(j)] for j in rng.integers(0, len(local_shops), size=6)]
        fav_ecom = [ecom[int(j)] for j in rng.integers(0, len(ecom), size=3)]
        people.append(
            Customer(
                index=i,
                customer_id=f"cu-{tag}-{i:07d}",
                home_city=home,
                currency=country_currency(country),
                account_created_ms=start_ms - int(age_days * 86_400_000),
                cards=cards,
                card_bins=[_BINS[int(rng.integers(0, len(_BINS)))] for _ in cards],
                devices=devices,
                ips=ips,
                payees=payees,
                typical_amount_eur=float(np.exp(rng.normal(np.log(28.0), 0.45))),
                fav_pos=fav_pos,
                fav_ecom=fav_ecom,
            )
        )
    # Activity: a few heavy users, many light ones (~1.4 transactions/day on average).
    activity = np.exp(rng.normal(np.log(1.1), 0.65, size=customers))
    mix = rng.dirichlet([14.0, 6.0, 1.2, 1.5], size=customers)
    return Population(
        customers=people,
        merchants=merchants,
        pos_by_city=pos_by_city,
        atm_by_city=atm_by_city,
        ecom=ecom,
        transfer_by_country=transfer,
        activity=activity,
        channel_cum=np.cumsum(mix, axis=1),
        card_to_customer={card: c.index for c in people for card in c.cards},
        device_serial=device_serial,
        payee_serial=payee_serial,
    )


def _build_merchants(
    customers: int, tag: str, rng: np.random.Generator
) -> tuple[list[Merchant], dict[int, list[int]], dict[int, list[int]], list[int], dict[str, int]]:
    merchants: list[Merchant] = []
    pos_by_city: dict[int, list[int]] = {}
    atm_by_city: dict[int, list[int]] = {}
    terminal_serial = 0
    total_weight = sum(c.weight for c in CITIES)
    pos_weights = np.array([m[2] for m in POS_MCCS])
    n_pos = max(300, customers // 6)

    def add(kind: str, mcc: str, trade: str, city: int, scale: float, n_terminals: int) -> int:
        nonlocal terminal_serial
        index = len(merchants)
        place = CITIES[city]
        # Shops spread over ~10 km around the centre; online merchants sit at their HQ.
        spread = 0.05 if kind in ("pos", "atm") else 0.0
        word = _NAME_WORDS[int(rng.integers(0, len(_NAME_WORDS)))]
        terminals = tuple(f"te-{tag}-{terminal_serial + k:06d}" for k in range(n_terminals))
        terminal_serial += n_terminals
        merchants.append(
            Merchant(
                index=index,
                merchant_id=f"me-{tag}-{index:06d}",
                name=f"{word} {trade}" if kind != "atm" else f"ATM {place.name} {index}",
                kind=kind,
                mcc=mcc,
                city=city,
                country=place.country,
                lat=round(place.lat + float(rng.uniform(-spread, spread)), 4),
                lon=round(place.lon + float(rng.uniform(-spread, spread)), 4),
                terminals=terminals,
                amount_scale=scale,
            )
        )
        return index

    for city_index, place in enumerate(CITIES):
        count = max(12, round(n_pos * place.weight / total_weight))
        picks = rng.choice(len(POS_MCCS), size=count, p=pos_weights / pos_weights.sum())
        pos_by_city[city_index] = [
            add("pos", POS_MCCS[p][0], POS_MCCS[p][1], city_index, POS_MCCS[p][3],
                1 + int(rng.integers(0, 4)))
            for p in picks
        ]  # fmt: skip
        atm_by_city[city_index] = [
            add("atm", "6011", "ATM", city_index, 1.0, 1) for _ in range(max(3, count // 10))
        ]
    ecom_weights = np.array([m[2] for m in ECOM_MCCS])
    ecom_cities = [i for i, c in enumerate(CITIES) if c.country in HOME_COUNTRY_SHARES]
    ecom: list[int] = []
    for _ in range(max(40, customers // 80)):
        p = int(rng.choice(len(ECOM_MCCS), p=ecom_weights / ecom_weights.sum()))
        city = ecom_cities[int(rng.integers(0, len(ecom_cities)))]
        ecom.append(add("ecom", ECOM_MCCS[p][0], ECOM_MCCS[p][1], city, ECOM_MCCS[p][3], 0))
    transfer = {
        country: add("transfer", "4829", "Transfers", cities_in(country)[0], 1.0, 0)
        for country in HOME_COUNTRY_SHARES
    }
    return merchants, pos_by_city, atm_by_city, ecom, transfer
