"""The JSON API under ``/api``. Authenticate with ``POST /api/login``, then send
``Authorization: Bearer <token>``.

Customer text and model output come back as JSON strings, exactly as stored:
whoever renders them must escape them (the pages in this package do).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field

from contracts.codec import to_builtins
from services.review.roles import Role
from services.review.views import QueueFilter, QueueStatus
from services.review.web.auth import (
    ApiAdmin,
    ApiUser,
    ReviewContext,
    client_address,
    review_context,
)

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["api"])
Context = Annotated[ReviewContext, Depends(review_context)]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_at_ms: int
    user: str
    role: str


class VerdictRequest(BaseModel):
    is_fraud: bool
    note: str = Field(default="", max_length=2000)


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login")
def login(body: LoginRequest, context: Context, request: Request) -> LoginResponse:
    """Exchange a user name and password for a Bearer token (429 after too many failures)."""
    user = context.store.login(body.username, body.password, client=client_address(request))
    token, expires = context.signer.issue(user.name)
    return LoginResponse(token=token, expires_at_ms=expires, user=user.name, role=user.role)


@router.post("/logout")
def logout(principal: ApiUser, context: Context) -> dict[str, bool]:
    """End this token's session: it stops working at once."""
    context.store.logout(principal.claims, principal.token)
    return {"logged_out": True}


@router.get("/me")
def me(principal: ApiUser) -> dict[str, str]:
    return {"user": principal.name, "role": principal.role}


@router.get("/cases")
def list_cases(
    principal: ApiUser,
    context: Context,
    status_filter: Annotated[QueueStatus, Query(alias="status")] = "open",
    action: Literal["flag", "block"] | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    min_amount: float | None = None,
    max_amount: float | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The queue: by risk (highest first), then age (longest waiting first)."""
    queue = context.store.queue(
        QueueFilter(status_filter, action, tag or None, min_amount, max_amount),
        viewer=principal.name,
        page=page,
        per_page=per_page,
    )
    return {**asdict(queue), "pages": queue.pages}


@router.get("/cases/{tx_id:path}")
def get_case(tx_id: str, principal: ApiUser, context: Context) -> dict[str, Any]:
    """The case with its decision, transaction, explanation, recent activity and messages."""
    return asdict(context.store.case(tx_id))


@router.post("/cases/{tx_id:path}/claim")
def claim_case(tx_id: str, principal: ApiUser, context: Context) -> dict[str, Any]:
    """Claim the case (409 when someone else holds it or it is decided)."""
    expires = context.store.claim(tx_id, principal.name)
    return {"tx_id": tx_id, "claimed_by": principal.name, "claim_expires_ms": expires}


@router.post("/cases/{tx_id:path}/release")
def release_case(tx_id: str, principal: ApiUser, context: Context) -> dict[str, Any]:
    """Release your claim; admins may release anyone's."""
    holder = context.store.release(tx_id, principal.name, any_holder=principal.is_admin)
    return {"tx_id": tx_id, "released": holder}


@router.post("/cases/{tx_id:path}/verdict")
def decide_case(
    tx_id: str, body: VerdictRequest, principal: ApiUser, context: Context
) -> dict[str, Any]:
    """Fraud or legitimate, with a note: publishes one label (409 if already decided)."""
    label = context.store.decide(tx_id, principal.name, is_fraud=body.is_fraud, note=body.note)
    if context.on_verdict is not None:
        context.on_verdict()
    return {
        "tx_id": tx_id,
        "verdict": "fraud" if body.is_fraud else "legitimate",
        "label": to_builtins(label),
    }


@router.get("/audit")
def read_audit(
    principal: ApiAdmin,
    context: Context,
    tx_id: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """The audit trail, newest first (admins)."""
    return [asdict(entry) for entry in context.store.audit(tx_id=tx_id, actor=actor, limit=limit)]


@router.get("/users")
def list_users(principal: ApiAdmin, context: Context) -> list[dict[str, Any]]:
    """Every user and role (admins)."""
    return [asdict(user) for user in context.store.list_users()]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def add_user(body: NewUser, principal: ApiAdmin, context: Context) -> dict[str, Any]:
    """Create a user (admins)."""
    user = context.store.add_user(body.name, body.role, body.password, actor=principal.name)
    return asdict(user)


@router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_user(name: str, principal: ApiAdmin, context: Context) -> None:
    """Remove a user; their tokens stop working at once (admins)."""
    context.store.remove_user(name, actor=principal.name)


@router.put("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT)
def set_password(name: str, body: NewPassword, principal: ApiAdmin, context: Context) -> None:
    """Give a user a new password; every session they had ends (admins)."""
    context.store.set_password(name, body.password, actor=principal.name)


@router.post("/users/{name}/logout", status_code=status.HTTP_204_NO_CONTENT)
def end_sessions(name: str, principal: ApiAdmin, context: Context) -> None:
    """Log a user out everywhere: every token issued to them so far stops working (admins)."""
    context.store.end_sessions(name, actor=principal.name)


@router.post("/users/{name}/unlock")
def unlock(name: str, principal: ApiAdmin, context: Context) -> dict[str, int]:
    """Forget a user name's failed logins, lifting its throttling (admins)."""
    return {"failures_cleared": context.store.unlock(name=name, actor=principal.name)}
