"""Declared features, computed by one code path over two backends (Redis online, memory offline).

Imports nothing from ``models``, ``rules`` or ``services``.
"""

from __future__ import annotations

from feature_store.derive import COLD_START_FEATURES, FEATURE_NAMES
from feature_store.engine import FeatureEngine, FeatureRow
from feature_store.exceptions import FeatureStoreError, StoreUnavailableError
from feature_store.online.memory import MemoryOnlineStore

__all__ = [
    "COLD_START_FEATURES",
    "FEATURE_NAMES",
    "FeatureEngine",
    "FeatureRow",
    "FeatureStoreError",
    "MemoryOnlineStore",
    "StoreUnavailableError",
]
