"""Named lists that change at run time: one Protocol, memory and Redis backends, a refresher."""

from __future__ import annotations

from rules.lists.base import ListSnapshot, ListStore
from rules.lists.memory import MemoryListStore
from rules.lists.redis import RedisListStore
from rules.lists.refresh import RefreshingLists

__all__ = ["ListSnapshot", "ListStore", "MemoryListStore", "RedisListStore", "RefreshingLists"]
