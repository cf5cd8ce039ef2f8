"""Named lists in Redis: one set per list, a version counter, an index of names.

Every change runs in one MULTI (members + name index + version INCR), so a
reader that sees a new version also sees the change. ``snapshot`` reads the
names of the lists, then the version and every list in one MULTI, under a
WATCH of the version: a change in between (say a new list) fails the MULTI and
the snapshot is read again, so a snapshot's version always matches its
members. Key layout: ``rules.lists.keys``.
Redis errors become ``ListStoreError`` here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from contracts.settings import RedisSettings
from rules.exceptions import ListStoreError
from rules.lists.base import ListSnapshot, check_list_name, check_members
from rules.lists.keys import list_key, names_key, version_key

__all__ = ["SNAPSHOT_ATTEMPTS", "RedisListStore"]

#: Reads of a snapshot before giving up while the lists keep changing (changes are
#: operators' commands: a second read almost always succeeds).
SNAPSHOT_ATTEMPTS = 5


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisListStore:
    """Lists under ``{key_prefix}:{lists}:...``; works with bytes or str clients."""

    def __init__(self, client: redis.Redis, *, key_prefix: str = "fs1") -> None:
        self._client = client
        self.key_prefix = key_prefix

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> RedisListStore:
        """A store with its own client (connects lazily, on the first command)."""
        password = settings.password.get_secret_value() if settings.password else None
        client = redis.Redis.from_url(
            settings.url,
            password=password,
            socket_timeout=settings.socket_timeout_s,
            socket_connect_timeout=settings.socket_timeout_s,
        )
        return cls(client, key_prefix=settings.key_prefix)

    def close(self) -> None:
        self._client.close()

    def _fail(self, doing: str, exc: redis.RedisError) -> ListStoreError:
        return ListStoreError(f"could not {doing} in Redis: {exc}", backend="redis")

    def _change(self, command: str, name: str, values: Iterable[str]) -> int:
        check_list_name(name)
        members = check_members(values)
        if not members:
            return 0
        prefix = self.key_prefix
        try:
            with self._client.pipeline(transaction=True) as pipe:
                getattr(pipe, command)(list_key(prefix, name), *members)
                pipe.sadd(names_key(prefix), name)
                pipe.incr(version_key(prefix))
                changed, _, _ = pipe.execute()
        except redis.RedisError as exc:
            raise self._fail(f"change list {name!r}", exc) from exc
        return int(changed)

    def add(self, name: str, values: Iterable[str]) -> int:
        return self._change("sadd", name, values)

    def remove(self, name: str, values: Iterable[str]) -> int:
        return self._change("srem", name, values)

    def members(self, name: str) -> frozenset[str]:
        check_list_name(name)
        try:
            raw: Any = self._client.smembers(list_key(self.key_prefix, name))
        except redis.RedisError as exc:
            raise self._fail(f"read list {name!r}", exc) from exc
        return frozenset(_text(member) for member in raw)

    def names(self) -> list[str]:
        try:
            raw: Any = self._client.smembers(names_key(self.key_prefix))
        except redis.RedisError as exc:
            raise self._fail("read the list names", exc) from exc
        return sorted(_text(name) for name in raw)

    def version(self) -> int:
        try:
            raw: Any = self._client.get(version_key(self.key_prefix))
        except redis.RedisError as exc:
            raise self._fail("read the lists version", exc) from exc
        return int(raw) if raw is not None else 0

    def snapshot(self) -> ListSnapshot:
        for _ in range(SNAPSHOT_ATTEMPTS):
            snapshot = self._try_snapshot()
            if snapshot is not None:
                return snapshot
        raise ListStoreError(
            f"could not read the lists in Redis: they changed during each of "
            f"{SNAPSHOT_ATTEMPTS} reads",
            backend="redis",
        )

    def _try_snapshot(self) -> ListSnapshot | None:
        """One consistent read, or None if a change landed while reading (read again)."""
        prefix = self.key_prefix
        try:
            with self._client.pipeline(transaction=True) as pipe:
                # The names come before the MULTI (its commands depend on them), so
                # watch the version every change INCRs: a list created after this
                # read of the names makes the EXEC fail instead of recording the new
                # version without that list (which the refresher would then never read).
                pipe.watch(version_key(prefix))  # type: ignore[no-untyped-call]
                names = sorted(_text(name) for name in pipe.smembers(names_key(prefix)))
                pipe.multi()
                pipe.get(version_key(prefix))
                for name in names:
                    pipe.smembers(list_key(prefix, name))
                version, *sets = pipe.execute()
        except redis.WatchError:
            return None
        except redis.RedisError as exc:
            raise self._fail("read the lists", exc) from exc
        return ListSnapshot(
            int(version) if version is not None else 0,
            {
                name: frozenset(_text(member) for member in members)
                for name, members in zip(names, sets, strict=True)
            },
        )
