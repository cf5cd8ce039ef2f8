"""The JSON API and the pages over HTTP (FastAPI's test client, a SQLite store)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from services.review.web.app import SECURITY_HEADERS
from services.review.web.auth import COOKIE_NAME
from tests.services.review.events import (
    analysis,
    decision,
    explanation,
    ingest,
    message,
    transaction,
)
from tests.services.review.webapp import PASSWORD, make_webapp

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="alert(1)">'


@pytest.fixture
def web(sqlite_store):
    ingest(
        sqlite_store,
        decision(1, score=0.7, tags=["high_risk_mcc"]),
        decision(2, score=0.95, action="block"),
        transaction(1),
        transaction(2),
        explanation(1, text=f"model says {HOSTILE}", source="template", fallback_reason="timeout"),
        message(1, text=HOSTILE, tx_id="tx-1"),
        analysis(1, summary=f"summary {HOSTILE}", risk_signals=[HOSTILE[:80]]),
    )
    return make_webapp(sqlite_store)


@pytest.fixture
def client(web):
    with TestClient(web.app) as test_client:
        yield test_client


def _login(client: TestClient, user: str) -> dict[str, str]:
    response = client.post("/api/login", json={"username": user, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == user and body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['token']}"}


def test_login_gives_a_token_and_refuses_a_wrong_password(client) -> None:
    ann = _login(client, "ann")
    assert client.get("/api/me", headers=ann).json() == {"user": "ann", "role": "analyst"}
    wrong = client.post("/api/login", json={"username": "ann", "password": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "wrong user name or password"


def test_the_queue_and_a_case_over_the_api(client) -> None:
    ann = _login(client, "ann")
    queue = client.get("/api/cases", headers=ann).json()
    assert [item["tx_id"] for item in queue["items"]] == ["tx-2", "tx-1"]
    assert (queue["total"], queue["pages"]) == (2, 1)
    tagged = client.get("/api/cases", params={"tag": "high_risk_mcc"}, headers=ann).json()
    assert [item["tx_id"] for item in tagged["items"]] == ["tx-1"]
    assert client.get("/api/cases", params={"status": "bogus"}, headers=ann).status_code == 422

    case = client.get("/api/cases/tx-1", headers=ann).json()
    assert case["explanation"]["source"] == "template"
    assert case["messages"][0]["text"] == HOSTILE  # JSON carries it as data, unchanged
    assert case["transaction"]["merchant_id"] == "m-1"
    assert [c["feature"] for c in case["decision"]["top_contributions"]] == [
        "amount",
        "card_count_1h",
    ]
    missing = client.get("/api/cases/tx-404", headers=ann)
    assert missing.status_code == 404


def test_claims_and_verdicts_over_the_api(client, web) -> None:
    ann, bob = _login(client, "ann"), _login(client, "bob")
    assert client.post("/api/cases/tx-1/claim", headers=ann).json()["claimed_by"] == "ann"
    taken = client.post("/api/cases/tx-1/claim", headers=bob)
    assert taken.status_code == 409 and taken.json()["holder"] == "ann"
    assert (
        client.post("/api/cases/tx-1/verdict", json={"is_fraud": True}, headers=bob).status_code
        == 409
    )
    assert client.post("/api/cases/tx-1/release", headers=bob).status_code == 409

    decided = client.post(
        "/api/cases/tx-1/verdict", json={"is_fraud": True, "note": "denied"}, headers=ann
    )
    assert decided.status_code == 200
    label = decided.json()["label"]
    assert (label["tx_id"], label["is_fraud"], label["analyst"], label["note"]) == (
        "tx-1",
        True,
        "ann",
        "denied",
    )
    assert web.woken == [1]  # the publisher was told at once
    again = client.post("/api/cases/tx-1/verdict", json={"is_fraud": False}, headers=ann)
    assert again.status_code == 409 and "already decided" in again.json()["detail"]
    assert web.store.count_pending_labels() == 1


def test_admins_manage_users_and_read_the_audit(client) -> None:
    root = _login(client, "root")
    new = {"name": "cid", "role": "analyst", "password": PASSWORD}
    assert client.post("/api/users", json=new, headers=root).status_code == 201
    assert client.post("/api/users", json=new, headers=root).status_code == 400
    bad_role = {**new, "name": "dan", "role": "superuser"}
    assert client.post("/api/users", json=bad_role, headers=root).status_code == 422
    names = [u["name"] for u in client.get("/api/users", headers=root).json()]
    assert names == ["ann", "bob", "cid", "root"]
    cid = _login(client, "cid")
    client.post("/api/cases/tx-2/claim", headers=cid)
    assert client.post("/api/cases/tx-2/release", headers=root).json()["released"] == "cid"
    trail = client.get("/api/audit", params={"tx_id": "tx-2"}, headers=root).json()
    assert [(e["actor"], e["action"]) for e in trail] == [("root", "release"), ("cid", "claim")]
    assert client.delete("/api/users/cid", headers=root).status_code == 204
    assert client.get("/api/me", headers=cid).status_code == 401


def test_every_response_carries_the_security_headers(client) -> None:
    ann = _login(client, "ann")
    for response in (
        client.get("/login"),
        client.get("/api/cases", headers=ann),
        client.get("/static/review.css"),
        client.get("/api/cases/tx-404", headers=ann),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # default: none
    assert "default-src 'none'" in SECURITY_HEADERS["Content-Security-Policy"]


def _page_login(client: TestClient, user: str) -> None:
    response = client.post(
        "/login", data={"username": user, "password": PASSWORD}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_pages_escape_customer_text_and_model_output(client) -> None:
    _page_login(client, "ann")
    html = client.get("/cases/tx-1").text
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;") >= 3
    assert "Template explanation" in html and "(timeout)" in html


def test_page_forms_need_the_session_csrf_token(client, web) -> None:
    _page_login(client, "ann")
    queue = client.get("/")
    assert queue.status_code == 200 and 'href="/cases/tx-2"' in queue.text
    page = client.get("/cases/tx-1").text
    forged = client.post("/cases/tx-1/claim", data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert web.store.case("tx-1").summary.claimed_by is None

    claimed = client.post("/cases/tx-1/claim", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert (claimed.status_code, claimed.headers["location"]) == (303, "/cases/tx-1?notice=claimed")
    decided = client.post(
        "/cases/tx-1/verdict",
        data={"csrf": _csrf(page), "verdict": "legitimate", "note": "known customer"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    case = web.store.case("tx-1")
    assert (case.summary.verdict, case.verdict_note) == ("legitimate", "known customer")


@pytest.mark.parametrize("tx_id", ["pay/2026/42", "x/claim", "a b?c#d"])
def test_a_case_whose_id_has_slashes_or_reserved_characters_can_be_worked(
    client, web, tx_id
) -> None:
    """Any id the contract allows: the router sees the path decoded, so "/" in an id
    (encoded %2F in the link) used to match no route, and the case stayed unworkable."""
    ingest(web.store, decision(7, tx_id=tx_id), transaction(7, tx_id=tx_id))
    quoted = quote(tx_id, safe="")
    ann = _login(client, "ann")
    assert client.get(f"/api/cases/{quoted}", headers=ann).json()["summary"]["tx_id"] == tx_id
    assert client.post(f"/api/cases/{quoted}/claim", headers=ann).json()["claimed_by"] == "ann"
    assert client.post(f"/api/cases/{quoted}/release", headers=ann).status_code == 200

    _page_login(client, "ann")
    queue = client.get("/").text
    assert f'href="/cases/{quoted}"' in queue
    page = client.get(f"/cases/{quoted}")
    assert page.status_code == 200 and f'action="/cases/{quoted}/verdict"' in page.text
    decided = client.post(
        f"/cases/{quoted}/verdict",
        data={"csrf": _csrf(page.text), "verdict": "fraud", "note": ""},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert web.store.case(tx_id).summary.verdict == "fraud"


def test_a_page_conflict_shows_the_case_with_the_reason(client, web) -> None:
    web.store.claim("tx-1", "bob")
    _page_login(client, "ann")
    page = client.get("/cases/tx-1").text
    assert "Claimed by <strong>bob</strong>" in page and 'id="mark-fraud"' not in page
    refused = client.post("/cases/tx-1/claim", data={"csrf": _csrf(page)})
    assert refused.status_code == 409 and "claimed by bob" in refused.text
