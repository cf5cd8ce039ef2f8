"""New customers and new cards over the run: where a card's first transaction comes from.

A bank's card base is never static. Without growth every card of a simulated
run would be in use from day 1, and the last days (the models' test slice)
would hold no card's first-ever transaction - nothing to judge a cold-start
model on. So:

* **joiners**: ``new_customer_share`` of the customers open their account at a
  moment spread evenly over the run and pay only from then on. Their card is
  issued when the account opens: a virtual card minutes before the first
  possible payment (``P_INSTANT_CARD``), a plastic card by post 2-10 days
  before it. Who joins and when is drawn from the seed alone (its own random
  stream), so the rest of the population is the one a run without growth sees.
* **replacements**: every active card is replaced with chance
  ``card_replacement_rate`` per day (expiry, loss, a new virtual card), and a
  card whose fraud the bank learns of (``schedule_replacement``, from
  labels.py) is blocked and reissued 1-7 days later. The new card number takes
  the old one's place from the start of a day; the old one is never used again
  by its owner (a fraudster holding the old number may still try it).

Cards issued but never used are kept in ``unused``: that is the pool a BIN
attack's enumeration hits (scenarios/fresh.py).
"""

from __future__ import annotations

import heapq
import itertools
import random
from typing import NamedTuple

import numpy as np

from services.simulator.config import SimulatorConfig
from services.simulator.population import Customer, Population

__all__ = ["P_INSTANT_CARD", "Growth", "IssuedCard"]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: Share of joiners who get a virtual card at once (the rest wait for the post).
P_INSTANT_CARD = 0.4
#: (min, max) days between the bank learning of a card's fraud and the new card.
_REISSUE_AFTER_FRAUD_DAYS = (1.0, 7.0)


class IssuedCard(NamedTuple):
    """A card number that exists (since ``issued_ms``) and has never been used."""

    card_id: str
    customer: Customer
    issued_ms: int


class Growth:
    """Who joins when, which cards get replaced, which issued cards are still unused."""

    def __init__(self, population: Population, config: SimulatorConfig, run_tag: str) -> None:
        self.population = population
        self.config = config
        self.run_tag = run_tag
        # Its own stream: growth never shifts the legitimate or fraud draws' order.
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
        #: Reissue lags, drawn in the (deterministic) order the fraud becomes known.
        self._lag_rng = random.Random(int(self.rng.integers(0, 2**62)))
        self.unused: dict[str, IssuedCard] = {}
        self.joiners = self._plan_joiners()
        customers = population.customers
        #: When each customer starts paying (vectorised filter of the legit plan).
        self.active_from = np.array([c.active_from_ms for c in customers], dtype=np.int64)
        # Every card slot of every customer, flattened, for one vectorised draw a day.
        self._slot_customer = np.array(
            [c.index for c in customers for _ in c.cards], dtype=np.int64
        )
        self._slot_index = np.array([k for c in customers for k in range(len(c.cards))])
        self._serial = itertools.count()
        self._pending: list[tuple[int, int, str]] = []
        #: Card -> when its reissue after fraud is due (the earliest asked for).
        self._scheduled: dict[str, int] = {}
        self._seq = itertools.count()
        self.replaced = 0

    def _plan_joiners(self) -> int:
        config = self.config
        customers = self.population.customers
        n = len(customers)
        joins = self.rng.random(n) < config.new_customer_share
        positions = self.rng.random(n)
        instant = self.rng.random(n) < P_INSTANT_CARD
        lead = np.where(
            instant,
            self.rng.uniform(5 * MINUTE_MS, 2 * HOUR_MS, n),
            self.rng.uniform(2 * DAY_MS, 10 * DAY_MS, n),
        )
        for index in np.flatnonzero(joins).tolist():
            customer = customers[index]
            joined = config.start_ms + int(positions[index] * config.join_span_ms)
            customer.active_from_ms = joined
            customer.account_created_ms = joined - int(lead[index])
            for card in customer.cards:
                self.unused[card] = IssuedCard(card, customer, customer.account_created_ms)
        return int(joins.sum())

    # asked by the planners and scenarios --------------------------------------
    def is_active(self, customer: Customer, t: int) -> bool:
        return customer.active_from_ms <= t

    def note_used(self, card_id: str) -> None:
        """``card_id`` has transacted: it is no longer a never-used card."""
        self.unused.pop(card_id, None)

    def unused_at(self, t: int) -> list[IssuedCard]:
        """Cards issued before ``t`` and never used so far, in issue order."""
        return [card for card in self.unused.values() if card.issued_ms < t]

    # replacements ---------------------------------------------------------------
    def schedule_replacement(self, card_id: str, known_ms: int) -> None:
        """The bank learned at ``known_ms`` that ``card_id`` was abused: block and reissue it."""
        if not self.config.reissue_after_fraud or card_id not in self.population.card_to_customer:
            return  # a fraudster's own account is closed, not reissued
        due = known_ms + int(self._lag_rng.uniform(*_REISSUE_AFTER_FRAUD_DAYS) * DAY_MS)
        # Labels are scheduled when fraud is planned, not in the order they become
        # known: a later episode's fraud may be known first, and then it counts.
        if due < self._scheduled.get(card_id, due + 1):
            self._scheduled[card_id] = due
            heapq.heappush(self._pending, (due, next(self._seq), card_id))

    def start_day(self, window_start: int) -> None:
        """Replace the cards due by ``window_start``: the new numbers work from then on."""
        population = self.population
        customers = population.customers
        while self._pending and self._pending[0][0] <= window_start:
            card_id = heapq.heappop(self._pending)[2]
            customer = customers[population.card_to_customer[card_id]]
            if card_id in customer.cards:  # not already replaced for another reason
                self._replace(customer, customer.cards.index(card_id), window_start)
        rate = self.config.card_replacement_rate
        if rate <= 0.0:
            return
        hits = np.flatnonzero(self.rng.random(len(self._slot_customer)) < rate)
        for hit in hits.tolist():
            customer = customers[int(self._slot_customer[hit])]
            if self.is_active(customer, window_start):
                self._replace(customer, int(self._slot_index[hit]), window_start)

    def new_card_id(self) -> str:
        """A card number issued during the run (a replacement, a fraudster's new account)."""
        return f"ca-{self.run_tag}-{next(self._serial):07d}"

    def _replace(self, customer: Customer, slot: int, t: int) -> None:
        old = customer.cards[slot]
        self.unused.pop(old, None)
        new = self.new_card_id()
        customer.cards[slot] = new
        self.population.card_to_customer[new] = customer.index
        self.unused[new] = IssuedCard(new, customer, t)
        self.replaced += 1
