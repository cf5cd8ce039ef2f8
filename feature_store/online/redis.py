"""The Redis online store: one EVALSHA per micro-batch runs ``lua/apply_batch.lua``.

The script answers with one string per item (a dup byte and a MessagePack array):
a few bulk strings parse far faster in the client than thousands of RESP values.
For the same reason the items' arguments go out packed as one MessagePack
argument (redis-py formats, and Redis allocates, per argument).

A batch is one atomic step: all its updates and reads happen together or not
at all, in one network round trip. Redis errors are translated here into
``StoreUnavailableError`` (connection, timeout, loading) or
``StoreProtocolError`` (a script error: a bug, never user data).

Calls go out on one connection of their own and their replies are read in
the order they were sent (``submit``). Other callers whose calls must be
answered in that same order send them there too (``submit_call``): the
scorer's decision records of a batch, sent after the next batch's feature call
on a connection of their own, would wait behind that whole call in Redis.

On Redis Cluster a Lua script may only touch keys of one slot; this backend
targets a single Redis (or one shard per scorer with client-side routing by
card). Keys already carry entity hash tags so the layout is cluster-ready.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Generic, TypeVar

import msgspec
import redis
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from redis.connection import Connection

from feature_store.exceptions import FeatureStoreError, StoreProtocolError, StoreUnavailableError
from feature_store.online.base import Reply
from feature_store.plan import Arg, CompiledPlan, PlannedItem

__all__ = ["PendingCall", "RedisOnlineStore", "RedisOnlineStoreConfig", "evalsha_command"]

T = TypeVar("T")


class RedisOnlineStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "redis://127.0.0.1:16379/0"
    password: SecretStr | None = None
    key_prefix: str = "fs1"
    socket_timeout_s: float = Field(default=2.0, gt=0)


def _script_source() -> str:
    return resources.files("feature_store.online").joinpath("lua/apply_batch.lua").read_text()


class RedisOnlineStore:
    """Feature state in Redis; connecting happens in ``setup()`` (or lazily on first use).

    ``apply`` is one blocking script call. ``submit`` sends the call and returns
    at once, so the caller can prepare (or score) one chunk while Redis works on
    the next: calls go out on one connection of their own and their replies
    are read back in the order they were sent, whichever ``result()`` asks first.
    """

    def __init__(self, config: RedisOnlineStoreConfig) -> None:
        self.config = config
        self.key_prefix = config.key_prefix
        self._client: redis.Redis | None = None
        self._script: Any = None
        self._stream: Connection | None = None  # the connection ``submit`` uses
        self._unread: deque[PendingCall[Any]] = deque()

    def setup(self) -> None:
        password = self.config.password.get_secret_value() if self.config.password else None
        self._client = redis.Redis.from_url(
            self.config.url,
            password=password,
            socket_timeout=self.config.socket_timeout_s,
            socket_connect_timeout=self.config.socket_timeout_s,
            decode_responses=False,
        )
        self._script = self._client.register_script(_script_source())
        self.ping()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self.setup()
        if self._client is None:  # setup() always sets it; this satisfies the type checker
            raise StoreUnavailableError("Redis client not set up", backend="redis")
        return self._client

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        self._drop_stream(StoreUnavailableError("store closed", backend="redis"))
        if self._client is not None:
            self._client.close()
            self._client = None

    def apply(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        return self.submit(plan, items).result()

    def apply_blocking(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        """``apply`` through redis-py's script call (it loads the script when Redis lost it)."""
        if not items:
            return []
        keys, args = _call_arguments(plan, items)
        _ = self.client  # connect lazily
        try:
            raw = self._script(keys=keys, args=args)
        except redis.ResponseError as exc:
            raise StoreProtocolError(f"feature script failed: {exc}") from exc
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return _decode_replies(raw, plan, len(items))

    def submit(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> PendingCall[list[Reply]]:
        """Send ``apply``'s call without waiting; ``result()`` on the answer waits."""
        count = len(items)
        if not items:
            return PendingCall.ready(self, [])
        keys, args = _call_arguments(plan, items)
        _ = self.client  # connect lazily (the script's sha is known from here)
        return self.submit_call(
            evalsha_command(self._script.sha, keys, args),
            decode=lambda raw: _decode_replies(raw, plan, count),
            redo=lambda: self.apply_blocking(plan, items),
        )

    def submit_call(
        self, command: bytes, *, decode: Callable[[Any], T], redo: Callable[[], T]
    ) -> PendingCall[T]:
        """Send a packed command on the feature calls' connection, answered in order with them.

        ``decode`` turns the raw reply into the answer (a ``StoreProtocolError``
        when it cannot); ``redo`` gets the answer the blocking way when Redis
        lost the script the command calls (nothing of it ran). Errors are
        translated as for feature calls.
        """
        pending: PendingCall[T] = PendingCall(self, decode, redo)
        try:
            if self._stream is None:
                self._script_load()
                self._stream = self.client.connection_pool.get_connection()
            self._stream.send_packed_command([command])  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            error = self._unavailable(exc)
            self._drop_stream(error)
            raise error from exc
        self._unread.append(pending)
        return pending

    def collect(self, pending: PendingCall[Any]) -> None:
        """Read replies off the stream, oldest first, until ``pending`` has its own."""
        while not pending.settled:
            head = self._unread.popleft()
            head.settled = True
            try:
                raw = self._stream.read_response()  # type: ignore[union-attr]
            except redis.exceptions.NoScriptError:
                # The script cache was emptied (SCRIPT FLUSH, a failover to a
                # replica): nothing of this call ran, so it runs again the
                # blocking way, which loads the script.
                head.retry_blocking = True
                continue
            except redis.ResponseError as exc:
                head.error = StoreProtocolError(f"feature script failed: {exc}")
                continue
            except redis.RedisError as exc:
                head.error = self._unavailable(exc)
                self._drop_stream(head.error)
                continue
            try:
                head.value = head.decode(raw)
            except FeatureStoreError as exc:  # kept on its call: the others' replies still read
                head.error = exc

    def _drop_stream(self, error: StoreUnavailableError) -> None:
        """Fail every call still waiting for its reply and close the stream connection."""
        while self._unread:
            waiting = self._unread.popleft()
            waiting.settled = True
            waiting.error = error
        if self._stream is not None:
            self._stream.disconnect()  # type: ignore[no-untyped-call]
            if self._client is not None:
                self._client.connection_pool.release(self._stream)
            self._stream = None

    def _script_load(self) -> None:
        self.client.script_load(self._script.script)

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(f"Redis at {self.config.url}: {exc}", backend="redis")


class PendingCall(Generic[T]):
    """The answer to one ``submit`` / ``submit_call``: ``result()`` waits for it
    (and reads the older ones' replies on the way)."""

    def __init__(
        self, store: RedisOnlineStore, decode: Callable[[Any], T], redo: Callable[[], T]
    ) -> None:
        self.store = store
        self.decode = decode
        self.redo = redo
        self.value: T | None = None
        self.error: FeatureStoreError | None = None
        self.settled = False  # its reply (or its failure) has been read
        self.retry_blocking = False

    @classmethod
    def ready(cls, store: RedisOnlineStore, value: T) -> PendingCall[T]:
        """An answer known without asking Redis (an empty batch)."""
        pending = cls(store, lambda _: value, lambda: value)
        pending.value, pending.settled = value, True
        return pending

    def result(self) -> T:
        if not self.settled:
            self.store.collect(self)
        if self.retry_blocking:
            self.retry_blocking = False
            self.value = self.redo()
        if self.error is not None:
            raise self.error
        if self.value is None:  # settled always leaves a value or an error
            raise StoreProtocolError("no reply")
        return self.value


_encode_args = msgspec.msgpack.Encoder().encode


def _call_arguments(
    plan: CompiledPlan, items: Sequence[PlannedItem]
) -> tuple[list[str], list[Arg | bytes]]:
    """KEYS, and ARGV as plan, item count and every item's arguments packed in one."""
    keys: list[str] = []
    flat: list[Arg] = []
    for item in items:
        keys.extend(item.keys)
        flat.extend(item.args)
    return keys, [plan.json, len(items), _encode_args(flat)]


def evalsha_command(sha: str, keys: Sequence[str], args: Sequence[Arg | bytes]) -> bytes:
    """The EVALSHA call in RESP, built in one pass (redis-py's generic packing
    costs ~4.5 us per transaction's keys and arguments, this ~1.3 us)."""
    parts = [b"EVALSHA", sha.encode(), b"%d" % len(keys), *(k.encode() for k in keys)]
    parts += [a if isinstance(a, bytes) else str(a).encode() for a in args]
    out = [b"*%d\r\n" % len(parts)]
    out += [b"$%d\r\n%s\r\n" % (len(p), p) for p in parts]
    return b"".join(out)


def _decode_replies(raw: Any, plan: CompiledPlan, count: int) -> list[Reply]:
    if not isinstance(raw, list) or len(raw) != count:
        raise StoreProtocolError(f"expected {count} replies, got {type(raw).__name__}")
    return [_decode_reply(r, plan.reply_width) for r in raw]


_decode_values = msgspec.msgpack.Decoder(list[int | str]).decode


def _decode_reply(raw: bytes, width: int) -> Reply:
    """One reply: a dup byte ("0"/"1") and the values as a MessagePack array."""
    try:
        values: Reply = [raw[0] - 48, *_decode_values(memoryview(raw)[1:])]
    except (msgspec.DecodeError, IndexError) as exc:
        raise StoreProtocolError(f"unreadable feature reply: {exc}") from exc
    if len(values) != width:
        raise StoreProtocolError(f"reply of {len(values)} values, plan says {width}")
    return values
