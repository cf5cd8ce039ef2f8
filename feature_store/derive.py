"""Turn a transaction and its store reply into the named feature vector.

One code path for online and offline: both backends return the same reply
layout, and this module alone names and computes the features. Missing
values are NaN (absent device, no previous location, no history).

Bad-value rules (stated once, here and in the README):
* amounts are validated upstream (``contracts``: > 0, <= 10M); stored as cents;
* a missing device / IP / payee gives NaN for that entity's features, never zero;
* a missing location gives NaN distance and speed; the previous *located*
  event is used for speed;
* speed uses at least one minute between events, so two located events in the
  same second read as a very high speed rather than infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from contracts.events import Transaction
from feature_store.plan import Arg, CompiledPlan, cents

__all__ = ["COLD_START_FEATURES", "FEATURE_NAMES", "derive"]

NAN = math.nan
DAY_MS = 86_400_000
_EARTH_KM = 6371.0088
# Smoothed label risk: (frauds + PRIOR * STRENGTH) / (labels + STRENGTH), so an
# entity with one fraud label out of one is not "100% risky".
RISK_PRIOR = 0.01
RISK_STRENGTH = 10.0
_MIN_SPEED_GAP_H = 1.0 / 60.0

FEATURE_NAMES: tuple[str, ...] = (
    # the transaction itself
    "amount", "hour_of_day", "day_of_week", "is_ecom", "is_atm", "is_transfer",
    "account_age_days",
    # card velocity (the current transaction included)
    "card_count_10m", "card_sum_10m", "card_count_1h", "card_sum_1h",
    "card_count_24h", "card_sum_24h", "card_count_7d", "card_sum_7d",
    "card_count_30d", "card_mean_30d", "card_max_30d",
    "amount_to_card_mean_30d", "amount_to_card_max_30d",
    # card history and behaviour
    "card_history_count", "card_age_days", "card_seconds_since_prev",
    "card_km_from_prev", "card_speed_kmh", "card_hour_share",
    "card_new_device", "card_new_ip", "card_new_country", "card_new_merchant",
    "card_devices_30d", "card_ips_30d", "card_countries_30d",
    # customer
    "customer_count_1h", "customer_sum_1h", "customer_count_24h", "customer_sum_24h",
    "customer_new_payee",
    # device, ip, merchant velocity and reach
    "device_count_1h", "device_count_24h", "device_cards_1h", "device_cards_24h",
    "ip_count_1h", "ip_count_24h", "ip_cards_1h", "ip_cards_24h",
    "merchant_count_1h", "merchant_count_24h", "merchant_sum_24h", "merchant_cards_24h",
    # label-based risk, labels known by the transaction's time
    "device_fraud_rate", "device_labels_30d", "ip_fraud_rate", "ip_labels_30d",
    "merchant_fraud_rate", "merchant_labels_30d",
)  # fmt: skip

#: Features that mean something for a card never seen before (cold start model).
COLD_START_FEATURES: tuple[str, ...] = (
    "amount", "hour_of_day", "day_of_week", "is_ecom", "is_atm", "is_transfer",
    "account_age_days", "customer_count_24h", "customer_new_payee",
    "device_count_24h", "device_cards_24h", "ip_count_24h", "ip_cards_24h",
    "merchant_count_24h", "merchant_cards_24h",
    "device_fraud_rate", "ip_fraud_rate", "merchant_fraud_rate",
)  # fmt: skip


def _risk(frauds: float, labels: float) -> float:
    return (frauds + RISK_PRIOR * RISK_STRENGTH) / (labels + RISK_STRENGTH)


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def _f(x: Arg) -> float:
    return float(x)


def derive(plan: CompiledPlan, tx: Transaction, reply: Sequence[Arg]) -> list[float]:
    """The feature vector of ``tx`` in ``FEATURE_NAMES`` order."""
    o = plan.offsets
    r = reply
    t = tx.event_time_ms
    amount_c = cents(tx.amount)

    # card windows: minutes (10, 60), hours (24), days (7, 30, max)
    m, hr, d = o["card_minutes"], o["card_hours"], o["card_days"]
    count_30d, sum_30d, max_30d = _f(r[d + 2]), _f(r[d + 3]), _f(r[d + 4])
    prior_count = count_30d - 1
    prior_mean = (sum_30d - amount_c) / prior_count if prior_count > 0 else NAN

    # last event, location and hour profile
    last = o["card_last"]
    prev_t, prev_gt, prev_lat, prev_lon = int(r[last]), int(r[last + 1]), r[last + 2], r[last + 3]
    first_seen, history = int(r[last + 4]), _f(r[last + 5])
    seconds_since = (t - prev_t) / 1000.0 if prev_t >= 0 else NAN
    km = speed = NAN
    if tx.lat is not None and tx.lon is not None and prev_lat != "" and prev_gt >= 0:
        km = _haversine_km(float(str(prev_lat)), float(str(prev_lon)), tx.lat, tx.lon)
        hours = max(abs(t - prev_gt) / 3_600_000.0, _MIN_SPEED_GAP_H)
        speed = km / hours
    hp = o["card_hours_of_day"]
    near, total = _f(r[hp]), _f(r[hp + 1])

    def new_and_count(name: str, present: bool) -> tuple[float, float]:
        i = o[name]
        return (_f(r[i]), _f(r[i + 1])) if present else (NAN, NAN)

    new_device, devices = new_and_count("card_devices", tx.device_id is not None)
    new_ip, ips = new_and_count("card_ips", tx.ip is not None)
    new_country, countries = new_and_count("card_countries", True)
    new_merchant = _f(r[o["card_merchants"]])
    new_payee, _ = new_and_count("customer_payees", tx.payee_id is not None)

    def window_pair(name: str, present: bool) -> tuple[float, float, float, float]:
        i = o[name]
        if not present:
            return NAN, NAN, NAN, NAN
        return _f(r[i]), _f(r[i + 1]) / 100, _f(r[i + 2]), _f(r[i + 3]) / 100

    cu = window_pair("customer_velocity", True)
    dv = window_pair("device_velocity", tx.device_id is not None)
    ipv = window_pair("ip_velocity", tx.ip is not None)
    mv = window_pair("merchant_velocity", True)
    dc = o["device_cards"]
    ic = o["ip_cards"]
    mc = o["merchant_cards"]

    def risk(name: str, present: bool) -> tuple[float, float]:
        i = o[name]
        if not present:
            return NAN, NAN
        labels, frauds = _f(r[i]), _f(r[i + 1])
        return _risk(frauds, labels), labels

    device_risk = risk("device_labels", tx.device_id is not None)
    ip_risk = risk("ip_labels", tx.ip is not None)
    merchant_risk = risk("merchant_labels", True)
    hour = (t // 3_600_000) % 24
    weekday = ((t // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    account_age = (t - tx.account_created_ms) / DAY_MS if tx.account_created_ms is not None else NAN

    return [
        tx.amount, float(hour), float(weekday),
        float(tx.channel == "ecom"), float(tx.channel == "atm"), float(tx.channel == "transfer"),
        account_age,
        _f(r[m]), _f(r[m + 1]) / 100, _f(r[m + 2]), _f(r[m + 3]) / 100,
        _f(r[hr]), _f(r[hr + 1]) / 100, _f(r[d]), _f(r[d + 1]) / 100,
        count_30d, sum_30d / count_30d / 100 if count_30d > 0 else NAN, max_30d / 100,
        amount_c / prior_mean if prior_mean == prior_mean and prior_mean > 0 else NAN,
        amount_c / max_30d if max_30d > 0 else NAN,
        history, (t - first_seen) / DAY_MS if first_seen >= 0 else NAN, seconds_since,
        km, speed, near / total if total > 0 else NAN,
        new_device, new_ip, new_country, new_merchant,
        devices, ips, countries,
        cu[0], cu[1], cu[2], cu[3], new_payee,
        dv[0], dv[2],
        _f(r[dc + 1]) if tx.device_id is not None else NAN,
        _f(r[dc + 2]) if tx.device_id is not None else NAN,
        ipv[0], ipv[2],
        _f(r[ic + 1]) if tx.ip is not None else NAN,
        _f(r[ic + 2]) if tx.ip is not None else NAN,
        mv[0], mv[2], mv[3], _f(r[mc + 1]),
        device_risk[0], device_risk[1], ip_risk[0], ip_risk[1],
        merchant_risk[0], merchant_risk[1],
    ]  # fmt: skip
