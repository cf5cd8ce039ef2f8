"""Errors of the feature store.

Hierarchy::

    FraudstreamError
    └── FeatureStoreError
        ├── StoreUnavailableError   the online store cannot be reached (Redis down, timeout)
        └── StoreProtocolError      the store answered something the code cannot read
"""

from __future__ import annotations

from contracts.errors import FraudstreamError

__all__ = ["FeatureStoreError", "StoreProtocolError", "StoreUnavailableError"]


class FeatureStoreError(FraudstreamError):
    """Root of the feature store's errors."""


class StoreUnavailableError(FeatureStoreError):
    """The online store could not be reached; the batch had no effect or an unknown one.

    Retrying the same batch is always safe: the store is idempotent on transaction id.
    """

    def __init__(self, message: str, *, backend: str) -> None:
        self.backend = backend
        super().__init__(message)


class StoreProtocolError(FeatureStoreError):
    """The store's reply did not have the shape the plan promised (a bug, or a stale script)."""
