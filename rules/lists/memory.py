"""Named lists in process memory: for tests, the CLI's dry runs and single-process use."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rules.lists.base import ListSnapshot, check_list_name, check_members

__all__ = ["MemoryListStore"]


class MemoryListStore:
    def __init__(self, initial: dict[str, Iterable[str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, set[str]] = {}
        self._version = 0
        for name, values in (initial or {}).items():
            self.add(name, values)

    def add(self, name: str, values: Iterable[str]) -> int:
        check_list_name(name)
        members = check_members(values)
        with self._lock:
            target = self._sets.setdefault(name, set())
            before = len(target)
            target.update(members)
            self._version += 1
            return len(target) - before

    def remove(self, name: str, values: Iterable[str]) -> int:
        check_list_name(name)
        members = check_members(values)
        with self._lock:
            target = self._sets.setdefault(name, set())
            before = len(target)
            target.difference_update(members)
            self._version += 1
            return before - len(target)

    def members(self, name: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._sets.get(name, ()))

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._sets)

    def version(self) -> int:
        return self._version

    def snapshot(self) -> ListSnapshot:
        with self._lock:
            sets = {name: frozenset(values) for name, values in self._sets.items()}
            return ListSnapshot(self._version, sets)
