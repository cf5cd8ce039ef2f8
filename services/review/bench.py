"""``fraudstream review bench``: how fast the queue page is with many open cases.

Fills a store with ``cases`` synthetic open cases (each with its transaction,
an explanation and, for one in five, a customer message with its analysis)
through the same ingest path the consumer uses, serves the app on a loopback
port, and times:

* the queue page (``GET /``, first page, HTML) and the API (``GET /api/cases``)
  as an HTTP client sees them: request sent -> whole response read;
* a case page (``GET /cases/<tx>``);
* optionally, the queue page in headless Chromium: navigation start -> load event.

Figures are printed, never asserted.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from contracts.events import (
    Decision,
    Explanation,
    FeatureContribution,
    MessageAnalysis,
    Transaction,
    UserMessage,
)
from services.review.exceptions import ReviewError
from services.review.ingest import IngestBatch
from services.review.service import bind_socket
from services.review.store import ReviewStore
from services.review.tokens import TokenSigner
from services.review.views import QueueFilter
from services.review.web import create_app
from services.review.web.auth import COOKIE_NAME, ReviewContext

__all__ = ["fill_store", "run_bench", "serving", "synthetic_batch"]

_T0 = 1_790_000_000_000
_TAGS = ("high_risk_mcc", "new_device", "velocity", "geo_jump")
_REASONS = ("S_HIGH", "F_amount", "F_card_count_1h", "R_VELOCITY", "F_card_new_device")


def synthetic_batch(start: int, count: int, rng: random.Random) -> IngestBatch:
    """``count`` open cases numbered from ``start``, with their surrounding events."""
    batch = IngestBatch()
    for i in range(start, start + count):
        tx_id, customer, card = f"bench-tx-{i}", f"bench-cust-{i % 3000}", f"bench-card-{i % 4000}"
        at = _T0 + i * 1000
        amount = round(rng.lognormvariate(4, 1), 2)
        batch.add_transaction(
            Transaction(
                tx_id=tx_id,
                event_time_ms=at,
                card_id=card,
                customer_id=customer,
                amount=amount,
                merchant_id=f"m-{i % 500}",
                country="DE",
                channel="ecom",
                device_id=f"dev-{i % 2000}",
                ip=f"10.{i % 250}.{i % 200}.1",
            )
        )
        decision = Decision(
            tx_id=tx_id,
            card_id=card,
            customer_id=customer,
            event_time_ms=at,
            decided_at_ms=at + 20,
            action="block" if rng.random() < 0.2 else "flag",
            score=rng.random(),
            reasons=rng.sample(_REASONS, 3),
            model_version="fraudstream-scorer/7",
            features={"amount": amount, "card_count_1h": float(rng.randint(0, 9))},
            top_contributions=[
                FeatureContribution("amount", amount, rng.uniform(-1, 2)),
                FeatureContribution("card_count_1h", 3.0, rng.uniform(-1, 1)),
            ],
            tags=rng.sample(_TAGS, rng.randint(0, 2)),
        )
        batch.add_case(decision, received_at_ms=at + 30)
        batch.add_decision(decision)
        batch.add_explanation(
            Explanation(
                tx_id=tx_id,
                card_id=card,
                customer_id=customer,
                action=decision.action,
                score=decision.score,
                risk_level="high",
                text="The amount is far above this card's usual spending.",
                source="template" if i % 4 == 0 else "model",
                generated_at_ms=at + 2000,
            )
        )
        if i % 5 == 0:
            message_id = f"bench-msg-{i}"
            batch.add_message(
                UserMessage(
                    message_id=message_id,
                    customer_id=customer,
                    event_time_ms=at - 60_000,
                    text="I did not make this payment, please help.",
                    tx_id=tx_id,
                )
            )
            batch.add_analysis(
                MessageAnalysis(
                    message_id=message_id,
                    customer_id=customer,
                    label="dispute_complaint",
                    analysed_at_ms=at,
                )
            )
    return batch


def fill_store(
    store: ReviewStore,
    cases: int,
    *,
    seed: int = 7,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Ingest ``cases`` synthetic cases; returns the seconds it took."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    started = time.perf_counter()
    for start in range(0, cases, chunk):
        count = min(chunk, cases - start)
        store.ingest(synthetic_batch(start, count, rng))
        if progress is not None:
            progress(count)
    return time.perf_counter() - started


@contextmanager
def serving(store: ReviewStore, signer: TokenSigner) -> Iterator[tuple[str, int]]:
    """The app on a free loopback port for the duration; yields (host, port)."""
    import uvicorn

    sock = bind_socket("127.0.0.1", 0)
    app = create_app(ReviewContext(store=store, signer=signer))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        host, port = sock.getsockname()[:2]
        yield host, port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def run_bench(
    store: ReviewStore,
    signer: TokenSigner,
    *,
    user: str,
    repeat: int,
    chromium: str | None,
) -> dict[str, list[float]]:
    """Time the pages against ``store`` (already filled) as ``user``; ms per request."""
    token, _ = signer.issue(user)
    first = store.queue(QueueFilter(), viewer=user, per_page=1).items[0].tx_id
    cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
    targets = {
        "queue page (HTML)": ("/", cookie),
        "queue API (JSON)": ("/api/cases", {"Authorization": f"Bearer {token}"}),
        "case page (HTML)": (f"/cases/{first}", cookie),
    }
    timings: dict[str, list[float]] = {}
    with serving(store, signer) as (host, port):
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            for name, (path, headers) in targets.items():
                _get(connection, path, headers)  # warm up
                timings[name] = [_get(connection, path, headers) for _ in range(repeat)]
        finally:
            connection.close()
        if chromium:
            base = f"http://{host}:{port}"
            timings["queue page (Chromium, to load event)"] = _browser(
                base, token, chromium, repeat
            )
    return timings


def _get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    """One GET on a kept-alive connection: ms from sending to the last byte read."""
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise ReviewError(f"GET {path} answered {response.status} during the benchmark")
    return elapsed


def _browser(base: str, token: str, chromium: str, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    loads = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context()
        context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": base}])
        page = context.new_page()
        page.goto(base + "/")  # warm up
        for _ in range(repeat):
            page.goto(base + "/", wait_until="load")
            entry = "performance.getEntriesByType('navigation')[0].loadEventEnd"
            loads.append(float(page.evaluate(entry)))
        browser.close()
    return loads
