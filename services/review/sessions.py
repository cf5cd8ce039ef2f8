"""Sessions that can end before their tokens expire, and login throttling.

A token (``tokens.py``) is only as good as the database says, on every request:

* its user still exists and was created before it was issued (a user removed
  and made again under the same name does not inherit the old user's tokens);
* it was issued after the user's cutoff, set by a password reset or by "log out
  everywhere" (``session_cutoffs``);
* it was not logged out (``revoked_tokens`` holds its SHA-256 until it would
  have expired anyway, so the table stays as small as the sessions in flight).

Throttling counts password checks that did not succeed, per user name and per
client address, over a sliding window. An attempt is written down *before* the
password is checked and deleted only when it succeeds, so guesses sent in
parallel count at once (scrypt takes ~50 ms: a count-then-check would let a
burst of them all through). Reaching the limit refuses further attempts without
checking the password, until the oldest failure in the window ages out. A
successful login clears its user name's failures. The limits are per name so a
password cannot be guessed slowly from many addresses, and per address so one
client cannot try a password against every name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from services.review.database import insert_for
from services.review.exceptions import AuthError, LoginThrottledError
from services.review.tables import login_attempts, revoked_tokens, session_cutoffs, users
from services.review.tokens import TokenClaims
from services.review.views import User

__all__ = [
    "DEFAULT_LOGIN_POLICY",
    "LoginPolicy",
    "begin_attempt",
    "clear_failures",
    "end_sessions",
    "forget_user",
    "revoke_token",
    "session_user",
    "succeed_attempt",
    "token_digest",
]


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """At most ``max_failures`` per user name and ``max_failures_per_client`` per
    client address in any ``window_s``."""

    max_failures: int = 10
    max_failures_per_client: int = 50
    window_s: int = 900

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000


DEFAULT_LOGIN_POLICY = LoginPolicy()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- checking a session -----------------------------------------------------------------


def session_user(connection: Connection, claims: TokenClaims, token: str) -> User:
    """The user a verified token speaks for; ``AuthError`` saying why when it no longer does."""
    row = connection.execute(
        select(users.c.name, users.c.role, users.c.created_at_ms, session_cutoffs.c.not_after_ms)
        .select_from(users.outerjoin(session_cutoffs, session_cutoffs.c.user_name == users.c.name))
        .where(users.c.name == claims.user)
    ).first()
    if row is None:
        raise AuthError(f"user {claims.user!r} no longer exists")
    if claims.issued_ms < row.created_at_ms:
        raise AuthError(f"this session belongs to an earlier user {claims.user!r}; log in again")
    if row.not_after_ms is not None and claims.issued_ms <= row.not_after_ms:
        raise AuthError("this session was ended (password reset or logged out everywhere)")
    revoked = connection.execute(
        select(revoked_tokens.c.token_sha256).where(
            revoked_tokens.c.token_sha256 == token_digest(token)
        )
    ).first()
    if revoked is not None:
        raise AuthError("this session was logged out; log in again")
    return User(row.name, row.role, row.created_at_ms)


# -- ending sessions ----------------------------------------------------------------------


def revoke_token(connection: Connection, claims: TokenClaims, token: str, *, now_ms: int) -> None:
    """Log one token out. Tokens that have expired since are forgotten on the way."""
    connection.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_ms <= now_ms))
    statement = insert_for(connection.engine, revoked_tokens).on_conflict_do_nothing(
        index_elements=["token_sha256"]
    )
    connection.execute(
        statement.values(
            token_sha256=token_digest(token), user_name=claims.user, expires_ms=claims.expires_ms
        )
    )


def end_sessions(connection: Connection, name: str, *, now_ms: int) -> None:
    """Every token of ``name`` issued up to now stops working."""
    statement = insert_for(connection.engine, session_cutoffs).values(
        user_name=name, not_after_ms=now_ms
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["user_name"], set_={"not_after_ms": statement.excluded.not_after_ms}
        )
    )


def forget_user(connection: Connection, name: str) -> None:
    """Drop a removed user's session rows (a user made again under the name starts clean)."""
    connection.execute(delete(session_cutoffs).where(session_cutoffs.c.user_name == name))
    connection.execute(delete(revoked_tokens).where(revoked_tokens.c.user_name == name))
    clear_failures(connection, name=name)


# -- throttling ---------------------------------------------------------------------------


def begin_attempt(
    connection: Connection, name: str, client: str, *, now_ms: int, policy: LoginPolicy
) -> None:
    """Write an attempt down before its password is checked (it stays as a failure
    unless ``succeed_attempt`` follows).

    ``LoginThrottledError`` (and nothing written) when the name or the client has
    reached its limit in the window.
    """
    since = now_ms - policy.window_ms
    _serialise_attempts(connection)
    connection.execute(delete(login_attempts).where(login_attempts.c.at_ms <= since))
    for column, value, limit, who in (
        (login_attempts.c.user_name, name, policy.max_failures, "this user name"),
        (login_attempts.c.client, client, policy.max_failures_per_client, "this client"),
    ):
        count, oldest = connection.execute(
            select(func.count(), func.min(login_attempts.c.at_ms)).where(
                column == value, login_attempts.c.at_ms > since
            )
        ).one()
        if count >= limit:
            retry_after_ms = oldest + policy.window_ms - now_ms
            raise LoginThrottledError(who, count, retry_after_s=max(1, -(-retry_after_ms // 1000)))
    connection.execute(insert(login_attempts).values(at_ms=now_ms, user_name=name, client=client))


#: PostgreSQL advisory lock key of the attempts' bookkeeping (any fixed 64-bit number).
_ATTEMPTS_LOCK = 0x66_72_61_75_64_6C_6F_67  # "fraudlog"


def _serialise_attempts(connection: Connection) -> None:
    """One count-then-insert at a time, so concurrent attempts cannot all see room.

    SQLite already runs one writer at a time (the first statement here writes);
    PostgreSQL at READ COMMITTED would let two transactions count the same rows.
    The lock is held only for this short transaction, never across scrypt.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_ATTEMPTS_LOCK)))


def succeed_attempt(connection: Connection, name: str) -> None:
    """A correct password: the name's failures (and this attempt) are forgotten."""
    clear_failures(connection, name=name)


def clear_failures(
    connection: Connection, *, name: str | None = None, client: str | None = None
) -> int:
    """Forget the failed logins of user ``name`` and/or from address ``client``."""
    if name is not None:
        condition = login_attempts.c.user_name == name
    elif client is not None:
        condition = login_attempts.c.client == client
    else:
        return 0
    return connection.execute(delete(login_attempts).where(condition)).rowcount
