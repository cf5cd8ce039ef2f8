"""The demo's analyst: opens the review page in headless Chromium and decides the top case.

It does what a person at the queue does, through the page (not the API): log in,
look at the queue, open the riskiest case, read its explanation, mark it fraud
with a note. It prints what it saw and saves screenshots, so the demo shows the
loop that a verdict closes (label on the topic -> features -> retraining).

    .venv/bin/python scripts/demo_analyst.py --url http://127.0.0.1:8000 \
        --user demo-analyst --password-env DEMO_ANALYST_PASSWORD --shots data/demo
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", required=True, help="The review service, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--user", required=True, help="An analyst's user name.")
    parser.add_argument("--password-env", required=True, help="Variable holding the password.")
    parser.add_argument("--shots", type=Path, default=None, help="Folder for screenshots.")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium binary (Debian package).")
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        print(f"demo_analyst: ${args.password_env} is not set", file=sys.stderr)
        return 2

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
        page = browser.new_context(base_url=args.url, viewport={"width": 1280, "height": 900})
        tab = page.new_page()
        tab.goto("/login")
        tab.fill("input[name=username]", args.user)
        tab.fill("input[name=password]", password)
        started = time.perf_counter()
        tab.click("button[type=submit]")
        tab.wait_for_url("**/")
        queue_ms = (time.perf_counter() - started) * 1000
        print(f"queue: {tab.locator('#total').inner_text()} (page loaded in {queue_ms:.0f} ms)")
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(args.shots / "review-queue.png"), full_page=False)
        first = tab.locator("#queue td.score a").first
        if first.count() == 0:
            print("demo_analyst: the queue is empty", file=sys.stderr)
            return 1
        first.click()
        tx_id = tab.locator("#tx-id").inner_text()
        print(f"case {tx_id}:")
        if tab.locator("#explanation-text").count():
            marker = tab.locator("#template-marker")
            source = "template fallback" if marker.count() else "language model"
            print(f"  explanation ({source}): {tab.locator('#explanation-text').inner_text()}")
        else:
            print("  no explanation yet")
        tab.fill("#note", "demo: confirmed with the customer, card not in their possession")
        tab.click("#mark-fraud")
        tab.locator("#verdict").wait_for()
        print(f"  {tab.locator('#verdict').inner_text().strip()}")
        if args.shots:
            tab.screenshot(path=str(args.shots / "review-case.png"), full_page=True)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
