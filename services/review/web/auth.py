"""Who is asking, and may they: the dependencies every protected route declares.

* The API reads ``Authorization: Bearer <token>`` and nothing else.
* The pages read the HttpOnly session cookie and nothing else, and their forms
  carry a CSRF token derived from the session (checked by ``check_csrf``).

Keeping the two apart means a cross-site form can never reach the API with
the cookie, and a stolen Bearer token cannot drive the pages' forms.

Every request verifies the token's signature and expiry, then asks the store
whether its session still stands (``services/review/sessions.py``): a removed
user, a logged-out token, a password reset lock a session out at once, and the
role used is always the current one.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.review.exceptions import AuthError, ForbiddenError
from services.review.store import ReviewStore
from services.review.tokens import TokenClaims, TokenSigner

__all__ = [
    "COOKIE_NAME",
    "ApiAdmin",
    "ApiUser",
    "PageAdmin",
    "PageUser",
    "Principal",
    "ReviewContext",
    "check_csrf",
    "review_context",
]

COOKIE_NAME = "fraudstream_review"


@dataclass(frozen=True)
class ReviewContext:
    """What the routes need, kept on ``app.state.review``."""

    store: ReviewStore
    signer: TokenSigner
    page_size: int = 50
    cookie_secure: bool = False
    #: Called after a verdict commits (wakes the outbox publisher).
    on_verdict: Callable[[], None] | None = None


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token: str
    claims: TokenClaims

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def review_context(request: Request) -> ReviewContext:
    context: ReviewContext = request.app.state.review
    return context


def _principal(context: ReviewContext, token: str) -> Principal:
    claims = context.signer.verify(token)
    user = context.store.session_user(claims, token)
    return Principal(user.name, user.role, token, claims)


def client_address(request: Request) -> str:
    """Who is calling, for login throttling: the peer address (a proxy in front is one peer)."""
    return request.client.host if request.client is not None else "unknown"


def api_user(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing Bearer token (POST /api/login for one)")
    return _principal(review_context(request), token.strip())


def page_user(request: Request) -> Principal:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        raise AuthError("not logged in")
    return _principal(review_context(request), token)


def _admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise ForbiddenError(principal.name, "this needs the admin role")
    return principal


def api_admin(principal: Annotated[Principal, Depends(api_user)]) -> Principal:
    return _admin(principal)


def page_admin(principal: Annotated[Principal, Depends(page_user)]) -> Principal:
    return _admin(principal)


def check_csrf(context: ReviewContext, principal: Principal, submitted: str) -> None:
    """Refuse a page form whose CSRF token is not the one derived from this session."""
    expected = context.signer.csrf_token(principal.token)
    if not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise ForbiddenError(principal.name, "the form has expired; reload the page")


ApiUser = Annotated[Principal, Depends(api_user)]
ApiAdmin = Annotated[Principal, Depends(api_admin)]
PageUser = Annotated[Principal, Depends(page_user)]
PageAdmin = Annotated[Principal, Depends(page_admin)]
