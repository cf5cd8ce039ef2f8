"""Analysts and admins: who may use the queue, with which role (``roles.py``), proven how.

Passwords are stored as salted scrypt hashes only (``passwords.py``).
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import Connection, delete, insert, select, update

from services.review import audit, sessions
from services.review.exceptions import AuthError, UserError
from services.review.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from services.review.roles import ROLES, Role
from services.review.tables import users
from services.review.views import User

__all__ = [
    "ROLES",
    "Role",
    "Credentials",
    "add_user",
    "check_password",
    "credentials",
    "find_user",
    "list_users",
    "remove_user",
    "set_password",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@functools.cache
def _decoy_hash() -> str:
    """Checked when the user does not exist, so a wrong name costs what a wrong password does."""
    return hash_password("decoy password, never valid")


def add_user(
    connection: Connection,
    name: str,
    role: str,
    password: str,
    *,
    now_ms: int,
    actor: str,
) -> User:
    if not _NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: letters, digits and . _ @ - (up to 64), "
            "starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"invalid role {role!r}: one of {', '.join(ROLES)}")
    _check_length(password)
    if find_user(connection, name) is not None:
        raise UserError(f"user {name!r} exists already")
    connection.execute(
        insert(users).values(
            name=name, role=role, password_hash=hash_password(password), created_at_ms=now_ms
        )
    )
    audit.record(
        connection,
        at_ms=now_ms,
        actor=actor,
        action="user-add",
        detail={"user": name, "role": role},
    )
    return User(name, role, now_ms)


def _check_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")


def remove_user(connection: Connection, name: str, *, now_ms: int, actor: str) -> None:
    """Remove ``name``; their tokens stop working at once (each request reads the user)."""
    if connection.execute(delete(users).where(users.c.name == name)).rowcount != 1:
        raise UserError(f"no user {name!r}")
    sessions.forget_user(connection, name)
    audit.record(connection, at_ms=now_ms, actor=actor, action="user-remove", detail={"user": name})


def set_password(
    connection: Connection, name: str, password: str, *, now_ms: int, actor: str
) -> None:
    """Give ``name`` a new password; every session they had ends."""
    _check_length(password)
    changed = connection.execute(
        update(users).where(users.c.name == name).values(password_hash=hash_password(password))
    )
    if changed.rowcount != 1:
        raise UserError(f"no user {name!r}")
    sessions.end_sessions(connection, name, now_ms=now_ms)
    audit.record(
        connection, at_ms=now_ms, actor=actor, action="user-password", detail={"user": name}
    )


def find_user(connection: Connection, name: str) -> User | None:
    row = connection.execute(
        select(users.c.name, users.c.role, users.c.created_at_ms).where(users.c.name == name)
    ).first()
    return None if row is None else User(row.name, row.role, row.created_at_ms)


def list_users(connection: Connection) -> list[User]:
    rows = connection.execute(
        select(users.c.name, users.c.role, users.c.created_at_ms).order_by(users.c.name)
    )
    return [User(row.name, row.role, row.created_at_ms) for row in rows]


#: A user (None when there is no such user) and the hash to check a password against.
Credentials = tuple[User | None, str]


def credentials(connection: Connection, name: str) -> Credentials:
    """What ``check_password`` needs, read in a transaction that scrypt's time need not hold."""
    row = connection.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        return None, _decoy_hash()
    return User(row.name, row.role, row.created_at_ms), row.password_hash


def check_password(found: Credentials, password: str) -> User:
    """The user when ``password`` is theirs; ``AuthError`` (saying nothing more) otherwise."""
    user, stored = found
    if not verify_password(password, stored) or user is None:
        raise AuthError("wrong user name or password")
    return user
