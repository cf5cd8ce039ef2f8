"""Seeded synthetic feature and label frames, for tests and benchmarks without real data.

Cards open throughout the period (so cold-start rows occur in every slice),
fraud is a few percent of rows with a learnable signal buried in noise, and
labels arrive late: chargebacks days to weeks after the fraud, a few fraud
rows never labeled at all, and some analyst verdicts on legitimate rows.
The frames satisfy the contracts in ``models.frame``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.frame import FeatureSpec
from models.split import DAY_MS

__all__ = ["COLD_START_FEATURES", "HISTORY_FEATURES", "SyntheticData", "make_synthetic_data"]

#: Features that exist for a card's first transaction.
COLD_START_FEATURES = (
    "amount_log",
    "hour_sin",
    "hour_cos",
    "is_ecom",
    "device_risk",
    "ip_risk",
    "merchant_risk",
    "account_age_days",
    "geo_distance_km",
)
#: Features that need history (NaN on a card's first transaction).
HISTORY_FEATURES = (
    "card_tx_count_1h",
    "card_amount_sum_24h",
    "card_amount_zscore",
    "card_distinct_merchants_24h",
    "card_new_device",
)
_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class SyntheticData:
    frame: pd.DataFrame
    labels: pd.DataFrame
    spec: FeatureSpec


def make_synthetic_data(
    *,
    rows: int = 6000,
    days: int = 60,
    cards: int = 1500,
    fraud_rate: float = 0.03,
    noise_features: int = 0,
    seed: int = 0,
) -> SyntheticData:
    """A feature frame, its labels and its spec; same seed, same data."""
    rng = np.random.default_rng(seed)
    # Transactions are spread evenly in time; each one goes to a card already open then,
    # and cards keep opening all period long, so every slice has cold-start rows.
    card_open = np.sort(rng.uniform(0, days * DAY_MS * 0.95, size=cards))
    card_open[0] = 0.0
    times = np.sort(rng.integers(0, days * DAY_MS, size=rows))
    open_count = np.searchsorted(card_open, times, side="right")
    card_of_row = (rng.random(rows) * open_count).astype(np.int64)
    times = times + _START_MS
    cold = ~pd.Series(card_of_row).duplicated().to_numpy()
    # New cards are riskier: stolen details are often tried on a fresh card first.
    fraud = rng.random(rows) < np.where(cold, fraud_rate * 3.0, fraud_rate)

    shift = fraud.astype(np.float64)
    # Fraud on a fresh card looks stranger on the no-history features (new device, risky IP,
    # far away): that is the signal the cold-start anomaly model has to work with.
    cold_shift = shift * np.where(cold, 2.0, 1.0)
    hour = (times // 3_600_000) % 24 + np.where(fraud & (rng.random(rows) < 0.3), 12, 0)
    uniform = rng.random(rows)
    features: dict[str, np.ndarray] = {
        "amount_log": rng.normal(3.5, 1.0, rows) + 0.5 * cold_shift,
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "is_ecom": (rng.random(rows) < 0.35 + 0.2 * shift).astype(np.float64),
        "device_risk": np.clip(rng.beta(1.2, 12, rows) + 0.12 * cold_shift * uniform, 0, 1),
        "ip_risk": np.clip(rng.beta(1.2, 15, rows) + 0.10 * cold_shift * rng.random(rows), 0, 1),
        "merchant_risk": rng.beta(1.5, 20, rows) + 0.05 * shift,
        "account_age_days": rng.gamma(2.0, 300.0, rows) * (1.0 - 0.2 * cold_shift),
        "geo_distance_km": rng.lognormal(2.0, 1.0, rows) * (1.0 + 0.5 * cold_shift),
        "card_tx_count_1h": rng.poisson(0.6 + 0.6 * shift).astype(np.float64),
        "card_amount_sum_24h": rng.gamma(2.0, 60.0, rows) * (1.0 + 0.5 * shift),
        "card_amount_zscore": rng.normal(0.0, 1.0, rows) + 0.6 * shift,
        "card_distinct_merchants_24h": rng.poisson(1.2 + 0.5 * shift).astype(np.float64),
        "card_new_device": (rng.random(rows) < 0.05 + 0.15 * shift).astype(np.float64),
    }
    for index in range(noise_features):
        features[f"noise_{index:02d}"] = rng.normal(0.0, 1.0, rows)
    for name in HISTORY_FEATURES:
        features[name][cold] = np.nan
    # Missing data happens: unknown account age, no geolocation.
    features["account_age_days"][rng.random(rows) < 0.05] = np.nan
    features["geo_distance_km"][rng.random(rows) < 0.10] = np.nan

    frame = pd.DataFrame(
        {
            "tx_id": [f"tx-{seed}-{i:07d}" for i in range(rows)],
            "event_time_ms": times,
            "card_id": [f"card-{c:05d}" for c in card_of_row],
            "customer_id": [f"cust-{c // 2:05d}" for c in card_of_row],
            "cold_start": cold,
            **{name: values.astype(np.float64) for name, values in features.items()},
        }
    )
    names = tuple(features)
    return SyntheticData(frame, _labels(frame, fraud, rng), FeatureSpec(names, COLD_START_FEATURES))


def _labels(frame: pd.DataFrame, fraud: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    times = frame["event_time_ms"].to_numpy()
    rows = len(frame)
    # Chargebacks: 1 to ~30 days after the fraud; 5 % of fraud is never reported.
    reported = fraud & (rng.random(rows) >= 0.05)
    chargeback_delay = (1.0 + rng.gamma(2.0, 4.0, rows)) * DAY_MS
    # Analysts clear some legitimate rows within hours.
    cleared = ~fraud & (rng.random(rows) < 0.05)
    analyst_delay = rng.uniform(0.02, 1.0, rows) * DAY_MS
    parts = [
        pd.DataFrame(
            {
                "tx_id": frame["tx_id"].to_numpy()[reported],
                "is_fraud": True,
                "known_at_ms": (times + chargeback_delay.astype(np.int64))[reported],
                "source": "chargeback",
            }
        ),
        pd.DataFrame(
            {
                "tx_id": frame["tx_id"].to_numpy()[cleared],
                "is_fraud": False,
                "known_at_ms": (times + analyst_delay.astype(np.int64))[cleared],
                "source": "analyst",
            }
        ),
    ]
    labels = pd.concat(parts, ignore_index=True).sort_values("known_at_ms", kind="stable")
    labels["known_at_ms"] = labels["known_at_ms"].astype(np.int64)
    labels["is_fraud"] = labels["is_fraud"].astype(bool)
    return labels.reset_index(drop=True)
