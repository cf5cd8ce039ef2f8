"""Named lists that change at run time: one Protocol, memory and Redis backends, a refresher.

IP and country lists (typed by the rules that use them) hold normalised members:
``rules.lists.kinds``.
"""

from __future__ import annotations

from rules.lists.base import ListSnapshot, ListStore
from rules.lists.kinds import IpAddresses, ListKind
from rules.lists.memory import MemoryListStore
from rules.lists.redis import RedisListStore
from rules.lists.refresh import RefreshingLists

__all__ = [
    "IpAddresses",
    "ListKind",
    "ListSnapshot",
    "ListStore",
    "MemoryListStore",
    "RedisListStore",
    "RefreshingLists",
]
