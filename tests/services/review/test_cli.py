"""The commands: ``fraudstream review users|token|bench`` and ``fraudstream run review``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from contracts.codec import encode
from contracts.settings import ReviewSettings
from services.cli.main import cli
from services.review.store import ReviewStore
from services.review.tokens import TokenSigner, load_secret_key
from tests.conftest import settings_env
from tests.services.review.events import decision


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def test_a_password_reset_and_a_logout_from_the_command_line_end_sessions(state_dir) -> None:
    from contracts.settings import load_settings
    from services.review.exceptions import AuthError

    env = {"OLD": "first password", "NEW": "second password"}
    assert _invoke("review", "users", "add", "ann", "--password-env", "OLD", env=env).exit_code == 0
    store = ReviewStore.from_settings(load_settings())
    try:
        signer = TokenSigner(load_secret_key(load_settings()), 60)
        first = _invoke("review", "token", "ann").output.strip()
        assert store.session_user(signer.verify(first), first).name == "ann"
        reset = _invoke("review", "users", "set-password", "ann", "--password-env", "NEW", env=env)
        assert reset.exit_code == 0 and "earlier sessions are over" in reset.output
        with pytest.raises(AuthError, match="ended"):
            store.session_user(signer.verify(first), first)
        with pytest.raises(AuthError):
            store.login("ann", "first password", client="cli-test")
        assert store.login("ann", "second password", client="cli-test").name == "ann"
        logout = _invoke("review", "users", "logout", "ann")
        assert logout.exit_code == 0 and "ended every session of ann" in logout.output
        unknown = CliRunner().invoke(cli, ["review", "users", "logout", "nobody"])
        assert unknown.exit_code != 0 and "no user 'nobody'" in str(unknown.exception)
        with pytest.raises(AuthError):
            store.login("ann", "wrong password", client="cli-test")
        unlocked = _invoke("review", "users", "unlock", "ann")
        assert "cleared 1 failed login(s) of ann" in unlocked.output
    finally:
        store.close()


def test_users_are_managed_from_the_command_line(state_dir) -> None:
    added = _invoke(
        "review", "users", "add", "ann", "--role", "admin", "--password-env", "ANN_PASSWORD",
        env={"ANN_PASSWORD": "correct horse"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added ann (admin)" in added.output
    prompted = _invoke("review", "users", "add", "bob", input="long enough\nlong enough\n")
    assert prompted.exit_code == 0, prompted.output
    listed = _invoke("review", "users", "list")
    assert [line.split()[:2] for line in listed.output.splitlines()] == [
        ["ann", "admin"],
        ["bob", "analyst"],
    ]
    assert (state_dir / "review.db").is_file()

    token = _invoke("review", "token", "ann").output.strip()
    from contracts.settings import load_settings

    settings = load_settings()
    assert TokenSigner(load_secret_key(settings), 60).verify(token).user == "ann"

    duplicate = CliRunner().invoke(cli, ["review", "users", "add", "ann", "--password-env", "X"])
    assert duplicate.exit_code != 0 and "X is not set" in duplicate.output
    assert _invoke("review", "users", "remove", "bob").exit_code == 0
    assert "bob" not in _invoke("review", "users", "list").output
    missing = CliRunner().invoke(cli, ["review", "token", "bob"])
    assert missing.exit_code != 0 and "no user 'bob'" in missing.output


def test_the_bench_prints_page_timings(state_dir) -> None:
    result = _invoke("review", "bench", "--cases", "300", "--repeat", "2", "--chromium", "")
    assert result.exit_code == 0, result.output
    assert "300 open cases ingested" in result.output
    for row in ("queue page (HTML)", "queue API (JSON)", "case page (HTML)"):
        assert row in result.output


def test_run_review_serves_and_stops_cleanly_on_sigterm(settings, kafka_producer, tmp_path) -> None:
    database = f"sqlite:///{tmp_path / 'review.db'}"
    settings = settings.model_copy(update={"review": ReviewSettings(database_url=database)})
    store = ReviewStore.from_settings(settings)
    store.add_user("ann", "analyst", "correct horse", actor="test")
    store.close()
    case = decision(1)
    kafka_producer.produce(settings.kafka.topics.cases, value=encode(case), key=b"card-1")
    kafka_producer.flush(10)

    env = {**os.environ, **settings_env(settings)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from services.cli.main import main; main()",
            "run",
            "review",
            "--port",
            "0",
            "--no-log-json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _serving_url(process)
        login = _post_json(f"{url}/api/login", {"username": "ann", "password": "correct horse"})
        headers = {"Authorization": f"Bearer {login['token']}"}
        queue = _wait_for_cases(f"{url}/api/cases", headers)
        assert [item["tx_id"] for item in queue["items"]] == ["tx-1"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "review: 1 consumed (1 Decision), 0 dead-lettered, 0 labels sent" in out


def _serving_url(process: subprocess.Popen) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("review: serving "):
            return line.split()[2]
    pytest.fail(f"run review exited before serving: {process.wait()}")


def _post_json(url: str, body: dict) -> dict:
    data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    return _open_json(urllib.request.Request(url, data=data, headers=headers))  # noqa: S310


def _open_json(request: urllib.request.Request) -> dict:
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def _wait_for_cases(url: str, headers: dict[str, str]) -> dict:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        queue = _open_json(urllib.request.Request(url, headers=headers))  # noqa: S310
        if queue["total"]:
            return queue
        time.sleep(0.2)
    pytest.fail("no case reached the queue within 30 s")
