"""Places the simulated world happens in: real cities, currencies, IP ranges, distances.

The cities are real (coordinates rounded to 0.01 degree); the IP ranges are
synthetic but public-looking (no private, loopback or multicast space), one set
of first octets per country plus a separate "datacenter" set that proxies and
bots come from. Nothing here is random: randomness is drawn by the callers from
their own seeded generators, so this module stays a pure table.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = [
    "CITIES",
    "DATACENTER_OCTETS",
    "EUR_RATES",
    "HOME_COUNTRY_SHARES",
    "City",
    "cities_in",
    "country_currency",
    "haversine_km",
    "random_ip",
]


@dataclass(frozen=True, slots=True)
class City:
    name: str
    country: str
    lat: float
    lon: float
    #: Standard-time offset from UTC in hours (daylight saving is ignored on purpose:
    #: it only shifts the daily rhythm by an hour for half the year).
    utc_offset_h: int
    #: Relative size: how many customers and merchants live there.
    weight: float


CITIES: tuple[City, ...] = (
    # Germany: the bank's home market.
    City("Berlin", "DE", 52.52, 13.40, 1, 10.0),
    City("Hamburg", "DE", 53.55, 9.99, 1, 5.0),
    City("Munich", "DE", 48.14, 11.58, 1, 4.5),
    City("Cologne", "DE", 50.94, 6.96, 1, 3.0),
    City("Frankfurt", "DE", 50.11, 8.68, 1, 2.5),
    City("Stuttgart", "DE", 48.78, 9.18, 1, 2.0),
    City("Dusseldorf", "DE", 51.23, 6.78, 1, 2.0),
    City("Leipzig", "DE", 51.34, 12.37, 1, 1.8),
    City("Dresden", "DE", 51.05, 13.74, 1, 1.5),
    City("Nuremberg", "DE", 49.45, 11.08, 1, 1.5),
    # Neighbours where a minority of customers live and most trips go.
    City("Paris", "FR", 48.86, 2.35, 1, 6.0),
    City("Lyon", "FR", 45.76, 4.84, 1, 1.5),
    City("Amsterdam", "NL", 52.37, 4.90, 1, 3.0),
    City("Vienna", "AT", 48.21, 16.37, 1, 3.0),
    City("Warsaw", "PL", 52.23, 21.01, 1, 3.0),
    City("London", "GB", 51.51, -0.13, 0, 6.0),
    City("Madrid", "ES", 40.42, -3.70, 1, 3.5),
    City("Barcelona", "ES", 41.39, 2.17, 1, 3.0),
    City("Rome", "IT", 41.90, 12.50, 1, 3.0),
    City("Milan", "IT", 45.46, 9.19, 1, 2.5),
    City("Zurich", "CH", 47.38, 8.54, 1, 1.5),
    City("Lisbon", "PT", 38.72, -9.14, 0, 2.0),
    # Far away: long-haul trips, and where stolen cards turn up.
    City("New York", "US", 40.71, -74.01, -5, 4.0),
    City("Miami", "US", 25.76, -80.19, -5, 1.5),
    City("Sao Paulo", "BR", -23.55, -46.63, -3, 2.0),
    City("Lagos", "NG", 6.52, 3.38, 1, 1.0),
    City("Dubai", "AE", 25.20, 55.27, 4, 1.5),
    City("Bangkok", "TH", 13.76, 100.50, 7, 2.0),
    City("Mumbai", "IN", 19.08, 72.88, 5, 1.0),
    City("Singapore", "SG", 1.35, 103.82, 8, 1.5),
)

#: Where customers live: most in Germany, the rest in a few neighbours.
HOME_COUNTRY_SHARES: dict[str, float] = {
    "DE": 0.82,
    "AT": 0.04,
    "NL": 0.03,
    "FR": 0.03,
    "PL": 0.03,
    "GB": 0.03,
    "ES": 0.02,
}

_CURRENCY = {"GB": "GBP", "PL": "PLN", "CH": "CHF", "US": "USD", "BR": "BRL", "NG": "NGN"}
_EURO_AREA = {"DE", "FR", "NL", "AT", "ES", "IT", "PT"}

#: Units of each billing currency per EUR (fixed: the simulator has no FX market).
EUR_RATES: dict[str, float] = {"EUR": 1.0, "GBP": 0.85, "PLN": 4.3, "CHF": 0.95, "USD": 1.08}

# Synthetic, public-looking first octets per country: no 10/8, 100.64/10, 127/8,
# 169.254/16, 172.16/12, 192.168/16 or 224+ so that every address passes as public.
_COUNTRY_OCTETS: dict[str, tuple[int, ...]] = {
    "DE": (79, 84, 87, 91, 93, 217),
    "FR": (82, 86, 90, 176),
    "NL": (77, 83, 145),
    "AT": (80, 178, 212),
    "PL": (31, 89, 188),
    "GB": (81, 86, 109, 151),
    "ES": (88, 95, 213),
    "IT": (79, 151, 93),
    "CH": (85, 178),
    "PT": (94, 148),
    "US": (24, 50, 68, 98),
    "BR": (177, 179, 187),
    "NG": (102, 105, 197),
    "AE": (2, 94),
    "TH": (49, 58, 171),
    "IN": (49, 117, 122),
    "SG": (101, 116, 175),
}
#: Hosting providers: where proxies, VPN exits and bots come from.
DATACENTER_OCTETS: tuple[int, ...] = (45, 103, 104, 185, 193, 194)


def country_currency(country: str) -> str:
    """The billing currency of a card issued to someone living in ``country``."""
    return "EUR" if country in _EURO_AREA else _CURRENCY.get(country, "EUR")


def cities_in(country: str) -> list[int]:
    """Indexes into ``CITIES`` of the cities in ``country``."""
    return [i for i, city in enumerate(CITIES) if city.country == country]


def random_ip(rng: random.Random, country: str | None) -> str:
    """A public-looking IPv4 address in ``country``'s ranges, or a datacenter's when None."""
    octets = DATACENTER_OCTETS if country is None else _COUNTRY_OCTETS.get(country, (62,))
    first = octets[int(rng.random() * len(octets))]
    rest = rng.getrandbits(24)
    # Avoid .0 and .255 in the last octet: not wrong, but rarely a host.
    return f"{first}.{rest >> 16}.{(rest >> 8) & 0xFF}.{1 + (rest & 0xFF) % 254}"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (mean Earth radius; good to ~0.5% for our purpose)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))
