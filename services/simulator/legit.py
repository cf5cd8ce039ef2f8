"""Legitimate traffic: habits, rhythm, trips, new phones, new payees, benign messages.

Each simulated day is planned in a few vectorised numpy draws (how many
payments each customer makes, when, on which channel, and the uniforms that
pick merchant, card, device, IP, payee and label), sorted by time, and then
*assembled lazily* row by row while the stream is consumed. Planning a day for
5,000 customers takes milliseconds; assembling is the per-event cost, so a
paced Kafka stream never stalls on a whole day's worth of Python objects.

Realism that matters for the detectors downstream:

* trips: a customer occasionally travels (domestic, European, rarely long-haul)
  at a realistic speed - no payments while in transit, so two consecutive
  legitimate payments of a card never imply faster than ~650 km/h;
* new phones: a legitimate new device now and then becomes a usual one, so
  "new device" alone is not fraud; new IPs on trips and in cafes likewise;
* new payees: people add a landlord or a friend now and then;
* new customers pay only from the day they join, and a replaced card's new
  number simply takes over (growth.py): their first payments are cold starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from contracts.events import Channel
from services.simulator.geo import CITIES, HOME_COUNTRY_SHARES, cities_in, haversine_km
from services.simulator.labels import label_legit
from services.simulator.population import CHANNEL_INDEX, Customer, Trip
from services.simulator.rhythm import DAY_MS, day_factor, legit_profile, place_in_window
from services.simulator.world import SimulatedEvent, World

__all__ = ["LegitPlanner"]

HOUR_MS = 3_600_000
#: Per customer per day: chance of setting off on a trip.
P_TRIP = 0.004
#: Per remote payment: chance it comes from a brand-new phone or laptop (kept afterwards).
P_NEW_DEVICE = 0.004
#: Per remote payment at home: chance of an unfamiliar IP (cafe Wi-Fi, new mobile IP).
P_NEW_IP = 0.03
#: Per transfer: chance of a new payee (kept afterwards).
P_NEW_PAYEE = 0.08
P_FAVOURITE_SHOP = 0.7
P_FAVOURITE_SITE = 0.6
#: Door-to-door travel speed (flights with airports, trains): realistic, never impossible.
TRAVEL_KMH = 650.0
_ATM_EUR = (20.0, 50.0, 50.0, 100.0, 100.0, 150.0, 200.0, 300.0)
_EUROPE = [i for i, c in enumerate(CITIES) if c.country in HOME_COUNTRY_SHARES
           or c.country in ("IT", "CH", "PT")]  # fmt: skip
_FAR = [i for i, c in enumerate(CITIES) if i not in _EUROPE]
# Uniform columns of a day plan.
_U_CHANNEL, _U_FAV, _U_PICK, _U_TERMINAL, _U_DEVICE, _U_IP, _U_PAYEE, _U_LABEL, _U_CARD = range(9)


class LegitPlanner:
    """Plans and assembles the legitimate side of each simulated day."""

    def __init__(self, world: World) -> None:
        self.world = world
        customers = world.population.customers
        self.home_offsets = np.array(
            [CITIES[c.home_city].utc_offset_h for c in customers], dtype=np.int64
        )

    # trips -----------------------------------------------------------------
    def plan_trips(self, window_start: int) -> None:
        world = self.world
        customers = world.population.customers
        rng = world.legit_scalar_rng
        for index in np.flatnonzero(world.legit_rng.random(len(customers)) < P_TRIP).tolist():
            customer = customers[index]
            if customer.trip is not None and customer.trip.back_arrive_ms > window_start:
                continue
            home = CITIES[customer.home_city]
            roll = rng.random()
            domestic = [c for c in cities_in(home.country) if c != customer.home_city]
            if roll < 0.45 and domestic:
                options = domestic
            elif roll < 0.9:
                options = [c for c in _EUROPE if CITIES[c].country != home.country]
            else:
                options = _FAR
            city = options[int(rng.random() * len(options))]
            dest = CITIES[city]
            distance = haversine_km(home.lat, home.lon, dest.lat, dest.lon)
            travel_ms = int((distance / TRAVEL_KMH + 1.5) * HOUR_MS)
            depart = window_start + int((6.0 + 10.0 * rng.random()) * HOUR_MS)
            arrive = depart + travel_ms
            back_depart = arrive + int((2.0 + 7.0 * rng.random()) * DAY_MS)
            customer.trip = Trip(
                city=city,
                depart_ms=depart,
                arrive_ms=arrive,
                back_depart_ms=back_depart,
                back_arrive_ms=back_depart + travel_ms,
                ip=world.random_ip(rng, dest.country),
            )

    # benign messages -------------------------------------------------------
    def plan_messages(self, window_start: int) -> None:
        world = self.world
        rng = world.legit_rng
        customers = world.population.customers
        count = int(rng.poisson(len(customers) * world.config.benign_message_rate))
        for index in rng.integers(0, len(customers), size=count).tolist():
            customer = customers[index]
            local = legit_profile(window_start).sample(rng, 1)
            offset = CITIES[customer.home_city].utc_offset_h
            t = int(place_in_window(window_start, local, offset)[0])
            intent = "complaint" if rng.random() < 0.25 else "benign"
            if customer.active_from_ms <= t:  # nobody writes before having an account
                world.add_message(world.message(customer, t, intent), intent)

    # transactions ------------------------------------------------------------
    def plan_day(self, window_start: int) -> LegitDay:
        population = self.world.population
        rng = self.world.legit_rng
        counts = rng.poisson(population.activity * day_factor(window_start))
        customer_index = np.repeat(np.arange(len(counts)), counts)
        n = len(customer_index)
        local = legit_profile(window_start).sample(rng, n)
        times = place_in_window(window_start, local, self.home_offsets[customer_index])
        # Customers who join later do not pay yet (growth.py).
        active = times >= self.world.growth.active_from[customer_index]
        customer_index, times = customer_index[active], times[active]
        n = len(customer_index)
        uniforms = rng.random((n, 9))
        normals = rng.standard_normal(n)
        cum = population.channel_cum[customer_index]
        channels = (uniforms[:, _U_CHANNEL, None] > cum[:, :3]).sum(axis=1)
        order = np.argsort(times, kind="stable")
        return LegitDay(
            self.world,
            times[order].tolist(),
            customer_index[order].tolist(),
            channels[order].tolist(),
            uniforms[order].tolist(),
            normals[order].tolist(),
        )


class LegitDay:
    """One day's planned legitimate payments, assembled one at a time in time order."""

    def __init__(
        self,
        world: World,
        times: list[int],
        customers: list[int],
        channels: list[int],
        uniforms: list[list[float]],
        normals: list[float],
    ) -> None:
        self.world = world
        self.times = times
        self._customers = customers
        self._channels = channels
        self._uniforms = uniforms
        self._normals = normals

    def __len__(self) -> int:
        return len(self.times)

    def events(self) -> Iterator[tuple[int, SimulatedEvent | None]]:
        """``(time, event)``; the event is None when the customer was in transit."""
        for i, t in enumerate(self.times):
            yield t, self._assemble(i, t)

    def _assemble(self, i: int, t: int) -> SimulatedEvent | None:
        world = self.world
        population = world.population
        customer = population.customers[self._customers[i]]
        city = world.location(customer, t)
        if city is None:
            return None
        u = self._uniforms[i]
        channel: Channel = CHANNEL_INDEX[self._channels[i]]  # type: ignore[assignment]
        spread = math.exp(0.6 * self._normals[i])
        card = int(u[_U_CARD] * len(customer.cards))
        device = ip = payee = terminal = None
        at_home = city == customer.home_city
        if channel == "pos":
            shops = customer.fav_pos if at_home and u[_U_FAV] < P_FAVOURITE_SHOP else None
            shops = shops or population.pos_by_city[city]
            merchant = population.merchants[shops[int(u[_U_PICK] * len(shops))]]
            terminal = merchant.terminals[int(u[_U_TERMINAL] * len(merchant.terminals))]
            amount = customer.typical_amount_eur * merchant.amount_scale * spread
        elif channel == "atm":
            atms = population.atm_by_city[city]
            merchant = population.merchants[atms[int(u[_U_PICK] * len(atms))]]
            terminal = merchant.terminals[0]
            amount = _ATM_EUR[int(u[_U_TERMINAL] * len(_ATM_EUR))]
        else:
            device = self._device(customer, u[_U_DEVICE])
            ip = self._ip(customer, city, u[_U_IP])
            if channel == "ecom":
                sites = customer.fav_ecom if u[_U_FAV] < P_FAVOURITE_SITE else population.ecom
                merchant = population.merchants[sites[int(u[_U_PICK] * len(sites))]]
                amount = customer.typical_amount_eur * merchant.amount_scale * spread
            else:
                home_country = CITIES[customer.home_city].country
                merchant = population.merchants[population.transfer_by_country[home_country]]
                payee = self._payee(customer, u[_U_PAYEE])
                amount = 220.0 * spread * spread  # rent, savings, paying back friends
        tx = world.transaction(
            customer=customer, card=card, t=t, merchant=merchant, channel=channel,
            amount_eur=amount, terminal=terminal, device=device, ip=ip, city=city, payee=payee,
        )  # fmt: skip
        world.growth.note_used(tx.card_id)
        label_legit(world, tx, u[_U_LABEL])
        return SimulatedEvent(tx)

    def _device(self, customer: Customer, roll: float) -> str:
        if roll < P_NEW_DEVICE:
            device = self.world.new_device()
            customer.devices.append(device)
            if len(customer.devices) > 3:  # the old phone is retired
                customer.devices.pop(0)
            return device
        devices = customer.devices
        return devices[int((roll - P_NEW_DEVICE) / (1 - P_NEW_DEVICE) * len(devices))]

    def _ip(self, customer: Customer, city: int, roll: float) -> str:
        if city != customer.home_city and customer.trip is not None:
            return customer.trip.ip
        if roll < P_NEW_IP:
            return self.world.random_ip(self.world.legit_scalar_rng, CITIES[city].country)
        ips = customer.ips
        return ips[int((roll - P_NEW_IP) / (1 - P_NEW_IP) * len(ips))]

    def _payee(self, customer: Customer, roll: float) -> str:
        if roll < P_NEW_PAYEE:
            payee = self.world.new_payee()
            customer.payees.append(payee)
            return payee
        payees = customer.payees
        return payees[int((roll - P_NEW_PAYEE) / (1 - P_NEW_PAYEE) * len(payees))]
