"""What every fraud scenario shares: the episode record and a few picks."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from contracts.events import Transaction, UserMessage
from services.simulator.geo import CITIES, haversine_km
from services.simulator.labels import label_fraud
from services.simulator.population import Customer, Merchant
from services.simulator.world import World

__all__ = [
    "DATACENTER_CITIES",
    "Episode",
    "far_cities",
    "pick",
    "pick_ecom",
    "pick_victim",
]

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
T = TypeVar("T")
#: Where hosting providers' IPs geolocate.
DATACENTER_CITIES: tuple[int, ...] = tuple(
    i for i, c in enumerate(CITIES) if c.name in ("Frankfurt", "Amsterdam", "London",
                                                  "New York", "Singapore")
)  # fmt: skip


class Episode:
    """One attack: its id, the fraud it has scheduled, and its labels at the end."""

    def __init__(self, world: World, scenario: str) -> None:
        self.world = world
        self.scenario = scenario
        self.id = world.episode_id(scenario)
        self.fraud: list[Transaction] = []

    def fraud_tx(self, tx: Transaction) -> None:
        if self.world.add_transaction(tx, is_fraud=True, scenario=self.scenario, episode=self.id):
            self.fraud.append(tx)

    def legit_tx(self, tx: Transaction) -> None:
        """A genuine payment that is part of the story (the skimmed purchase, say)."""
        self.world.add_transaction(tx, episode=self.id)

    def message(self, message: UserMessage, intent: str) -> None:
        self.world.add_message(message, intent, scenario=self.scenario, episode=self.id)

    def finish(self) -> int:
        """Schedule the labels; the number of fraudulent transactions inside the run."""
        label_fraud(self.world, self.scenario, self.id, self.fraud)
        return len(self.fraud)


def pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[int(rng.random() * len(options))]


def pick_ecom(world: World, rng: random.Random, mccs: tuple[str, ...]) -> Merchant:
    """An online merchant in one of ``mccs`` (any online merchant if none matches)."""
    merchants = world.population.merchants
    matching = [i for i in world.population.ecom if merchants[i].mcc in mccs]
    return merchants[pick(rng, matching or world.population.ecom)]


def pick_victim(world: World, rng: random.Random, since: int) -> Customer:
    """A customer active by ``since`` with no trip under way from then on.

    Trips are planned at the start of their day, so "no trip ending after
    ``since``" means the victim stays home for the rest of the day (anyone
    active after a few tries).
    """
    customer = world.random_active_customer(rng, since)
    for _ in range(20):
        if customer.trip is None or customer.trip.back_arrive_ms <= since:
            return customer
        customer = world.random_active_customer(rng, since)
    return customer


def far_cities(city: int, min_km: float) -> list[int]:
    """Cities at least ``min_km`` from ``city``."""
    origin = CITIES[city]
    return [
        i
        for i, c in enumerate(CITIES)
        if haversine_km(origin.lat, origin.lon, c.lat, c.lon) >= min_km
    ]
