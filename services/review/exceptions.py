"""Errors of the review queue.

Hierarchy::

    services.exceptions.ServiceError
    └── ReviewError
        ├── ReviewStoreError     the case database failed (translated from SQLAlchemy);
        │                        ``retriable`` when trying again may help
        ├── CaseNotFoundError    no case with that transaction id          (HTTP 404)
        ├── CaseConflictError    claimed by someone else, already decided  (HTTP 409)
        ├── AuthError            bad credentials, bad or expired token     (HTTP 401)
        ├── LoginThrottledError  too many failed logins; ``retry_after_s`` (HTTP 429)
        ├── ForbiddenError       authenticated, but the role may not       (HTTP 403)
        └── UserError            a user cannot be added (exists, bad name or role)

HTTP status codes are chosen in ``services.review.web`` only; these carry fields.
"""

from __future__ import annotations

from services.exceptions import ServiceError

__all__ = [
    "AuthError",
    "CaseConflictError",
    "CaseNotFoundError",
    "ForbiddenError",
    "LoginThrottledError",
    "ReviewError",
    "ReviewStoreError",
    "UserError",
]


class ReviewError(ServiceError):
    """Root of the review queue's errors."""


class ReviewStoreError(ReviewError):
    """The case database failed. ``retriable``: a lost connection, a lock timeout."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        self.retriable = retriable
        super().__init__(message)


class CaseNotFoundError(ReviewError):
    def __init__(self, tx_id: str) -> None:
        self.tx_id = tx_id
        super().__init__(f"no case for transaction {tx_id!r}")


class CaseConflictError(ReviewError):
    """The case is not in a state that allows the action (``reason`` says why)."""

    def __init__(self, tx_id: str, reason: str, *, holder: str | None = None) -> None:
        self.tx_id = tx_id
        self.reason = reason
        self.holder = holder
        super().__init__(f"case {tx_id!r}: {reason}")


class AuthError(ReviewError):
    """Who is asking cannot be established (no token, bad signature, expired, bad password)."""


class ForbiddenError(ReviewError):
    """Authenticated as ``user``, but not allowed: ``reason`` says what was missing."""

    def __init__(self, user: str, reason: str) -> None:
        self.user = user
        self.reason = reason
        super().__init__(f"{user}: {reason}")


class UserError(ReviewError):
    """A user cannot be created or changed as asked."""


class LoginThrottledError(ReviewError):
    """Too many failed logins for a user name or from a client; try after ``retry_after_s``."""

    def __init__(self, who: str, failures: int, *, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"too many failed logins for {who} ({failures} recently); "
            f"try again in {retry_after_s} s"
        )
