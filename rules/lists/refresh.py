"""Keep a snapshot of the named lists fresh without touching the store per transaction.

``current()`` is what the hot path calls (once per micro-batch or per
transaction, either is cheap): it returns the held snapshot, and at most every
``check_interval_s`` it reads the store's version counter (one small GET on
Redis); only when that moved does it read the lists again. If the store is
down, the last good snapshot stays in force and the failure is logged once
per outage; ``last_error`` tells a health check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rules.exceptions import ListStoreError
from rules.lists.base import ListSnapshot, ListStore

__all__ = ["RefreshingLists"]

log = logging.getLogger(__name__)


class RefreshingLists:
    def __init__(
        self,
        store: ListStore,
        *,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = check_interval_s
        self._clock = clock
        self._snapshot = ListSnapshot(-1)
        self._next_check = float("-inf")
        self.last_error: ListStoreError | None = None

    @property
    def snapshot(self) -> ListSnapshot:
        """The held snapshot, without checking the store."""
        return self._snapshot

    def current(self) -> ListSnapshot:
        """The snapshot, renewed first if the check interval passed and the version moved."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._interval
            self.refresh()
        return self._snapshot

    def refresh(self, *, force: bool = False) -> bool:
        """Check the store now; True if a new snapshot was loaded."""
        try:
            if not force and self._store.version() == self._snapshot.version:
                self._recovered()
                return False
            fresh = self._store.snapshot()
        except ListStoreError as exc:
            if self.last_error is None:
                log.warning("named lists: keeping version %s: %s", self._snapshot.version, exc)
            self.last_error = exc
            return False
        self._recovered()
        changed = fresh.version != self._snapshot.version
        if changed:
            log.info("named lists: version %s -> %s", self._snapshot.version, fresh.version)
        self._snapshot = fresh
        return changed or force

    def _recovered(self) -> None:
        if self.last_error is not None:
            log.warning("named lists: the store answers again")
            self.last_error = None
