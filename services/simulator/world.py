"""The simulation's mutable state and the one place events are built and scheduled.

Everything the generator emits passes through ``World.add_transaction`` /
``add_message`` / ``add_label``: they stamp ids, drop what falls after the end
of the run, and push the event onto one heap ordered by stream time (event time
for transactions and messages, ``known_at_ms`` for labels). Because every
scheduled event lies at or after the window being generated, popping the heap
up to the window's end yields a stream in event-time order.
"""

from __future__ import annotations

import heapq
import itertools
import random
from typing import NamedTuple

import numpy as np

from contracts.events import Channel, Label, LabelSource, Transaction, UserMessage
from services.simulator.config import SimulatorConfig
from services.simulator.geo import CITIES, EUR_RATES, random_ip
from services.simulator.growth import Growth
from services.simulator.population import Customer, Merchant, Population, build_population
from services.simulator.texts import INTENT_CATEGORY, compose_message

__all__ = ["SimulatedEvent", "World", "stream_time"]

_MESSAGE_CHANNELS = ("chat", "email", "phone", "app")


class SimulatedEvent(NamedTuple):
    """An event and the ground truth behind it (never on the wire)."""

    event: Transaction | UserMessage | Label
    #: Transactions: whether it is fraud. Messages and labels: False.
    is_fraud: bool = False
    #: The fraud scenario the event belongs to, if any.
    scenario: str | None = None
    #: The episode (one attack, one skimming spree) it belongs to; legitimate
    #: transactions that are part of an episode (the skimmed purchase, the home
    #: purchase before an impossible-travel fraud) carry it too.
    episode: str | None = None
    #: Messages: the category a classifier should give it (texts.MESSAGE_CATEGORIES).
    category: str | None = None


def stream_time(event: Transaction | UserMessage | Label) -> int:
    """When an event enters the stream: labels when known, the rest when they happen."""
    return event.known_at_ms if isinstance(event, Label) else event.event_time_ms


class World:
    """Population, random streams, id counters and the schedule of one run."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.end_ms = config.end_ms
        self.run_tag = config.run_tag()
        self.population: Population = build_population(
            config.customers, config.population_tag(), config.start_ms, config.seed
        )
        # Separate streams so that changing the fraud mix leaves the legitimate
        # traffic untouched (and vice versa): each purpose draws from its own.
        self.legit_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
        self.fraud_rng = random.Random(_sub_seed(config.seed, 3))
        self.label_rng = random.Random(_sub_seed(config.seed, 4))
        self.text_rng = random.Random(_sub_seed(config.seed, 5))
        #: Scalar draws of the legitimate traffic (new IPs, trip plans).
        self.legit_scalar_rng = random.Random(_sub_seed(config.seed, 6))
        #: Who joins when, which cards are replaced and which are still unused.
        self.growth = Growth(self.population, config, self.run_tag)
        #: Accounts fraudsters opened during the run, by card (never in the population:
        #: nobody legitimate pays with them and no scenario picks them as victims).
        self.fraud_accounts: dict[str, Customer] = {}
        self._merchants_by_id = {m.merchant_id: m for m in self.population.merchants}
        self.customers_by_city: dict[int, list[Customer]] = {}
        for customer in self.population.customers:
            self.customers_by_city.setdefault(customer.home_city, []).append(customer)
        self._heap: list[tuple[int, int, SimulatedEvent]] = []
        self._seq = itertools.count()
        self._tx_serial = itertools.count()
        self._message_serial = itertools.count()
        self._episode_serial = itertools.count()
        self._account_serial = itertools.count()
        #: Payee accounts controlled by money mules, reused across scams.
        self.mule_payees = [self.new_payee() for _ in range(12)]
        #: Mule payees each APP-scam victim has already been talked into paying.
        self.mules_paid: dict[str, set[str]] = {}
        #: Devices a fraud ring opens accounts from, reused across new-account fraud.
        self.ring_devices: list[str] = []

    # ids -----------------------------------------------------------------
    def tx_id(self) -> str:
        return f"tx-{self.run_tag}-{next(self._tx_serial):09d}"

    def episode_id(self, scenario: str) -> str:
        return f"ep-{self.run_tag}-{next(self._episode_serial):06d}-{scenario}"

    def new_device(self) -> str:
        self.population.device_serial += 1
        return f"dv-{self.run_tag}-{self.population.device_serial:07d}"

    def new_payee(self) -> str:
        self.population.payee_serial += 1
        return f"py-{self.run_tag}-{self.population.payee_serial:07d}"

    def new_customer_id(self) -> str:
        return f"cu-{self.run_tag}-{next(self._account_serial):07d}"

    # where people are ------------------------------------------------------
    def location(self, customer: Customer, t: int) -> int | None:
        """The customer's city at ``t``, or None while travelling between cities."""
        trip = customer.trip
        if trip is None or t < trip.depart_ms or t >= trip.back_arrive_ms:
            return customer.home_city
        if trip.arrive_ms <= t < trip.back_depart_ms:
            return trip.city
        return None

    def merchant(self, merchant_id: str) -> Merchant:
        return self._merchants_by_id[merchant_id]

    def customer_of(self, card_id: str) -> Customer:
        index = self.population.card_to_customer.get(card_id)
        if index is None:
            return self.fraud_accounts[card_id]
        return self.population.customers[index]

    def register_fraud_account(self, customer: Customer) -> None:
        for card in customer.cards:
            self.fraud_accounts[card] = customer

    def random_customer(self, rng: random.Random) -> Customer:
        customers = self.population.customers
        return customers[int(rng.random() * len(customers))]

    def random_active_customer(self, rng: random.Random, t: int) -> Customer:
        """A customer who already pays at ``t`` (not one who joins later)."""
        customers = self.population.customers
        start = int(rng.random() * len(customers))
        # Walk on from a random index: joiners are scattered at random and at most
        # 90% of customers join late (config), so this stops within a few steps,
        # at the latest at a long-standing customer.
        for step in range(len(customers)):
            customer = customers[(start + step) % len(customers)]
            if customer.active_from_ms <= t:
                return customer
        raise AssertionError("no active customer")  # unreachable: not everyone joins late

    # building events ------------------------------------------------------------
    def transaction(
        self,
        *,
        customer: Customer,
        card: int,
        t: int,
        merchant: Merchant,
        channel: Channel,
        amount_eur: float,
        terminal: str | None = None,
        device: str | None = None,
        ip: str | None = None,
        city: int | None = None,
        payee: str | None = None,
    ) -> Transaction:
        """A transaction; card-present ones sit at the terminal, remote ones where the payer is."""
        if channel in ("pos", "atm"):
            lat, lon = merchant.lat, merchant.lon
        else:
            place = CITIES[customer.home_city if city is None else city]
            lat, lon = place.lat, place.lon
        amount = round(max(0.5, amount_eur) * EUR_RATES[customer.currency], 2)
        return Transaction(
            tx_id=self.tx_id(),
            event_time_ms=t,
            card_id=customer.cards[card],
            customer_id=customer.customer_id,
            amount=amount,
            currency=customer.currency,
            merchant_id=merchant.merchant_id,
            terminal_id=terminal,
            mcc=merchant.mcc,
            country=merchant.country,
            channel=channel,
            card_bin=customer.card_bins[card],
            device_id=device,
            ip=ip,
            lat=lat,
            lon=lon,
            account_created_ms=customer.account_created_ms,
            payee_id=payee,
        )

    def message(
        self,
        customer: Customer,
        t: int,
        intent: str,
        *,
        tx_id: str | None = None,
        merchant: str = "the shop",
        amount: str = "the money",
    ) -> UserMessage:
        rng = self.text_rng
        return UserMessage(
            message_id=f"ms-{self.run_tag}-{next(self._message_serial):08d}",
            customer_id=customer.customer_id,
            event_time_ms=t,
            text=compose_message(rng, intent, merchant=merchant, amount=amount),
            tx_id=tx_id,
            channel=_MESSAGE_CHANNELS[int(rng.random() * len(_MESSAGE_CHANNELS))],  # type: ignore[arg-type]
        )

    def label(
        self,
        tx: Transaction,
        *,
        is_fraud: bool,
        source: LabelSource,
        known_at_ms: int,
        scenario: str | None = None,
        note: str | None = None,
    ) -> Label:
        return Label(
            tx_id=tx.tx_id,
            is_fraud=is_fraud,
            source=source,
            known_at_ms=known_at_ms,
            event_time_ms=tx.event_time_ms,
            card_id=tx.card_id,
            device_id=tx.device_id,
            ip=tx.ip,
            merchant_id=tx.merchant_id,
            scenario=scenario,
            note=note,
        )

    def amount_text(self, customer: Customer, amount_eur: float) -> str:
        return f"{amount_eur * EUR_RATES[customer.currency]:,.2f} {customer.currency}"

    def random_ip(self, rng: random.Random, country: str | None) -> str:
        return random_ip(rng, country)

    # scheduling ------------------------------------------------------------------
    def in_run(self, t: int) -> bool:
        return self.end_ms is None or t < self.end_ms

    def add_transaction(
        self,
        tx: Transaction,
        *,
        is_fraud: bool = False,
        scenario: str | None = None,
        episode: str | None = None,
    ) -> bool:
        """Schedule ``tx``; False (and nothing scheduled) when it falls after the run."""
        if not self.in_run(tx.event_time_ms):
            return False
        self.growth.note_used(tx.card_id)
        self._push(tx.event_time_ms, SimulatedEvent(tx, is_fraud, scenario, episode))
        return True

    def add_message(
        self, message: UserMessage, intent: str, *, scenario: str | None = None,
        episode: str | None = None,
    ) -> bool:  # fmt: skip
        if not self.in_run(message.event_time_ms):
            return False
        truth = SimulatedEvent(message, False, scenario, episode, INTENT_CATEGORY[intent])
        self._push(message.event_time_ms, truth)
        return True

    def add_label(self, label: Label) -> bool:
        if not (self.config.drain_labels or self.in_run(label.known_at_ms)):
            return False
        self._push(label.known_at_ms, SimulatedEvent(label, False, label.scenario))
        return True

    def _push(self, t: int, item: SimulatedEvent) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), item))

    def pop_until(self, t: int) -> SimulatedEvent | None:
        """The next scheduled event at or before ``t``, if any."""
        if self._heap and self._heap[0][0] <= t:
            return heapq.heappop(self._heap)[2]
        return None

    def pending(self) -> int:
        return len(self._heap)


def _sub_seed(seed: int, purpose: int) -> int:
    state = np.random.SeedSequence([seed, purpose]).generate_state(2, dtype=np.uint64)
    return int(state[0]) << 64 | int(state[1])
