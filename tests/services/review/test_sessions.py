"""Sessions that end before their tokens expire, and login throttling (HTTP and store)."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from services.review.exceptions import AuthError, LoginThrottledError
from services.review.sessions import LoginPolicy
from services.review.web.auth import COOKIE_NAME
from tests.services.review.conftest import BACKENDS
from tests.services.review.webapp import PASSWORD, make_webapp


@pytest.fixture
def web(sqlite_store):
    return make_webapp(sqlite_store)


def _login(client: TestClient, user: str, password: str = PASSWORD):
    return client.post("/api/login", json={"username": user, "password": password})


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code


# -- ending sessions ---------------------------------------------------------------------


def test_api_logout_ends_that_session_only(web) -> None:
    client = TestClient(web.app)
    first, second = web.token("ann"), None
    web.store.clock.advance(1)
    second = web.token("ann")
    assert _me(client, first) == 200 and _me(client, second) == 200
    response = client.post("/api/logout", headers={"Authorization": f"Bearer {first}"})
    assert response.status_code == 200
    refused = client.get("/api/me", headers={"Authorization": f"Bearer {first}"})
    assert refused.status_code == 401 and "logged out" in refused.json()["detail"]
    assert _me(client, second) == 200


def test_page_logout_revokes_the_cookie_not_just_deletes_it(web) -> None:
    client = TestClient(web.app)
    page = client.post(
        "/login", data={"username": "ann", "password": PASSWORD}, follow_redirects=False
    )
    assert page.status_code == 303
    session = page.cookies[COOKIE_NAME]
    csrf = web.signer.csrf_token(session)
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # Someone who copied the cookie before the logout gets nothing with it.
    thief = TestClient(web.app)
    thief.cookies.set(COOKIE_NAME, session)
    assert thief.get("/", follow_redirects=False).headers["location"] == "/login"
    assert _me(thief, session) == 401


def test_a_user_removed_and_made_again_does_not_inherit_old_tokens(web) -> None:
    client = TestClient(web.app)
    old = web.token("bob")
    web.store.clock.advance(1_000)
    web.store.remove_user("bob", actor="test")
    web.store.add_user("bob", "admin", "a new password", actor="test")
    refused = client.get("/api/me", headers={"Authorization": f"Bearer {old}"})
    assert refused.status_code == 401 and "earlier user" in refused.json()["detail"]
    # (the new bob is an admin: the old token must not have become one)
    web.store.clock.advance(1)
    assert client.get("/api/users", headers=web.bearer("bob")).status_code == 200


def test_an_admin_password_reset_ends_every_session_and_the_old_password(web) -> None:
    client = TestClient(web.app)
    before = [web.token("ann") for _ in range(2)]
    web.store.clock.advance(1_000)
    reset = client.put(
        "/api/users/ann/password", json={"password": "brand new words"}, headers=web.bearer("root")
    )
    assert reset.status_code == 204
    for token in before:
        refused = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and "ended" in refused.json()["detail"]
    web.store.clock.advance(1)
    assert _login(client, "ann").status_code == 401
    assert _login(client, "ann", "brand new words").status_code == 200
    assert ("user-password", "ann") in [
        (entry.action, entry.detail["user"]) for entry in web.store.audit(actor="root")
    ]
    short = client.put(
        "/api/users/ann/password", json={"password": "short"}, headers=web.bearer("root")
    )
    assert short.status_code == 400
    unknown = client.put(
        "/api/users/nobody/password", json={"password": "long enough"}, headers=web.bearer("root")
    )
    assert unknown.status_code == 400 and "no user" in unknown.json()["detail"]


def test_logging_a_user_out_everywhere_spares_later_sessions_and_other_users(web) -> None:
    client = TestClient(web.app)
    ann, bob = web.token("ann"), web.token("bob")
    web.store.clock.advance(1_000)
    assert client.post("/api/users/ann/logout", headers=web.bearer("root")).status_code == 204
    assert _me(client, ann) == 401 and _me(client, bob) == 200
    web.store.clock.advance(1)
    assert _me(client, web.token("ann")) == 200
    assert client.post("/api/users/nobody/logout", headers=web.bearer("root")).status_code == 400


# -- throttling ---------------------------------------------------------------------------


def test_failed_logins_throttle_the_name_until_the_window_passes(web) -> None:
    web.store.login_policy = LoginPolicy(max_failures=3, max_failures_per_client=50, window_s=60)
    client = TestClient(web.app)
    for _ in range(3):
        assert _login(client, "ann", "wrong guess").status_code == 401
        web.store.clock.advance(5_000)
    # The right password is not even checked now: guessing has stopped paying.
    throttled = _login(client, "ann")
    assert throttled.status_code == 429
    assert "this user name" in throttled.json()["detail"]
    # The first failure was 15 s ago: it leaves the window in 45 s.
    assert throttled.headers["Retry-After"] == "45"
    page = client.post("/login", data={"username": "ann", "password": PASSWORD})
    assert page.status_code == 429 and page.headers["Retry-After"] == "45"
    assert "too many failed logins" in page.text
    assert _login(client, "bob").status_code == 200  # other names are not locked
    web.store.clock.advance(45_000)
    assert _login(client, "ann").status_code == 200


def test_a_successful_login_forgives_earlier_failures(web) -> None:
    web.store.login_policy = LoginPolicy(max_failures=3, max_failures_per_client=50, window_s=60)
    client = TestClient(web.app)
    for _ in range(2):
        assert _login(client, "ann", "wrong guess").status_code == 401
    assert _login(client, "ann").status_code == 200
    for _ in range(2):
        assert _login(client, "ann", "wrong guess").status_code == 401
    assert _login(client, "ann").status_code == 200


def test_one_client_guessing_across_names_is_throttled_other_clients_are_not(web) -> None:
    web.store.login_policy = LoginPolicy(max_failures=3, max_failures_per_client=4, window_s=60)
    sprayer = TestClient(web.app, client=("203.0.113.9", 4000))
    for name in ("ann", "bob", "root", "nobody"):
        assert _login(sprayer, name, "Summer2026!").status_code == 401
    refused = _login(sprayer, "carol", "Summer2026!")
    assert refused.status_code == 429 and "this client" in refused.json()["detail"]
    colleague = TestClient(web.app, client=("198.51.100.7", 4000))
    assert _login(colleague, "ann").status_code == 200


def test_an_admin_unlocks_a_throttled_name(web) -> None:
    web.store.login_policy = LoginPolicy(max_failures=2, max_failures_per_client=50, window_s=600)
    client = TestClient(web.app)
    for _ in range(2):
        _login(client, "ann", "wrong guess")
    assert _login(client, "ann").status_code == 429
    unlocked = client.post("/api/users/ann/unlock", headers=web.bearer("root"))
    assert unlocked.json() == {"failures_cleared": 2}
    assert _login(client, "ann").status_code == 200


@pytest.mark.parametrize("store", BACKENDS, indirect=True)
def test_guesses_sent_at_once_are_counted_before_their_passwords_are_checked(store) -> None:
    store.add_user("ann", "analyst", PASSWORD, actor="test")
    store.login_policy = LoginPolicy(max_failures=5, max_failures_per_client=100, window_s=60)
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        start.wait()
        try:
            store.login("ann", f"guess {i}", client="attacker")
        except AuthError:
            outcomes.append("checked")
        except LoginThrottledError:
            outcomes.append("throttled")

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each password check takes ~50 ms (scrypt): counted only after it, all 20 would run.
    assert sorted(outcomes).count("checked") == 5
    assert outcomes.count("throttled") == 15
    with pytest.raises(LoginThrottledError):
        store.login("ann", PASSWORD, client="someone else")


@pytest.mark.parametrize("store", BACKENDS, indirect=True)
def test_a_password_reset_during_the_check_refuses_the_login(store, monkeypatch) -> None:
    # The check runs outside any transaction (scrypt, ~50 ms): a reset landing in
    # it let the old password log in with a token issued after the reset's cutoff.
    from services.review import users

    store.add_user("ann", "analyst", PASSWORD, actor="test")
    real_check = users.check_password

    def check_then_reset(found, password):
        user = real_check(found, password)
        store.set_password("ann", "a brand new password", actor="admin")
        return user

    monkeypatch.setattr(users, "check_password", check_then_reset)
    with pytest.raises(AuthError, match="password changed while logging in"):
        store.login("ann", PASSWORD, client="laptop")
    monkeypatch.undo()
    assert store.login("ann", "a brand new password", client="laptop").name == "ann"


def test_an_admin_unlocks_a_throttled_client_address(sqlite_store, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from services.cli.main import cli

    sqlite_store.add_user("ann", "analyst", PASSWORD, actor="test")
    sqlite_store.login_policy = LoginPolicy(max_failures=50, max_failures_per_client=2)
    for name in ("ann", "bob"):
        with pytest.raises(AuthError):
            sqlite_store.login(name, "Summer2026!", client="10.9.8.7")
    with pytest.raises(LoginThrottledError, match="this client"):
        sqlite_store.login("ann", PASSWORD, client="10.9.8.7")
    monkeypatch.setenv("FRAUDSTREAM_REVIEW__DATABASE_URL", str(sqlite_store.engine.url))
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "users", "unlock", "--client", "10.9.8.7"])
    assert result.exit_code == 0, result.output
    assert "cleared 2 failed login(s) from 10.9.8.7" in result.output
    assert sqlite_store.login("ann", PASSWORD, client="10.9.8.7").name == "ann"
    neither = runner.invoke(cli, ["review", "users", "unlock"])
    assert neither.exit_code == 2 and "give a user NAME or --client ADDRESS" in neither.output
