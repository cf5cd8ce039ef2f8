"""Stolen card numbers used online by one operator: card testing and proxy/bot fraud.

``card_testing``
    A fraudster checks which of a batch of stolen card numbers still work:
    bursts of tiny online payments (0.50-2.99 EUR) at a digital-goods or
    marketplace merchant, many within minutes, all from one device and one IP,
    across 5-15 cards. Bots do not sleep, so any hour.

``proxy_ip``
    A bot behind a hosting provider's IP cashes out many cards with ordinary
    online purchases (20-600 EUR) over a few hours at several merchants; its
    device fingerprint rotates, the IP does not: one datacenter IP, many cards.
"""

from __future__ import annotations

import math

from services.simulator.geo import CITIES
from services.simulator.rhythm import BOT_PROFILE, place_one
from services.simulator.scenarios.common import (
    DATACENTER_CITIES,
    HOUR_MS,
    Episode,
    pick,
    pick_ecom,
)
from services.simulator.world import World

__all__ = ["card_testing", "proxy_ip"]

_TEST_AMOUNTS_EUR = (0.5, 1.0, 1.0, 1.0, 1.5, 2.0, 2.5, 2.99)
_TEST_MCCS = ("5815", "5818", "5999", "7995")
_CASHOUT_MCCS = ("5999", "5732", "5691", "4511")


def card_testing(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    episode = Episode(world, "card_testing")
    city = pick(rng, range(len(CITIES)))
    device = world.new_device()
    ip = world.random_ip(rng, None if rng.random() < 0.7 else CITIES[city].country)
    merchant = pick_ecom(world, rng, _TEST_MCCS)
    t = place_one(window_start, BOT_PROFILE.sample_one(rng), 0)
    for _ in range(5 + int(rng.random() * 11)):
        # Stolen numbers are of cards in use (never-used ones: bin_attack).
        customer = world.random_active_customer(rng, window_start)
        card = int(rng.random() * len(customer.cards))
        # One to three tries per card, a few seconds apart: a script, not a person.
        for _ in range(1 + int(rng.random() * 3)):
            t += int(rng.uniform(4.0, 35.0) * 1000)
            tx = world.transaction(
                customer=customer, card=card, t=t, merchant=merchant, channel="ecom",
                amount_eur=pick(rng, _TEST_AMOUNTS_EUR), device=device, ip=ip, city=city,
            )  # fmt: skip
            episode.fraud_tx(tx)
    return episode.finish()


def proxy_ip(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    episode = Episode(world, "proxy_ip")
    ip = world.random_ip(rng, None)
    city = pick(rng, DATACENTER_CITIES)
    start = place_one(window_start, BOT_PROFILE.sample_one(rng), 0)
    duration_ms = int(rng.uniform(1.0, 6.0) * HOUR_MS)
    fingerprints = [world.new_device() for _ in range(2 + int(rng.random() * 4))]
    planned = []
    for _ in range(8 + int(rng.random() * 18)):
        customer = world.random_active_customer(rng, window_start)
        card = int(rng.random() * len(customer.cards))
        for _ in range(1 + int(rng.random() < 0.5)):
            planned.append((start + int(rng.random() * duration_ms), customer, card))
    planned.sort(key=lambda row: row[0])
    for t, customer, card in planned:
        merchant = pick_ecom(world, rng, _CASHOUT_MCCS)
        amount = min(600.0, max(20.0, 120.0 * math.exp(rng.gauss(0.0, 0.6))))
        tx = world.transaction(
            customer=customer, card=card, t=t, merchant=merchant, channel="ecom",
            amount_eur=amount, device=pick(rng, fingerprints), ip=ip, city=city,
        )  # fmt: skip
        episode.fraud_tx(tx)
    return episode.finish()
