"""Headless Chromium for the page tests: the Debian ``chromium``, driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def browser_page(base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page on ``base_url`` and the list that collects any dialog a script opened."""
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM} (Debian package `chromium`)", pytrace=False)
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(base_url=base_url)
            page = context.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield page, dialogs
        finally:
            browser.close()


def log_in(page: Page, user: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
