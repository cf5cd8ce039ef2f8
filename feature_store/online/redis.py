"""The Redis online store: one EVALSHA per micro-batch runs ``lua/apply_batch.lua``.

The script answers with one string per item (a dup byte and a MessagePack array):
a few bulk strings parse far faster in the client than thousands of RESP values.

A batch is one atomic step: all its updates and reads happen together or not
at all, in one network round trip. Redis errors are translated here into
``StoreUnavailableError`` (connection, timeout, loading) or
``StoreProtocolError`` (a script error: a bug, never user data).

On Redis Cluster a Lua script may only touch keys of one slot; this backend
targets a single Redis (or one shard per scorer with client-side routing by
card). Keys already carry entity hash tags so the layout is cluster-ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import msgspec
import redis
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from feature_store.exceptions import StoreProtocolError, StoreUnavailableError
from feature_store.online.base import Reply
from feature_store.plan import Arg, CompiledPlan, PlannedItem

__all__ = ["RedisOnlineStore", "RedisOnlineStoreConfig"]


class RedisOnlineStoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "redis://127.0.0.1:16379/0"
    password: SecretStr | None = None
    key_prefix: str = "fs1"
    socket_timeout_s: float = Field(default=2.0, gt=0)


def _script_source() -> str:
    return resources.files("feature_store.online").joinpath("lua/apply_batch.lua").read_text()


class RedisOnlineStore:
    """Feature state in Redis; connecting happens in ``setup()`` (or lazily on first use)."""

    def __init__(self, config: RedisOnlineStoreConfig) -> None:
        self.config = config
        self.key_prefix = config.key_prefix
        self._client: redis.Redis | None = None
        self._script: Any = None

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
            raise StoreUnavailableError(
                f"Redis at {self.config.url}: {exc}", backend="redis"
            ) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def apply(self, plan: CompiledPlan, items: Sequence[PlannedItem]) -> list[Reply]:
        if not items:
            return []
        keys: list[str] = []
        args: list[Arg] = [plan.json, len(items)]
        for item in items:
            keys.extend(item.keys)
            args.extend(item.args)
        _ = self.client  # connect lazily
        try:
            raw = self._script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise StoreUnavailableError(
                f"Redis at {self.config.url}: {exc}", backend="redis"
            ) from exc
        except redis.ResponseError as exc:
            raise StoreProtocolError(f"feature script failed: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"Redis at {self.config.url}: {exc}", backend="redis"
            ) from exc
        if not isinstance(raw, list) or len(raw) != len(items):
            raise StoreProtocolError(f"expected {len(items)} replies, got {type(raw).__name__}")
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
