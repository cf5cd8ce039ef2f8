"""The one interface both backends implement: execute a compiled plan on a batch.

``apply`` updates and reads the state of every item of a batch, in order, and
returns one reply per item (``[dup_flag, *values]`` laid out by the plan). It is
atomic per batch on Redis and idempotent per item (dedup key), so a batch that
failed half-way can simply be sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from feature_store.plan import Arg, CompiledPlan, PlannedItem

__all__ = ["OnlineStore", "Reply"]

Reply = list[Arg]


class OnlineStore(Protocol):
    """State for the features: Redis online, memory offline and in tests."""

    key_prefix: str

    def apply(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        """Apply ``items`` in order under ``plan``; one reply per item."""
        ...

    def close(self) -> None:
        """Release connections (no-op for memory)."""
        ...
