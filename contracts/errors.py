"""The root of every exception fraudstream raises on purpose.

Hierarchy (each package adds its own branch in its ``exceptions.py``)::

    FraudstreamError
    ├── ContractError            contracts: an event failed to decode or validate
    ├── ConfigError              contracts: settings are missing or contradict each other
    ├── feature_store.exceptions.FeatureStoreError
    ├── models.exceptions.ModelError
    ├── rules.exceptions.RuleError
    └── services.exceptions.ServiceError

Vendor errors (Kafka, Redis, MLflow) are translated at the adapter edge with
``raise ... from exc`` so callers only ever catch these.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ContractError", "FraudstreamError"]


class FraudstreamError(Exception):
    """Root of every exception the project raises on purpose."""


class ContractError(FraudstreamError):
    """A message on the wire does not satisfy its contract.

    ``field`` is the JSON path of the offending field (``$.amount``) when known,
    ``problem`` the human-readable reason. Both travel to the dead-letter topic.
    """

    def __init__(self, problem: str, *, field: str | None = None, kind: str | None = None):
        self.problem = problem
        self.field = field
        self.kind = kind
        where = f" at `{field}`" if field else ""
        what = f"{kind}: " if kind else ""
        super().__init__(f"{what}{problem}{where}")


class ConfigError(FraudstreamError):
    """Settings are missing, malformed or contradict each other."""
