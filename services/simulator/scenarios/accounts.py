"""Fraud through the customer's online account rather than the card.

``account_takeover``
    The fraudster asks support for a password reset / new phone registration
    (a ``UserMessage``), then 5-90 minutes later logs in from a device and an
    IP the customer has never used (a hosting provider or a foreign line) and
    moves money out: a large transfer to a new or mule payee, sometimes more
    transfers or a pricey online purchase.

``app_scam``
    Authorised push payment fraud: a "bank security team" caller talks the
    victim into moving money to a "safe account". The victim's own messages
    announce it, then the *victim* pays - from their usual device and IP - a
    large transfer to a payee they never paid before. Only the new payee, the
    amount and the words give it away.
"""

from __future__ import annotations

import math

from services.simulator.geo import CITIES
from services.simulator.rhythm import DAYTIME_PROFILE, place_one
from services.simulator.scenarios.common import (
    MINUTE_MS,
    Episode,
    far_cities,
    pick,
    pick_ecom,
    pick_victim,
)
from services.simulator.world import World

__all__ = ["account_takeover", "app_scam"]

_ATO_SHOP_MCCS = ("5732", "5999")


def account_takeover(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    population = world.population
    episode = Episode(world, "account_takeover")
    customer = pick_victim(world, rng, since=window_start)
    home = CITIES[customer.home_city]
    t = place_one(window_start, DAYTIME_PROFILE.sample_one(rng), home.utc_offset_h)
    episode.message(world.message(customer, t, "ato_reset"), "ato_reset")
    device = world.new_device()
    attacker_city = pick(rng, far_cities(customer.home_city, 500.0))
    country = None if rng.random() < 0.5 else CITIES[attacker_city].country
    ip = world.random_ip(rng, country)
    payee = pick(rng, world.mule_payees) if rng.random() < 0.5 else world.new_payee()
    transfers = population.merchants[population.transfer_by_country[home.country]]
    t += int(rng.uniform(5.0, 90.0) * MINUTE_MS)
    amount = min(20_000.0, 2_500.0 * math.exp(rng.gauss(0.0, 0.5)))
    episode.fraud_tx(
        world.transaction(
            customer=customer, card=0, t=t, merchant=transfers, channel="transfer",
            amount_eur=amount, device=device, ip=ip, city=attacker_city, payee=payee,
        )
    )  # fmt: skip
    for _ in range(int(rng.random() * 3)):
        t += int(rng.uniform(3.0, 30.0) * MINUTE_MS)
        if rng.random() < 0.6:
            tx = world.transaction(
                customer=customer, card=0, t=t, merchant=transfers, channel="transfer",
                amount_eur=rng.uniform(500.0, 2_000.0), device=device, ip=ip,
                city=attacker_city, payee=payee,
            )  # fmt: skip
        else:
            tx = world.transaction(
                customer=customer, card=0, t=t, merchant=pick_ecom(world, rng, _ATO_SHOP_MCCS),
                channel="ecom", amount_eur=rng.uniform(300.0, 1_500.0), device=device, ip=ip,
                city=attacker_city,
            )  # fmt: skip
        episode.fraud_tx(tx)
    return episode.finish()


def app_scam(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    population = world.population
    episode = Episode(world, "app_scam")
    customer = pick_victim(world, rng, since=window_start)
    home = CITIES[customer.home_city]
    t = place_one(window_start, DAYTIME_PROFILE.sample_one(rng), home.utc_offset_h)
    episode.message(world.message(customer, t, "app_scam_before"), "app_scam_before")
    if rng.random() < 0.4:  # a second, more anxious message
        t += int(rng.uniform(5.0, 30.0) * MINUTE_MS)
        episode.message(world.message(customer, t, "app_scam_before"), "app_scam_before")
    # The victim pays from their own phone and home line: nothing looks foreign.
    device = customer.devices[-1]
    ip = customer.ips[0]
    # A payee the victim never paid: a repeat victim is not sent to the same mule twice.
    paid = world.mules_paid.setdefault(customer.customer_id, set())
    mules = [p for p in world.mule_payees if p not in paid]
    payee = pick(rng, mules) if mules and rng.random() < 0.5 else world.new_payee()
    paid.add(payee)
    transfers = population.merchants[population.transfer_by_country[home.country]]
    t += int(rng.uniform(10.0, 60.0) * MINUTE_MS)
    amount = min(25_000.0, max(500.0, 4_000.0 * math.exp(rng.gauss(0.0, 0.6))))
    for _ in range(1 + int(rng.random() < 0.3)):
        episode.fraud_tx(
            world.transaction(
                customer=customer, card=0, t=t, merchant=transfers, channel="transfer",
                amount_eur=amount, device=device, ip=ip, payee=payee,
            )
        )  # fmt: skip
        t += int(rng.uniform(15.0, 90.0) * MINUTE_MS)
        amount *= 0.5
    return episode.finish()
