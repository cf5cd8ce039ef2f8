"""Named lists: one contract for both backends (memory, real Redis) and the refresher."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from contracts.settings import RedisSettings, Settings
from rules.exceptions import ListStoreError
from rules.lists import ListSnapshot, ListStore, MemoryListStore, RedisListStore, RefreshingLists
from rules.lists.keys import list_key, names_key, version_key

BACKENDS = ["memory", "redis"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[ListStore]:
    if request.param == "memory":
        yield MemoryListStore()
        return
    settings: Settings = request.getfixturevalue("settings")
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisListStore(client, key_prefix=settings.redis.key_prefix)


class TestListStoreContract:
    def test_fresh_store_is_empty(self, store: ListStore) -> None:
        assert store.version() == 0
        assert store.names() == []
        assert store.members("blocked_countries") == frozenset()
        assert store.snapshot() == ListSnapshot(0, {})

    def test_add_and_remove_report_what_changed(self, store: ListStore) -> None:
        assert store.add("blocked_countries", ["KP", "IR"]) == 2
        assert store.add("blocked_countries", ["IR", "SY"]) == 1
        assert store.members("blocked_countries") == {"KP", "IR", "SY"}
        assert store.remove("blocked_countries", ["IR", "CU"]) == 1
        assert store.members("blocked_countries") == {"KP", "SY"}

    def test_every_change_moves_the_version(self, store: ListStore) -> None:
        versions = [store.version()]
        store.add("blocked_bins", ["411111"])
        versions.append(store.version())
        store.remove("blocked_bins", ["411111"])
        versions.append(store.version())
        assert versions == sorted(set(versions)), versions

    def test_snapshot_holds_every_list_and_its_version(self, store: ListStore) -> None:
        store.add("blocked_ips", ["10.0.0.1"])
        store.add("allowed_cards", ["C-1", "C-2"])
        store.remove("allowed_cards", ["C-1"])
        snapshot = store.snapshot()
        assert snapshot.version == store.version()
        assert dict(snapshot) == {
            "allowed_cards": frozenset({"C-2"}),
            "blocked_ips": frozenset({"10.0.0.1"}),
        }
        assert store.names() == ["allowed_cards", "blocked_ips"]

    def test_members_round_trip_unicode_and_odd_text(self, store: ListStore) -> None:
        odd = ["dévice-é", "a b", "2001:db8::1", "x" * 256]
        store.add("blocked_devices", odd)
        assert store.snapshot()["blocked_devices"] == frozenset(odd)

    @pytest.mark.parametrize("name", ["Bad", "has-dash", "", "1st", "x" * 65])
    def test_bad_list_names_are_refused(self, store: ListStore, name: str) -> None:
        with pytest.raises(ValueError, match="list name"):
            store.add(name, ["x"])

    @pytest.mark.parametrize("member", ["", "x" * 257])
    def test_bad_members_are_refused(self, store: ListStore, member: str) -> None:
        with pytest.raises(ValueError, match="list members"):
            store.add("blocked_ips", [member])
        assert store.members("blocked_ips") == frozenset()


def test_redis_layout_uses_the_prefix_and_one_hash_tag(
    settings: Settings, redis_client: redis.Redis
) -> None:
    prefix = settings.redis.key_prefix
    store = RedisListStore(redis_client, key_prefix=prefix)
    store.add("blocked_countries", ["KP"])
    assert redis_client.smembers(list_key(prefix, "blocked_countries")) == {b"KP"}
    assert redis_client.smembers(names_key(prefix)) == {b"blocked_countries"}
    assert int(redis_client.get(version_key(prefix)) or 0) == 1
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{prefix}:*")}
    assert keys == {
        f"{prefix}:{{lists}}:set:blocked_countries",
        f"{prefix}:{{lists}}:names",
        f"{prefix}:{{lists}}:version",
    }


def test_redis_from_settings_with_a_str_client(settings: Settings) -> None:
    store = RedisListStore.from_settings(settings.redis)
    try:
        store.add("allowed_cards", ["C-9"])
        assert store.members("allowed_cards") == {"C-9"}
    finally:
        store.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redis_down_is_a_list_store_error() -> None:
    store = RedisListStore.from_settings(
        RedisSettings(url=f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout_s=0.5)
    )
    try:
        for call in (store.version, store.snapshot, lambda: store.add("blocked_ips", ["x"])):
            with pytest.raises(ListStoreError, match="could not") as caught:
                call()
            assert caught.value.backend == "redis"
            assert isinstance(caught.value.__cause__, redis.ConnectionError)
    finally:
        store.close()


# -- the refresher --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryListStore):
    """A memory store that counts reads and can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.version_reads = 0
        self.snapshot_reads = 0
        self.down = False

    def version(self) -> int:
        if self.down:
            raise ListStoreError("down", backend="test")
        self.version_reads += 1
        return super().version()

    def snapshot(self) -> ListSnapshot:
        if self.down:
            raise ListStoreError("down", backend="test")
        self.snapshot_reads += 1
        return super().snapshot()


def test_refresher_checks_the_version_at_most_once_per_interval() -> None:
    store, clock = CountingStore(), Clock()
    store.add("blocked_ips", ["10.0.0.1"])
    lists = RefreshingLists(store, check_interval_s=1.0, clock=clock)
    first = lists.current()
    assert first["blocked_ips"] == {"10.0.0.1"}
    for _ in range(100):
        assert lists.current() is first
    assert (store.version_reads, store.snapshot_reads) == (1, 1)
    store.add("blocked_ips", ["10.0.0.2"])
    assert lists.current() is first  # within the interval: not seen yet
    clock.now += 1.0
    second = lists.current()
    assert second["blocked_ips"] == {"10.0.0.1", "10.0.0.2"}
    assert (store.version_reads, store.snapshot_reads) == (2, 2)
    clock.now += 1.0
    assert lists.current() is second  # version unchanged: no snapshot read
    assert (store.version_reads, store.snapshot_reads) == (3, 2)


def test_refresher_keeps_the_last_snapshot_while_the_store_is_down() -> None:
    store, clock = CountingStore(), Clock()
    store.add("blocked_countries", ["RU"])
    lists = RefreshingLists(store, check_interval_s=0.5, clock=clock)
    good = lists.current()
    store.down = True
    clock.now += 1.0
    assert lists.current() is good
    assert lists.last_error is not None
    store.down = False
    store.add("blocked_countries", ["BY"])
    clock.now += 1.0
    assert lists.current()["blocked_countries"] == {"RU", "BY"}
    assert lists.last_error is None


def test_refresher_over_real_redis(settings: Settings, redis_client: redis.Redis) -> None:
    writer = RedisListStore(redis_client, key_prefix=settings.redis.key_prefix)
    clock = Clock()
    reader = RedisListStore.from_settings(settings.redis)
    try:
        lists = RefreshingLists(reader, clock=clock)
        assert dict(lists.current()) == {}
        writer.add("blocked_bins", ["411111"])
        clock.now += 5
        assert lists.current()["blocked_bins"] == {"411111"}
        assert lists.snapshot.version == writer.version()
    finally:
        reader.close()


class WriteBeforeSend:
    """Another client writes just before chosen sends to Redis (``before(n)``: the n-th).

    Hooked where every command leaves the process (one send per round trip: a
    single command, or a whole MULTI ... EXEC), so it reaches every gap between
    a reader's round trips without knowing how the reader is written.
    """

    def __init__(self, before: Callable[[int], bool], write: Callable[[], object]) -> None:
        self.before = before
        self.write = write
        self.sends = 0
        self.writing = False
        self.wrote = False
        self._send: Callable[..., None] = redis.connection.AbstractConnection.send_packed_command

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hook = self

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
            if not hook.writing:
                hook.sends += 1
                if hook.before(hook.sends):
                    hook.writing = True
                    try:
                        hook.write()
                    finally:
                        hook.writing, hook.wrote = False, True
            hook._send(conn, command, check_health)

        monkeypatch.setattr(
            redis.connection.AbstractConnection, "send_packed_command", send_packed_command
        )


@pytest.mark.parametrize("nth_send", range(1, 8))
def test_redis_snapshot_never_misses_a_list_created_while_it_reads(
    settings: Settings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    nth_send: int,
) -> None:
    prefix = settings.redis.key_prefix
    writer = RedisListStore.from_settings(settings.redis)
    reader = RedisListStore(redis_client, key_prefix=prefix)
    clock = Clock()
    try:
        writer.add("blocked_countries", ["KP"])
        lists = RefreshingLists(reader, clock=clock)
        reader.version()  # connected: the handshake's sends are not the reader's round trips
        before = (writer.version(), {"blocked_countries": frozenset({"KP"})})
        after = (before[0] + 1, {**before[1], "blocked_devices": frozenset({"dev-1"})})
        hook = WriteBeforeSend(
            lambda n: n == nth_send, lambda: writer.add("blocked_devices", ["dev-1"])
        )
        hook.install(monkeypatch)
        lists.current()  # a version check, then a snapshot: the write lands in one of the gaps
        held = lists.snapshot
        # The version a snapshot records must be the one its members were read at.
        assert (held.version, dict(held)) in (before, after), (hook.sends, held)
        if not hook.wrote:
            writer.add("blocked_devices", ["dev-1"])
        clock.now += 5
        assert lists.current()["blocked_devices"] == {"dev-1"}  # the new block takes effect
    finally:
        writer.close()


def test_redis_snapshot_gives_up_when_the_lists_change_during_every_read(
    settings: Settings, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = RedisListStore.from_settings(settings.redis)
    reader = RedisListStore(redis_client, key_prefix=settings.redis.key_prefix)
    try:
        reader.version()
        WriteBeforeSend(lambda n: True, lambda: writer.add("blocked_bins", ["411111"])).install(
            monkeypatch
        )
        with pytest.raises(ListStoreError, match="changed during each of 5 reads"):
            reader.snapshot()
    finally:
        writer.close()
