"""The analysts' web pages: log in, the queue, a case, the audit trail (admins).

Server-rendered with Jinja2 (autoescaped) and plain HTML forms: no script runs
on any page, so the Content-Security-Policy forbids scripts outright. Form
posts carry the session's CSRF token and answer with a redirect (303), so a
reload never posts twice.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.review.exceptions import AuthError, CaseConflictError, LoginThrottledError
from services.review.views import QueueFilter, QueueStatus
from services.review.web.auth import (
    COOKIE_NAME,
    PageAdmin,
    PageUser,
    Principal,
    ReviewContext,
    check_csrf,
    client_address,
    review_context,
)
from services.review.web.render import make_environment, shap_bars

__all__ = ["error_page", "router"]

router = APIRouter(include_in_schema=False)
Context = Annotated[ReviewContext, Depends(review_context)]
_ENV = make_environment()
_STATUSES: tuple[str, ...] = get_args(QueueStatus)
#: Messages a redirect may ask the next page to show (never text from the request).
_NOTICES = {
    "claimed": "You hold this case now.",
    "released": "Claim released.",
    "decided": "Verdict recorded; its label is on its way to the labels topic.",
}


def _render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(name).render(**context), status_code=status_code)


def _page(
    context: ReviewContext, principal: Principal, name: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    return _render(
        name,
        status_code,
        user=principal,
        csrf=context.signer.csrf_token(principal.token),
        **extra,
    )


def error_page(status_code: int, message: str) -> HTMLResponse:
    return _render("error.html", status_code, code=status_code, message=message)


# -- session -----------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return _render("login.html", error=None, username="")


@router.post("/login")
def login(
    context: Context,
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        user = context.store.login(username, password, client=client_address(request))
    except AuthError as exc:
        return _render("login.html", 401, error=str(exc), username=username)
    except LoginThrottledError as exc:
        page = _render("login.html", 429, error=str(exc), username=username)
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    token, _ = context.signer.issue(user.name)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=context.signer.ttl_s,
        path="/",
        httponly=True,
        secure=context.cookie_secure,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(
    principal: PageUser, context: Context, csrf: Annotated[str, Form(max_length=128)]
) -> Response:
    check_csrf(context, principal, csrf)
    context.store.logout(principal.claims, principal.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


# -- the queue ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def queue_page(
    principal: PageUser,
    context: Context,
    status: str = "open",
    action: str = "",
    tag: str = "",
    min_amount: str = "",
    max_amount: str = "",
    page: str = "1",
) -> HTMLResponse:
    """The queue; bad filter values are ignored rather than refused (it is a search form)."""
    queue_filter = QueueFilter(
        status=status if status in _STATUSES else "open",  # type: ignore[arg-type]
        action=action if action in ("flag", "block") else None,  # type: ignore[arg-type]
        tag=tag.strip()[:64] or None,
        min_amount=_number(min_amount),
        max_amount=_number(max_amount),
    )
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    queue = context.store.queue(
        queue_filter, viewer=principal.name, page=number, per_page=context.page_size
    )
    filters = {
        "status": queue_filter.status,
        "action": queue_filter.action or "",
        "tag": queue_filter.tag or "",
        "min_amount": min_amount.strip() if queue_filter.min_amount is not None else "",
        "max_amount": max_amount.strip() if queue_filter.max_amount is not None else "",
    }
    return _page(
        context,
        principal,
        "queue.html",
        queue=queue,
        filters=filters,
        statuses=_STATUSES,
        page_link=lambda n: "/?" + urlencode({**filters, "page": n}),
    )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- a case ------------------------------------------------------------------------------


@router.get("/cases/{tx_id:path}", response_class=HTMLResponse)
def case_page(tx_id: str, principal: PageUser, context: Context, notice: str = "") -> HTMLResponse:
    return _case(context, principal, tx_id, notice=_NOTICES.get(notice))


def _case(
    context: ReviewContext,
    principal: Principal,
    tx_id: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    case = context.store.case(tx_id)
    return _page(
        context,
        principal,
        "case.html",
        status_code,
        case=case,
        bars=shap_bars(case.decision.get("top_contributions", [])),
        notice=notice,
        error=error,
    )


def _after(
    context: ReviewContext, principal: Principal, tx_id: str, notice: str, change: Any
) -> Response:
    """Run ``change``; redirect to the case with ``notice``, or show it with the conflict."""
    try:
        change()
    except CaseConflictError as exc:
        return _case(context, principal, tx_id, error=exc.reason, status_code=409)
    return RedirectResponse(f"/cases/{_path(tx_id)}?notice={notice}", status_code=303)


def _path(tx_id: str) -> str:
    return quote(tx_id, safe="")


@router.post("/cases/{tx_id:path}/claim")
def claim(
    tx_id: str,
    principal: PageUser,
    context: Context,
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    check_csrf(context, principal, csrf)
    return _after(
        context, principal, tx_id, "claimed", lambda: context.store.claim(tx_id, principal.name)
    )


@router.post("/cases/{tx_id:path}/release")
def release(
    tx_id: str,
    principal: PageUser,
    context: Context,
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    check_csrf(context, principal, csrf)
    return _after(
        context,
        principal,
        tx_id,
        "released",
        lambda: context.store.release(tx_id, principal.name, any_holder=principal.is_admin),
    )


@router.post("/cases/{tx_id:path}/verdict")
def verdict(
    tx_id: str,
    principal: PageUser,
    context: Context,
    csrf: Annotated[str, Form(max_length=128)],
    verdict: Annotated[str, Form(pattern="^(fraud|legitimate)$")],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(context, principal, csrf)

    def decide() -> None:
        context.store.decide(tx_id, principal.name, is_fraud=verdict == "fraud", note=note)
        if context.on_verdict is not None:
            context.on_verdict()

    return _after(context, principal, tx_id, "decided", decide)


# -- admin -------------------------------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(principal: PageAdmin, context: Context, tx_id: str = "") -> HTMLResponse:
    entries = context.store.audit(tx_id=tx_id.strip() or None, limit=500)
    return _page(context, principal, "audit.html", entries=entries, tx_id=tx_id.strip())
