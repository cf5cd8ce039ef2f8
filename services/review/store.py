"""``ReviewStore``: the case store's operations, each in its own database transaction.

The single entry point the web app, the ingest consumer, the outbox publisher
and the CLI use. It owns the engine and the clock; the SQL lives in the
modules it calls (``ingest``, ``queue``, ``casefile``, ``actions``, ``users``,
``audit``, ``outbox``, ``retention``). Every method translates database errors
into ``ReviewStoreError`` (``retriable`` for lost connections and lock timeouts).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from contracts.events import Label
from contracts.settings import Settings
from services.review import actions, audit, outbox, retention, sessions
from services.review import users as user_table
from services.review.audit import read_audit
from services.review.casefile import read_case
from services.review.database import (
    connect,
    create_schema,
    database_url,
    describe,
    store_errors,
)
from services.review.exceptions import AuthError, UserError
from services.review.ingest import IngestBatch, write_batch
from services.review.queue import read_queue
from services.review.sessions import DEFAULT_LOGIN_POLICY, LoginPolicy
from services.review.tokens import Clock, TokenClaims, wall_clock_ms
from services.review.views import AuditEntry, CaseDetail, QueueFilter, QueuePage, User

__all__ = ["ReviewStore"]


class ReviewStore:
    """Cases, activity, users and the audit trail in one SQL database."""

    def __init__(
        self,
        engine: Engine,
        *,
        claim_ttl_s: int = 1800,
        recent_per_customer: int = 50,
        recent_days: int = 30,
        login_policy: LoginPolicy = DEFAULT_LOGIN_POLICY,
        clock: Clock = wall_clock_ms,
    ) -> None:
        self.engine = engine
        self.login_policy = login_policy
        self.claim_ttl_ms = claim_ttl_s * 1000
        self.recent_per_customer = recent_per_customer
        self.recent_days = recent_days
        self.clock = clock
        self.where = describe(str(engine.url))

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = wall_clock_ms) -> ReviewStore:
        """The configured store, its tables created if missing."""
        review = settings.review
        store = cls(
            connect(database_url(settings)),
            claim_ttl_s=review.claim_ttl_s,
            recent_per_customer=review.recent_per_customer,
            recent_days=review.recent_days,
            login_policy=LoginPolicy(
                review.login_max_failures,
                review.login_max_failures_per_client,
                review.login_window_s,
            ),
            clock=clock,
        )
        store.setup()
        return store

    def setup(self) -> None:
        create_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Connection]:
        with store_errors(f"{doing} ({self.where})"), self.engine.begin() as connection:
            yield connection

    # -- ingest ---------------------------------------------------------------------

    def ingest(self, batch: IngestBatch) -> None:
        """Write one consumer batch, and bound the touched customers' activity, atomically."""
        with self._transaction("writing a batch of events") as connection:
            write_batch(self.engine, connection, batch)
            retention.prune_customers(connection, batch.customers, self.recent_per_customer)

    def prune_by_age(self) -> int:
        with self._transaction("pruning old activity") as connection:
            return retention.prune_by_age(connection, self.recent_days)

    # -- reading --------------------------------------------------------------------

    def queue(
        self, queue_filter: QueueFilter, *, viewer: str, page: int = 1, per_page: int = 50
    ) -> QueuePage:
        with self._transaction("reading the queue") as connection:
            return read_queue(
                connection,
                queue_filter,
                viewer=viewer,
                now_ms=self.clock(),
                page=page,
                per_page=per_page,
            )

    def case(self, tx_id: str) -> CaseDetail:
        with self._transaction(f"reading case {tx_id!r}") as connection:
            return read_case(connection, tx_id, now_ms=self.clock())

    def audit(
        self, *, tx_id: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        with self._transaction("reading the audit trail") as connection:
            return read_audit(connection, tx_id=tx_id, actor=actor, limit=limit)

    # -- analysts' actions ----------------------------------------------------------

    def claim(self, tx_id: str, user: str) -> int:
        """Claim ``tx_id`` for ``user``; returns when the claim lapses (epoch ms)."""
        with self._transaction(f"claiming case {tx_id!r}") as connection:
            return actions.claim(
                connection, tx_id, user, now_ms=self.clock(), ttl_ms=self.claim_ttl_ms
            )

    def release(self, tx_id: str, user: str, *, any_holder: bool = False) -> str | None:
        with self._transaction(f"releasing case {tx_id!r}") as connection:
            return actions.release(
                connection, tx_id, user, now_ms=self.clock(), any_holder=any_holder
            )

    def decide(self, tx_id: str, user: str, *, is_fraud: bool, note: str = "") -> Label:
        """Verdict + audit row + outbox label in one transaction; returns the label."""
        with self._transaction(f"deciding case {tx_id!r}") as connection:
            return actions.decide(
                connection, tx_id, user, is_fraud=is_fraud, note=note, now_ms=self.clock()
            )

    # -- users ----------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, *, actor: str) -> User:
        with self._transaction(f"adding user {name!r}") as connection:
            return user_table.add_user(
                connection, name, role, password, now_ms=self.clock(), actor=actor
            )

    def remove_user(self, name: str, *, actor: str) -> None:
        with self._transaction(f"removing user {name!r}") as connection:
            user_table.remove_user(connection, name, now_ms=self.clock(), actor=actor)

    def find_user(self, name: str) -> User | None:
        with self._transaction("reading a user") as connection:
            return user_table.find_user(connection, name)

    def list_users(self) -> list[User]:
        with self._transaction("listing users") as connection:
            return user_table.list_users(connection)

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        """A new password for ``name``; their sessions end."""
        with self._transaction(f"setting the password of {name!r}") as connection:
            user_table.set_password(connection, name, password, now_ms=self.clock(), actor=actor)

    def end_sessions(self, name: str, *, actor: str) -> None:
        """Log ``name`` out everywhere: every token issued to them so far stops working."""
        with self._transaction(f"ending the sessions of {name!r}") as connection:
            if user_table.find_user(connection, name) is None:
                raise UserError(f"no user {name!r}")
            now = self.clock()
            sessions.end_sessions(connection, name, now_ms=now)
            audit.record(
                connection, at_ms=now, actor=actor, action="user-logout-all", detail={"user": name}
            )

    def unlock(self, *, name: str | None = None, client: str | None = None, actor: str) -> int:
        """Forget the failed logins (throttling) of user ``name`` or from address
        ``client``; how many there were."""
        if (name is None) == (client is None):
            raise UserError("unlock a user name or a client address (one of them)")
        who = {"user": name} if name is not None else {"client": client}
        with self._transaction(f"unlocking {who}") as connection:
            cleared = sessions.clear_failures(connection, name=name, client=client)
            audit.record(
                connection,
                at_ms=self.clock(),
                actor=actor,
                action="user-unlock" if name is not None else "client-unlock",
                detail={**who, "failures": cleared},
            )
            return cleared

    # -- sessions -------------------------------------------------------------------

    def login(self, name: str, password: str, *, client: str) -> User:
        """The user when the password is theirs: ``AuthError`` otherwise, and
        ``LoginThrottledError`` while ``name`` or ``client`` has failed too often."""
        with self._transaction("checking a login") as connection:
            sessions.begin_attempt(
                connection, name, client, now_ms=self.clock(), policy=self.login_policy
            )
            found = user_table.credentials(connection, name)
        # scrypt (~50 ms) outside any transaction: it must not hold the database.
        user = user_table.check_password(found, password)
        with self._transaction("recording a login") as connection:
            # A password reset (or the user's removal) that landed during the check
            # must win: the token about to be issued would postdate its cutoff.
            if user_table.credentials(connection, name) != found:
                raise AuthError("the password changed while logging in; log in again")
            sessions.succeed_attempt(connection, name)
        return user

    def session_user(self, claims: TokenClaims, token: str) -> User:
        """The user a verified token speaks for, unless its session ended (``AuthError``)."""
        with self._transaction("checking a session") as connection:
            return sessions.session_user(connection, claims, token)

    def logout(self, claims: TokenClaims, token: str) -> None:
        with self._transaction("logging out") as connection:
            sessions.revoke_token(connection, claims, token, now_ms=self.clock())

    # -- the outbox -----------------------------------------------------------------

    @contextmanager
    def pending_labels(self, limit: int) -> Iterator[outbox.OutboxBatch]:
        """The oldest unsent labels, in a transaction that commits their ``mark_sent``."""
        with self._transaction("publishing the label outbox") as connection:
            yield outbox.OutboxBatch(outbox.take_pending(connection, limit), connection, self.clock)

    def count_pending_labels(self) -> int:
        with self._transaction("counting unsent labels") as connection:
            return outbox.count_pending(connection)
