"""Fraud on cards nobody has used yet: the feature store sees a card's first transaction.

``bin_attack``
    Card-number enumeration: a bot runs through card numbers in one of the
    bank's BINs (with guessed expiry and CVV) and fires a tiny online payment
    at each, 1-8 seconds apart, from one device and one datacenter IP; 5-12
    numbers go through before the issuer's velocity limits stop the run. The
    numbers that work are mostly cards that were issued but never used yet (a
    new customer's card in the post, a just-replaced card): their first
    transaction ever is the attack. A few hits land on live cards of the same
    BIN when too few fresh ones exist.

``new_account_fraud``
    A fraudster opens an account with a synthetic or stolen identity (a local
    address, so nothing foreign about the customer record), gets an instant
    virtual card and, minutes to hours later, busts out: maybe a small warm-up
    purchase, then one to three large transfers to mule payees or pricey online
    purchases, all from a device and IP that no genuine customer uses. A ring
    opens one to three accounts in a row from the same device, and reuses
    devices across episodes. Nobody legitimate ever pays with these accounts.
"""

from __future__ import annotations

import math

from services.simulator.geo import CITIES, country_currency
from services.simulator.growth import IssuedCard
from services.simulator.population import Customer
from services.simulator.rhythm import BOT_PROFILE, place_one
from services.simulator.scenarios.common import (
    DATACENTER_CITIES,
    MINUTE_MS,
    Episode,
    pick,
    pick_ecom,
)
from services.simulator.world import World

__all__ = ["bin_attack", "new_account_fraud"]

_ENUMERATION_MCCS = ("5815", "5818", "5942")
_ENUMERATION_AMOUNTS_EUR = (0.5, 0.5, 0.75, 1.0, 1.0)
_BUST_OUT_MCCS = ("5732", "5999", "4511")
#: Chance a new fraudulent account is opened from a device the ring used before.
_P_RING_DEVICE = 0.35


def bin_attack(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    episode = Episode(world, "bin_attack")
    t = place_one(window_start, BOT_PROFILE.sample_one(rng), 0)
    fresh = world.growth.unused_at(t)
    # The attacked BIN: that of a random never-used card (BINs with many fresh
    # cards are hit more), or any BIN when the bank has no fresh card at all.
    if fresh:
        chosen = pick(rng, fresh)
        card_bin = _bin_of(chosen)
    else:
        card_bin = pick(rng, world.random_active_customer(rng, t).card_bins)
    wanted = 5 + int(rng.random() * 8)
    in_bin = [card for card in fresh if _bin_of(card) == card_bin]
    hits: list[tuple[Customer, str]] = [
        (card.customer, card.card_id) for card in rng.sample(in_bin, min(wanted, len(in_bin)))
    ]
    taken = {card_id for _, card_id in hits}
    for _ in range(20 * wanted):  # top up with live cards of the same BIN
        if len(hits) >= wanted:
            break
        customer = world.random_active_customer(rng, t)
        live = [c for c, b in zip(customer.cards, customer.card_bins, strict=True)
                if b == card_bin and c not in taken]  # fmt: skip
        if live:
            hits.append((customer, pick(rng, live)))
            taken.add(hits[-1][1])
    rng.shuffle(hits)  # enumeration order is not issue order
    device = world.new_device()
    ip = world.random_ip(rng, None)
    city = pick(rng, DATACENTER_CITIES)
    merchant = pick_ecom(world, rng, _ENUMERATION_MCCS)
    for customer, card_id in hits:
        # A second try now and then: the script guessed the expiry or CVV wrong.
        for _ in range(1 + int(rng.random() < 0.2)):
            t += int(rng.uniform(1.0, 8.0) * 1000)
            tx = world.transaction(
                customer=customer, card=customer.cards.index(card_id), t=t, merchant=merchant,
                channel="ecom", amount_eur=pick(rng, _ENUMERATION_AMOUNTS_EUR), device=device,
                ip=ip, city=city,
            )  # fmt: skip
            episode.fraud_tx(tx)
    return episode.finish()


def _bin_of(card: IssuedCard) -> str:
    customer = card.customer
    return customer.card_bins[customer.cards.index(card.card_id)]


def new_account_fraud(world: World, window_start: int) -> int:
    rng = world.fraud_rng
    episode = Episode(world, "new_account_fraud")
    # The identities claim addresses where real customers live.
    template = world.random_customer(rng)
    home = CITIES[template.home_city]
    if world.ring_devices and rng.random() < _P_RING_DEVICE:
        device = pick(rng, world.ring_devices)
    else:
        device = world.new_device()
        world.ring_devices.append(device)
    ip = world.random_ip(rng, None if rng.random() < 0.5 else home.country)
    opened = place_one(window_start, BOT_PROFILE.sample_one(rng), home.utc_offset_h)
    # A ring opens one to three accounts in a row from the same device.
    for _ in range(1 + int(rng.random() * 3)):
        account = _open_account(world, template, opened, device, ip)
        _bust_out(world, episode, account, opened)
        opened += int(rng.uniform(5.0, 40.0) * MINUTE_MS)
    return episode.finish()


def _open_account(world: World, template: Customer, opened: int, device: str, ip: str) -> Customer:
    rng = world.fraud_rng
    account = Customer(
        index=-1,
        customer_id=world.new_customer_id(),
        home_city=template.home_city,
        currency=country_currency(CITIES[template.home_city].country),
        account_created_ms=opened,
        cards=[world.growth.new_card_id()],
        card_bins=[pick(rng, template.card_bins)],
        devices=[device],
        ips=[ip],
        payees=[],
        typical_amount_eur=template.typical_amount_eur,
        fav_pos=[],
        fav_ecom=[],
        active_from_ms=opened,
    )
    world.register_fraud_account(account)
    return account


def _bust_out(world: World, episode: Episode, account: Customer, opened: int) -> None:
    """An instant virtual card, maybe a small test purchase, then one to three big cash-outs."""
    rng = world.fraud_rng
    population = world.population
    device, ip = account.devices[0], account.ips[0]
    country = CITIES[account.home_city].country
    transfers = population.merchants[population.transfer_by_country[country]]
    t = opened + int(rng.uniform(5.0, 240.0) * MINUTE_MS)
    if rng.random() < 0.3:  # see that the card works
        episode.fraud_tx(
            world.transaction(
                customer=account, card=0, t=t,
                merchant=population.merchants[pick(rng, population.ecom)], channel="ecom",
                amount_eur=rng.uniform(5.0, 40.0), device=device, ip=ip,
            )
        )  # fmt: skip
        t += int(rng.uniform(10.0, 120.0) * MINUTE_MS)
    for _ in range(1 + int(rng.random() * 3)):
        if rng.random() < 0.55:
            amount = min(9_000.0, max(800.0, 2_000.0 * math.exp(rng.gauss(0.0, 0.5))))
            tx = world.transaction(
                customer=account, card=0, t=t, merchant=transfers, channel="transfer",
                amount_eur=amount, device=device, ip=ip, payee=pick(rng, world.mule_payees),
            )  # fmt: skip
        else:
            amount = min(2_500.0, max(300.0, 900.0 * math.exp(rng.gauss(0.0, 0.5))))
            tx = world.transaction(
                customer=account, card=0, t=t, merchant=pick_ecom(world, rng, _BUST_OUT_MCCS),
                channel="ecom", amount_eur=amount, device=device, ip=ip,
            )  # fmt: skip
        episode.fraud_tx(tx)
        t += int(rng.uniform(10.0, 8 * 60.0) * MINUTE_MS)
