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

import numpy as np
from numpy.typing import NDArray

from contracts.events import Transaction
from feature_store.plan import Arg, CompiledPlan, cents

__all__ = ["COLD_START_FEATURES", "FEATURE_NAMES", "derive_batch"]

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


def _risk(frauds: NDArray[np.float64], labels: NDArray[np.float64]) -> NDArray[np.float64]:
    risk: NDArray[np.float64] = (frauds + RISK_PRIOR * RISK_STRENGTH) / (labels + RISK_STRENGTH)
    return risk


def _haversine_km(
    lat1: NDArray[np.float64],
    lon1: NDArray[np.float64],
    lat2: NDArray[np.float64],
    lon2: NDArray[np.float64],
) -> NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    km: NDArray[np.float64] = 2 * _EARTH_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return km


def _coordinate(text: Arg) -> float:
    return NAN if text == "" else float(text)


def derive_batch(
    plan: CompiledPlan, txs: Sequence[Transaction], replies: list[list[Arg]]
) -> NDArray[np.float64]:
    """The feature matrix of ``txs`` (rows in order, columns in ``FEATURE_NAMES`` order).

    Column arithmetic over the whole batch (numpy), not a Python loop per value:
    the replies become one float matrix in one conversion. ``replies`` are the
    store's, one per transaction; their two coordinate texts are replaced by 0
    in place (they are read first).
    """
    n = len(txs)
    if n == 0:
        return np.empty((0, len(FEATURE_NAMES)))
    o = plan.offsets
    last = o["card_last"]
    prev_lat = np.array([_coordinate(r[last + 2]) for r in replies])
    prev_lon = np.array([_coordinate(r[last + 3]) for r in replies])
    for r in replies:
        r[last + 2] = r[last + 3] = 0
    R = np.array(replies, dtype=np.float64)

    t = np.array([tx.event_time_ms for tx in txs], dtype=np.float64)
    amount = np.array([tx.amount for tx in txs], dtype=np.float64)
    amount_c = np.array([cents(tx.amount) for tx in txs], dtype=np.float64)
    has_device = np.array([tx.device_id is not None for tx in txs])
    has_ip = np.array([tx.ip is not None for tx in txs])
    has_payee = np.array([tx.payee_id is not None for tx in txs])
    lat = np.array([NAN if tx.lat is None or tx.lon is None else tx.lat for tx in txs])
    lon = np.array([NAN if tx.lat is None or tx.lon is None else tx.lon for tx in txs])
    channel = [tx.channel for tx in txs]
    created = np.array(
        [NAN if tx.account_created_ms is None else tx.account_created_ms for tx in txs],
        dtype=np.float64,
    )

    def col(i: int) -> NDArray[np.float64]:
        return R[:, i]

    def where(present: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(present, values, NAN)

    with np.errstate(divide="ignore", invalid="ignore"):
        # card windows: minutes (10, 60), hours (24), days (7, 30, max)
        m, hr, d = o["card_minutes"], o["card_hours"], o["card_days"]
        count_30d, sum_30d, max_30d = col(d + 2), col(d + 3), col(d + 4)
        prior_count = count_30d - 1
        prior_mean = where(prior_count > 0, (sum_30d - amount_c) / prior_count)

        # last event, location and hour profile
        prev_t, prev_gt = col(last), col(last + 1)
        first_seen, history = col(last + 4), col(last + 5)
        seconds_since = where(prev_t >= 0, (t - prev_t) / 1000.0)
        located = ~np.isnan(lat) & ~np.isnan(prev_lat) & (prev_gt >= 0)
        km = where(located, _haversine_km(prev_lat, prev_lon, lat, lon))
        hours = np.maximum(np.abs(t - prev_gt) / 3_600_000.0, _MIN_SPEED_GAP_H)
        speed = km / hours
        hp = o["card_hours_of_day"]
        near, total = col(hp), col(hp + 1)

        def pair(
            name: str, present: NDArray[np.bool_]
        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            i = o[name]
            return where(present, col(i)), where(present, col(i + 1))

        always = np.ones(n, dtype=bool)
        new_device, devices = pair("card_devices", has_device)
        new_ip, ips = pair("card_ips", has_ip)
        new_country, countries = pair("card_countries", always)
        new_merchant = col(o["card_merchants"])
        new_payee = where(has_payee, col(o["customer_payees"]))

        def windows(name: str, present: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
            i = o[name]
            return [
                where(present, col(i)),
                where(present, col(i + 1) / 100),
                where(present, col(i + 2)),
                where(present, col(i + 3) / 100),
            ]

        cu = windows("customer_velocity", always)
        dv = windows("device_velocity", has_device)
        ipv = windows("ip_velocity", has_ip)
        mv = windows("merchant_velocity", always)
        dc, ic, mc = o["device_cards"], o["ip_cards"], o["merchant_cards"]

        def risk(
            name: str, present: NDArray[np.bool_]
        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            i = o[name]
            labels, frauds = col(i), col(i + 1)
            return where(present, _risk(frauds, labels)), where(present, labels)

        device_risk = risk("device_labels", has_device)
        ip_risk = risk("ip_labels", has_ip)
        merchant_risk = risk("merchant_labels", always)
        hour = (t // 3_600_000) % 24
        weekday = ((t // DAY_MS) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0

        columns = [
            amount, hour, weekday,
            np.array([c == "ecom" for c in channel], dtype=np.float64),
            np.array([c == "atm" for c in channel], dtype=np.float64),
            np.array([c == "transfer" for c in channel], dtype=np.float64),
            (t - created) / DAY_MS,
            col(m), col(m + 1) / 100, col(m + 2), col(m + 3) / 100,
            col(hr), col(hr + 1) / 100, col(d), col(d + 1) / 100,
            count_30d, where(count_30d > 0, sum_30d / count_30d / 100), max_30d / 100,
            where(prior_mean > 0, amount_c / prior_mean),
            where(max_30d > 0, amount_c / max_30d),
            history, where(first_seen >= 0, (t - first_seen) / DAY_MS), seconds_since,
            km, speed, where(total > 0, near / total),
            new_device, new_ip, new_country, new_merchant,
            devices, ips, countries,
            cu[0], cu[1], cu[2], cu[3], new_payee,
            dv[0], dv[2], where(has_device, col(dc + 1)), where(has_device, col(dc + 2)),
            ipv[0], ipv[2], where(has_ip, col(ic + 1)), where(has_ip, col(ic + 2)),
            mv[0], mv[2], mv[3], col(mc + 1),
            device_risk[0], device_risk[1], ip_risk[0], ip_risk[1],
            merchant_risk[0], merchant_risk[1],
        ]  # fmt: skip
    return np.column_stack(columns)
