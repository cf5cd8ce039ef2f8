"""Authentication and roles: tokens, passwords, and every endpoint checking them."""

from __future__ import annotations

import os
import stat

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from contracts.errors import ConfigError
from contracts.settings import ReviewSettings, Settings
from services.review.exceptions import AuthError
from services.review.passwords import hash_password, verify_password
from services.review.tokens import TokenSigner, load_secret_key
from services.review.web.auth import COOKIE_NAME
from tests.services.review.events import decision, ingest
from tests.services.review.webapp import make_webapp

#: Routes anyone may call: logging in, the health check (says nothing), the login page.
PUBLIC = {("POST", "/api/login"), ("GET", "/healthz"), ("GET", "/login"), ("POST", "/login")}
ANALYSTS = {
    ("GET", "/api/me"),
    ("GET", "/api/cases"),
    ("GET", "/api/cases/{tx_id:path}"),
    ("POST", "/api/cases/{tx_id:path}/claim"),
    ("POST", "/api/cases/{tx_id:path}/release"),
    ("POST", "/api/cases/{tx_id:path}/verdict"),
    ("GET", "/"),
    ("GET", "/cases/{tx_id:path}"),
    ("POST", "/cases/{tx_id:path}/claim"),
    ("POST", "/cases/{tx_id:path}/release"),
    ("POST", "/cases/{tx_id:path}/verdict"),
    ("POST", "/logout"),
    ("POST", "/api/logout"),
}
ADMIN_ONLY = {
    ("GET", "/api/audit"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("DELETE", "/api/users/{name}"),
    ("PUT", "/api/users/{name}/password"),
    ("POST", "/api/users/{name}/logout"),
    ("POST", "/api/users/{name}/unlock"),
    ("GET", "/admin/audit"),
}


def _routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route, included routers too (FastAPI nests them)."""
    found = []
    pending = list(app.routes)
    while pending:
        route = pending.pop(0)
        if isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods - {"HEAD"})]
        elif hasattr(route, "original_router"):
            pending += route.original_router.routes
    return found


def _call(client: TestClient, method: str, path: str, **kwargs):
    url = path.replace("{tx_id:path}", "tx-1").replace("{name}", "bob")
    form = {"csrf": "x", "verdict": "fraud", "note": ""} if method == "POST" else None
    if url.startswith("/api/"):
        body = {"is_fraud": True, "name": "cid", "role": "analyst", "password": "long enough"}
        return client.request(method, url, json=body, **kwargs)
    return client.request(method, url, data=form, follow_redirects=False, **kwargs)


@pytest.fixture
def web(sqlite_store):
    ingest(sqlite_store, decision(1))
    return make_webapp(sqlite_store)


def test_the_route_table_is_what_these_tests_cover(web) -> None:
    """A new route fails this test until it is listed here, and so checked below."""
    assert set(_routes(web.app)) == PUBLIC | ANALYSTS | ADMIN_ONLY


def test_every_endpoint_refuses_a_request_without_a_token(web) -> None:
    client = TestClient(web.app)
    for method, path in _routes(web.app):
        if (method, path) in PUBLIC:
            continue
        response = _call(client, method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert (response.status_code, response.headers.get("location")) == (303, "/login")


def test_every_endpoint_refuses_an_expired_or_forged_token(web, clock) -> None:
    stale = web.token("root")
    clock.advance(web.signer.ttl_s * 1000)
    forged = web.token("root")[:-2] + "xx"
    client = TestClient(web.app)
    for token in (stale, forged):
        for method, path in _routes(web.app):
            if (method, path) in PUBLIC:
                continue
            if path.startswith("/api/"):
                headers = {"Authorization": f"Bearer {token}"}
                assert _call(client, method, path, headers=headers).status_code == 401
            else:
                client.cookies.set(COOKIE_NAME, token)
                response = _call(client, method, path)
                client.cookies.clear()
                assert response.status_code == 303, (method, path)
                assert response.headers["location"] == "/login"


def test_a_token_with_non_ascii_bytes_is_refused_not_a_server_error(web) -> None:
    """hmac.compare_digest raises TypeError on non-ASCII text: that was a 500."""
    token = (web.token("root")[:-2] + "\u00e9\u00e9").encode("latin-1")  # as a header carries it
    client = TestClient(web.app)
    response = client.get("/api/me", headers={"Authorization": b"Bearer " + token})
    assert response.status_code == 401
    page = client.get("/", headers={"Cookie": COOKIE_NAME.encode() + b"=" + token},
                      follow_redirects=False)  # fmt: skip
    assert (page.status_code, page.headers["location"]) == (303, "/login")


def test_admin_endpoints_refuse_analysts(web) -> None:
    client = TestClient(web.app)
    for method, path in ADMIN_ONLY:
        if path.startswith("/api/"):
            response = _call(client, method, path, headers=web.bearer("ann"))
            assert response.status_code == 403, (method, path)
            assert "admin role" in response.json()["detail"]
        else:
            client.cookies.set(COOKIE_NAME, web.token("ann"))
            assert _call(client, method, path).status_code == 403
            client.cookies.clear()
        # ... and admins pass the same check (their request may still be refused later).
    assert client.get("/api/audit", headers=web.bearer("root")).status_code == 200


def test_the_api_ignores_the_cookie_and_the_pages_ignore_the_bearer_header(web) -> None:
    client = TestClient(web.app)
    client.cookies.set(COOKIE_NAME, web.token("ann"))
    assert client.get("/api/cases").status_code == 401
    client.cookies.clear()
    page = client.get("/", headers=web.bearer("ann"), follow_redirects=False)
    assert page.status_code == 303


def test_a_removed_user_is_locked_out_at_once(web) -> None:
    token = web.token("bob")
    client = TestClient(web.app)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json() == {
        "user": "bob",
        "role": "analyst",
    }
    web.store.remove_user("bob", actor="test")
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "no longer exists" in response.json()["detail"]


def test_tokens_expire_and_cannot_be_altered(clock) -> None:
    signer = TokenSigner(b"k" * 32, ttl_s=60, clock=clock)
    token, expires = signer.issue("ann")
    assert signer.verify(token).user == "ann" and expires == clock.now_ms + 60_000
    other = TokenSigner(b"j" * 32, ttl_s=60, clock=clock)
    with pytest.raises(AuthError, match="signature"):
        other.verify(token)
    version, payload, signature = token.split(".")
    with pytest.raises(AuthError):
        signer.verify(f"{version}.{payload}x.{signature}")
    # Non-ASCII text made hmac.compare_digest raise TypeError (a 500, not a 401).
    for junk in ("", "v1", "v2.a.b", "v1..", "not a token", "v1.a.\u00e9", "v1.\u00e9.b"):
        with pytest.raises(AuthError):
            signer.verify(junk)
    clock.advance(60_000)
    with pytest.raises(AuthError, match="expired"):
        signer.verify(token)


def test_passwords_are_salted_and_checked() -> None:
    first, second = hash_password("secret words"), hash_password("secret words")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("secret words", first) and verify_password("secret words", second)
    assert not verify_password("secret word", first)
    assert not verify_password("secret words", "md5$abc")
    assert not verify_password("secret words", "scrypt$x$8$1$a$b")


def test_the_signing_key_is_kept_private_in_the_state_dir(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    key = load_secret_key(settings)
    path = tmp_path / "state" / "review-secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(settings) == key and len(key) == 64
    configured = Settings(review=ReviewSettings(secret_key=SecretStr("s" * 40)))
    assert load_secret_key(configured) == b"s" * 40
    with pytest.raises(ConfigError, match="at least 16"):
        TokenSigner(b"short", ttl_s=60)
