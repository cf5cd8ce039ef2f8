"""The FastAPI application: routes, error mapping, and the headers every response carries.

Status codes live here and only here: ``CaseNotFoundError`` 404,
``CaseConflictError`` 409, ``AuthError`` 401, ``ForbiddenError`` 403, ``LoginThrottledError`` 429,
``UserError`` 400, a database failure 503. The API answers JSON; the pages
answer HTML (and send a visitor without a valid session to the login page).

Every response gets a strict Content-Security-Policy: no script runs on these
pages at all (they need none), styles come from our own stylesheet, forms post
only back here, and no other site may frame them. Escaping (Jinja2 autoescape)
is the first defence against hostile customer text; the policy is the second.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.review.exceptions import (
    AuthError,
    CaseConflictError,
    CaseNotFoundError,
    ForbiddenError,
    LoginThrottledError,
    ReviewError,
    ReviewStoreError,
    UserError,
)
from services.review.web import api, pages
from services.review.web.auth import COOKIE_NAME, ReviewContext

__all__ = ["SECURITY_HEADERS", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Case data is personal: no browser or proxy keeps a copy.
    "Cache-Control": "no-store",
}


def create_app(context: ReviewContext) -> FastAPI:
    """The review queue's application around ``context`` (store, token signer, options)."""
    app = FastAPI(
        title="fraudstream review queue",
        summary="Analysts' queue of flagged and blocked transactions; verdicts become labels.",
        # The interactive docs load scripts from a CDN, which the policy forbids.
        docs_url=None,
        redoc_url=None,
    )
    app.state.review = context
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for container health checks: public, and says nothing about cases."""
        return {"status": "ok"}

    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(ReviewError, _review_error)  # type: ignore[arg-type]
    return app


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (plain ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _status_of(error: ReviewError) -> int:
    if isinstance(error, CaseNotFoundError):
        return 404
    if isinstance(error, CaseConflictError):
        return 409
    if isinstance(error, AuthError):
        return 401
    if isinstance(error, ForbiddenError):
        return 403
    if isinstance(error, LoginThrottledError):
        return 429
    if isinstance(error, UserError):
        return 400
    if isinstance(error, ReviewStoreError):
        return 503
    return 500


async def _review_error(request: Request, error: ReviewError) -> Response:
    code = _status_of(error)
    if request.url.path.startswith("/api/"):
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        if isinstance(error, LoginThrottledError):
            headers = {"Retry-After": str(error.retry_after_s)}
        body: dict[str, object] = {"detail": str(error)}
        if isinstance(error, CaseConflictError):
            body["holder"] = error.holder
        return JSONResponse(body, status_code=code, headers=headers)
    if code == 401:
        # A missing or expired session: to the login page, dropping the stale cookie.
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response
    return pages.error_page(code, str(error))
