"""Feature-store fixtures: ``store`` runs a contract test on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contracts.events import Transaction
from feature_store.engine import FeatureEngine
from feature_store.online.base import OnlineStore
from feature_store.online.memory import MemoryOnlineStore
from feature_store.online.redis import RedisOnlineStore, RedisOnlineStoreConfig

SUPPORTED_STORES = ["memory", "redis"]
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def make_tx(i: int, **overrides: Any) -> Transaction:
    fields: dict[str, Any] = {
        "tx_id": f"tx-{i}",
        "event_time_ms": T0 + i * 1000,
        "card_id": "card-1",
        "customer_id": "cust-1",
        "amount": 10.0,
        "merchant_id": "m-1",
        "country": "DE",
        "channel": "pos",
        "device_id": "dev-1",
        "ip": "10.0.0.1",
        "lat": 52.52,
        "lon": 13.405,
    }
    fields.update(overrides)
    return Transaction(**fields)


def redis_store(settings: Any) -> RedisOnlineStore:
    store = RedisOnlineStore(
        RedisOnlineStoreConfig(url=settings.redis.url, key_prefix=settings.redis.key_prefix)
    )
    store.setup()
    return store


@pytest.fixture(params=SUPPORTED_STORES)
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    if request.param == "memory":
        yield MemoryOnlineStore()
        return
    backend = redis_store(request.getfixturevalue("settings"))
    yield backend
    backend.close()


@pytest.fixture
def engine(store: OnlineStore) -> FeatureEngine:
    return FeatureEngine(store)
