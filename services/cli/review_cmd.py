"""``fraudstream review``: manage the review queue's users, issue tokens, benchmark the queue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from services.review.roles import ROLES

if TYPE_CHECKING:
    from services.review.store import ReviewStore

__all__ = ["review"]

_SYSTEM_ACTOR = "cli"


@click.group()
def review() -> None:
    """The analysts' review queue (serve it with `fraudstream run review`)."""


@review.group()
def users() -> None:
    """Users of the review queue and their roles (analyst, admin)."""


@contextmanager
def _store() -> Iterator[ReviewStore]:
    """The configured case store, closed after use."""
    from contracts.settings import load_settings
    from services.review.store import ReviewStore

    store = ReviewStore.from_settings(load_settings())
    try:
        yield store
    finally:
        store.close()


def _read_password(password_env: str | None) -> str:
    if password_env is None:
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    from_env = os.environ.get(password_env)
    if not from_env:
        raise click.ClickException(f"environment variable {password_env} is not set")
    return from_env


_PASSWORD_ENV = click.option(
    "--password-env",
    metavar="VAR",
    default=None,
    help="Read the password from environment variable VAR (default: prompt for it).",
)


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="analyst", show_default=True)
@_PASSWORD_ENV
def add_user(name: str, role: str, password_env: str | None) -> None:
    """Create user NAME with a password (stored as a salted scrypt hash)."""
    password = _read_password(password_env)
    with _store() as store:
        user = store.add_user(name, role, password, actor=_SYSTEM_ACTOR)
    click.echo(f"added {user.name} ({user.role}) to {store.where}")


@users.command("list")
def list_users() -> None:
    """Every user, their role and when they were added."""
    from services.review.web.render import format_time

    with _store() as store:
        found = store.list_users()
    if not found:
        click.echo("no users yet: fraudstream review users add NAME --role admin")
    for user in found:
        click.echo(f"{user.name:24s} {user.role:8s} added {format_time(user.created_at_ms)}")


@users.command("remove")
@click.argument("name")
def remove_user(name: str) -> None:
    """Remove user NAME; their sessions end at their next request."""
    with _store() as store:
        store.remove_user(name, actor=_SYSTEM_ACTOR)
    click.echo(f"removed {name}")


@users.command("set-password")
@click.argument("name")
@_PASSWORD_ENV
def set_password(name: str, password_env: str | None) -> None:
    """Give user NAME a new password; every session they had ends at once."""
    password = _read_password(password_env)
    with _store() as store:
        store.set_password(name, password, actor=_SYSTEM_ACTOR)
    click.echo(f"new password for {name}; their earlier sessions are over")


@users.command("logout")
@click.argument("name")
def end_sessions(name: str) -> None:
    """Log user NAME out everywhere: every token issued to them so far stops working."""
    with _store() as store:
        store.end_sessions(name, actor=_SYSTEM_ACTOR)
    click.echo(f"ended every session of {name}")


@users.command("unlock")
@click.argument("name", required=False)
@click.option(
    "--client",
    metavar="ADDRESS",
    default=None,
    help="Forget the failed logins from this client address instead (per-client throttling).",
)
def unlock(name: str | None, client: str | None) -> None:
    """Forget the failed logins of user name NAME, lifting its login throttling."""
    if (name is None) == (client is None):
        raise click.UsageError("give a user NAME or --client ADDRESS")
    with _store() as store:
        cleared = store.unlock(name=name, client=client, actor=_SYSTEM_ACTOR)
    click.echo(f"cleared {cleared} failed login(s) " + (f"of {name}" if name else f"from {client}"))


@review.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Print a Bearer token for user NAME (for scripts: curl -H "Authorization: Bearer ...")."""
    from contracts.settings import load_settings
    from services.review.store import ReviewStore
    from services.review.tokens import TokenSigner, load_secret_key

    settings = load_settings()
    store = ReviewStore.from_settings(settings)
    try:
        user = store.find_user(name)
    finally:
        store.close()
    if user is None:
        raise click.ClickException(f"no user {name!r} (fraudstream review users add {name})")
    signer = TokenSigner(load_secret_key(settings), settings.review.token_ttl_s)
    value, _ = signer.issue(user.name)
    click.echo(value)


@review.command("bench")
@click.option("--cases", default=10_000, show_default=True, help="Open cases in the store.")
@click.option("--repeat", default=30, show_default=True, help="Requests timed per page.")
@click.option(
    "--database-url",
    default=None,
    help="An empty store to fill (default: a new SQLite file in a temporary directory).",
)
@click.option(
    "--chromium",
    default="/usr/bin/chromium",
    show_default=True,
    help="Chromium for the browser timing ('' to skip it).",
)
def bench(cases: int, repeat: int, database_url: str | None, chromium: str) -> None:
    """Queue page load time with CASES open cases: HTTP (HTML, JSON) and in headless Chromium."""
    import importlib.util
    import secrets
    import statistics
    import tempfile
    from pathlib import Path

    from tqdm import tqdm

    from services.review.bench import fill_store, run_bench
    from services.review.database import connect, describe
    from services.review.store import ReviewStore
    from services.review.tokens import TokenSigner
    from services.review.views import QueueFilter

    if chromium:
        if not Path(chromium).is_file():
            raise click.ClickException(f"no Chromium at {chromium} (--chromium '' skips it)")
        if importlib.util.find_spec("playwright") is None:
            raise click.ClickException(
                "the browser timing needs playwright (the dev extra); --chromium '' skips it"
            )
    with tempfile.TemporaryDirectory(prefix="fraudstream-review-bench-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        store = ReviewStore(connect(url))
        store.setup()
        if store.queue(QueueFilter(status="all"), viewer="", per_page=1).total:
            store.close()
            raise click.ClickException(
                f"{describe(url)} holds cases already: the bench adds synthetic ones, "
                "so give it an empty database"
            )
        try:
            with tqdm(total=cases, unit="case", desc="filling the store") as bar:
                fill_s = fill_store(store, cases, progress=bar.update)
            analyst = f"bench-{secrets.token_hex(4)}"
            store.add_user(analyst, "analyst", secrets.token_urlsafe(16), actor=_SYSTEM_ACTOR)
            signer = TokenSigner(secrets.token_bytes(32), ttl_s=3600)
            timings = run_bench(
                store, signer, user=analyst, repeat=repeat, chromium=chromium or None
            )
            if database_url:
                store.remove_user(analyst, actor=_SYSTEM_ACTOR)
        finally:
            store.close()
    click.echo(f"store: {describe(url)}; {cases:,} open cases ingested in {fill_s:.1f} s")
    click.echo(f"{'page (first page, 50 cases)':40s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for name, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        click.echo(f"{name:40s} {statistics.median(values):8.1f} {p95:8.1f} {max(values):8.1f}")
