"""The web app around a SQLite store, with three users, for the HTTP and browser tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import FastAPI

from services.review.store import ReviewStore
from services.review.tokens import TokenSigner
from services.review.web import create_app
from services.review.web.auth import ReviewContext

PASSWORD = "correct horse battery"
USERS = {"ann": "analyst", "bob": "analyst", "root": "admin"}


@dataclass
class WebApp:
    app: FastAPI
    store: ReviewStore
    signer: TokenSigner
    woken: list[int]

    def token(self, user: str) -> str:
        return self.signer.issue(user)[0]

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


def make_webapp(store: ReviewStore) -> WebApp:
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD, actor="test")
    signer = TokenSigner(secrets.token_bytes(32), ttl_s=3600, clock=store.clock)
    woken: list[int] = []
    app = create_app(
        ReviewContext(store=store, signer=signer, page_size=50, on_verdict=lambda: woken.append(1))
    )
    return WebApp(app, store, signer, woken)
