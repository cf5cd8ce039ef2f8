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

__all__ = ["OnlineStore", "Pending", "Ready", "Reply"]

Reply = list[Arg]


class Pending(Protocol):
    """The answer to ``OnlineStore.submit``."""

    def result(self) -> list[Reply]:
        """The replies (waiting for them if need be); raises what ``apply`` would raise."""
        ...


class Ready:
    """An answer that is already there (a store that computes in place)."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies

    def result(self) -> list[Reply]:
        return self.replies


class OnlineStore(Protocol):
    """State for the features: Redis online, memory offline and in tests."""

    key_prefix: str

    def apply(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        """Apply ``items`` in order under ``plan``; one reply per item."""
        ...

    def submit(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> Pending:
        """``apply``, answered later: Redis works on it while the caller does other work.

        Answers are read in the order the calls were made.
        """
        ...

    def close(self) -> None:
        """Release connections (no-op for memory)."""
        ...
