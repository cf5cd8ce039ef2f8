"""Card-present fraud with cloned or stolen cards.

``compromised_terminal``
    A skimmer sits on one terminal of a fuel station, supermarket or
    restaurant for 1-3 days. Local customers pay there normally (legitimate
    transactions, tagged with the episode); days later (1-14) most of those
    cards are cashed out in another city - ATM withdrawals and shop purchases
    within a couple of hours. The common point of purchase is the signature.

``impossible_travel``
    A customer pays at home; 20-120 minutes later the same card is used
    2,500+ km away (a cloned card at an ATM or a shop). Consecutive payments
    of the card imply a speed no traveller reaches.
"""

from __future__ import annotations

import math

from contracts.events import Channel
from services.simulator.geo import CITIES
from services.simulator.population import Customer, Merchant
from services.simulator.rhythm import DAY_MS, legit_profile, place_one
from services.simulator.scenarios.common import MINUTE_MS, Episode, far_cities, pick, pick_victim
from services.simulator.world import World

__all__ = ["compromised_terminal", "impossible_travel"]

_SKIMMED_MCCS = ("5541", "5411", "5812", "5499")
_CASHOUT_POS_MCCS = ("5732", "5944", "5311", "5651")


def compromised_terminal(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    population = world.population
    episode = Episode(world, "compromised_terminal")
    # A random customer's home city: skimming happens where the customers are.
    city = world.random_active_customer(rng, window_start).home_city
    shops = [population.merchants[i] for i in population.pos_by_city[city]]
    shop = pick(rng, [m for m in shops if m.mcc in _SKIMMED_MCCS] or shops)
    terminal = pick(rng, shop.terminals)
    offset = CITIES[city].utc_offset_h
    skim_start = place_one(window_start, legit_profile(window_start).sample_one(rng), offset)
    skim_ms = int(rng.uniform(1.0, 3.0) * DAY_MS)
    locals_ = world.customers_by_city.get(city, [])
    victims = rng.sample(locals_, min(len(locals_), 10 + int(rng.random() * 21)))
    for customer in victims:
        t = skim_start + int(rng.random() * skim_ms)
        if customer.active_from_ms > t or world.location(customer, t) != city:
            continue
        card = int(rng.random() * len(customer.cards))
        amount = customer.typical_amount_eur * shop.amount_scale * math.exp(rng.gauss(0.0, 0.5))
        episode.legit_tx(
            world.transaction(
                customer=customer, card=card, t=t, merchant=shop, channel="pos",
                amount_eur=amount, terminal=terminal,
            )
        )  # fmt: skip
        if rng.random() < 0.75:
            cash_out = t + int(rng.uniform(1.0, 14.0) * DAY_MS)
            _cash_out(world, episode, customer, card, cash_out, avoid_city=city)
    return episode.finish()


def _cash_out(
    world: World, episode: Episode, customer: Customer, card: int, t: int, avoid_city: int
) -> None:
    rng = world.fraud_rng
    population = world.population
    city = pick(rng, far_cities(avoid_city, 300.0))
    for _ in range(1 + int(rng.random() * 3)):
        channel: Channel
        if rng.random() < 0.6:
            channel = "atm"
            merchant = population.merchants[pick(rng, population.atm_by_city[city])]
            amount = float(pick(rng, (200, 250, 300, 400, 500)))
        else:
            channel = "pos"
            merchant = _shop(world, city, _CASHOUT_POS_MCCS)
            amount = 250.0 * math.exp(rng.gauss(0.0, 0.5))
        tx = world.transaction(
            customer=customer, card=card, t=t, merchant=merchant, channel=channel,
            amount_eur=amount, terminal=pick(rng, merchant.terminals),
        )  # fmt: skip
        episode.fraud_tx(tx)
        t += int(rng.uniform(3.0, 50.0) * MINUTE_MS)


def impossible_travel(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    population = world.population
    episode = Episode(world, "impossible_travel")
    anchor_local = legit_profile(window_start).sample_one(rng)
    customer = pick_victim(world, rng, since=window_start)
    home = customer.home_city
    t = place_one(window_start, anchor_local, CITIES[home].utc_offset_h)
    # The genuine purchase at home that the card's history will show first.
    shop = population.merchants[pick(rng, customer.fav_pos)]
    card = int(rng.random() * len(customer.cards))
    amount = customer.typical_amount_eur * shop.amount_scale * math.exp(rng.gauss(0.0, 0.5))
    episode.legit_tx(
        world.transaction(
            customer=customer, card=card, t=t, merchant=shop, channel="pos",
            amount_eur=amount, terminal=pick(rng, shop.terminals),
        )
    )  # fmt: skip
    far = pick(rng, far_cities(home, 2_500.0))
    t += int(rng.uniform(20.0, 120.0) * MINUTE_MS)
    for _ in range(1 + int(rng.random() * 3)):
        channel: Channel
        if rng.random() < 0.4:
            channel = "atm"
            merchant = population.merchants[pick(rng, population.atm_by_city[far])]
            amount = float(pick(rng, (200, 300, 400, 500)))
        else:
            channel = "pos"
            merchant = _shop(world, far, _CASHOUT_POS_MCCS)
            amount = 300.0 * math.exp(rng.gauss(0.0, 0.5))
        tx = world.transaction(
            customer=customer, card=card, t=t, merchant=merchant, channel=channel,
            amount_eur=amount, terminal=pick(rng, merchant.terminals),
        )  # fmt: skip
        episode.fraud_tx(tx)
        t += int(rng.uniform(5.0, 60.0) * MINUTE_MS)
    return episode.finish()


def _shop(world: World, city: int, mccs: tuple[str, ...]) -> Merchant:
    population = world.population
    shops = [population.merchants[i] for i in population.pos_by_city[city]]
    return pick(world.fraud_rng, [m for m in shops if m.mcc in mccs] or shops)
