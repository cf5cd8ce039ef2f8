"""The named-list interface: small, verb-named, the same for memory and Redis.

A list is a set of strings (country codes, BINs, device ids, IPs, card ids)
that operators change at run time. The evaluator never reads a store per
transaction: it reads a ``ListSnapshot`` that ``RefreshingLists`` renews when
the store's version counter moves (see ``rules.lists.refresh``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["ListSnapshot", "ListStore", "check_list_name", "check_members"]

_LIST_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: A member longer than this is not a country, BIN, device, IP or card id.
MAX_MEMBER_CHARS = 256


def check_list_name(name: str) -> str:
    if not _LIST_NAME.fullmatch(name):
        raise ValueError(f"list name {name!r} must match {_LIST_NAME.pattern}")
    return name


def check_members(values: Iterable[str]) -> list[str]:
    members = list(values)
    for value in members:
        if not value or len(value) > MAX_MEMBER_CHARS:
            raise ValueError(f"list members must be 1-{MAX_MEMBER_CHARS} characters: {value!r}")
    return members


@dataclass(frozen=True)
class ListSnapshot(Mapping[str, frozenset[str]]):
    """Every list's members as of one store ``version``; a read-only mapping."""

    version: int
    sets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> frozenset[str]:
        return self.sets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sets)

    def __len__(self) -> int:
        return len(self.sets)


class ListStore(Protocol):
    """Where the run-time lists live (memory in tests, Redis in production)."""

    def add(self, name: str, values: Iterable[str]) -> int:
        """Add members; returns how many were new. Bumps the version."""
        ...

    def remove(self, name: str, values: Iterable[str]) -> int:
        """Remove members; returns how many were there. Bumps the version."""
        ...

    def members(self, name: str) -> frozenset[str]:
        """One list's members (empty if it does not exist)."""
        ...

    def names(self) -> list[str]:
        """The names of the lists that were ever written, sorted."""
        ...

    def version(self) -> int:
        """A counter that changes whenever any list changes (0 for a fresh store)."""
        ...

    def snapshot(self) -> ListSnapshot:
        """Every list and the version, read consistently."""
        ...
