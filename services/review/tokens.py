"""Signed, expiring session tokens (HMAC-SHA256), and the key that signs them.

A token is ``v1.<payload>.<signature>``, both parts base64url: the payload is
``{"sub": user, "iat": ms, "exp": ms}``. Tokens carry no role: each request
reads the user's current role from the store, so removing a user or changing a
role takes effect at once. The same token is the API's Bearer token and the
page's HttpOnly cookie; ``csrf_token`` derives the page forms' CSRF token from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import ConfigError
from contracts.settings import Settings
from services.review.exceptions import AuthError

__all__ = ["Clock", "TokenClaims", "TokenSigner", "load_secret_key", "wall_clock_ms"]

Clock = Callable[[], int]
_VERSION = "v1"
_KEY_FILE = "review-secret.key"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user: str
    issued_ms: int
    expires_ms: int


class TokenSigner:
    """Issues and checks tokens with ``key``; ``clock`` (epoch ms) is injectable for tests."""

    def __init__(self, key: bytes, ttl_s: int, clock: Clock = wall_clock_ms) -> None:
        if len(key) < 16:
            raise ConfigError("review.secret_key must be at least 16 characters")
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, user: str) -> tuple[str, int]:
        """A token for ``user`` and when it expires (epoch ms)."""
        now = self._clock()
        expires = now + self.ttl_s * 1000
        payload = _b64(json.dumps({"sub": user, "iat": now, "exp": expires}).encode())
        return f"{_VERSION}.{payload}.{self._sign(payload)}", expires

    def verify(self, token: str) -> TokenClaims:
        """The claims of a genuine, unexpired token; ``AuthError`` saying why otherwise."""
        version, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        # (compare_digest refuses non-ASCII text with a TypeError: a 500 otherwise.)
        if version != _VERSION or not payload or not signature or not token.isascii():
            raise AuthError("malformed token")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise AuthError("invalid token signature")
        try:
            data = json.loads(_unb64(payload))
            claims = TokenClaims(str(data["sub"]), int(data["iat"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError("malformed token") from exc
        if claims.expires_ms <= self._clock():
            raise AuthError("token expired; log in again")
        return claims

    def csrf_token(self, token: str) -> str:
        """The CSRF token the page's forms carry for session ``token``."""
        return self._sign("csrf:" + token)

    def _sign(self, message: str) -> str:
        return _b64(hmac.new(self._key, message.encode(), hashlib.sha256).digest())


def load_secret_key(settings: Settings) -> bytes:
    """``review.secret_key`` when set; else a random key kept in the state directory.

    The file is created once (mode 0600) and shared by every process on this
    state directory, so tokens survive restarts. Set the key explicitly when
    several hosts serve the API.
    """
    configured = settings.review.secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    path = Path(settings.state_dir) / _KEY_FILE
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key; delete it to make a new one")
    return key.encode()


def _create_key_file(path: Path) -> None:
    """Write a new key whole, then link it into place: a racing process sees all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process won; its key is the one
    finally:
        draft.unlink()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
