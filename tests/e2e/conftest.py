"""Real headless Chromium (Debian's, driven by Playwright) against a live Groundwork server.

Signing up, screenshots and API calls: tests/e2e/pages.py; the shop website a widget is embedded in:
tests/e2e/widget_site.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.pages import SIGN_UP_SERVER_ENV, watch_for_errors
from tests.processes import running_server

# Playwright's sync API keeps an event loop on the test thread; the test's own ORM calls are still
# plain synchronous calls, so Django's async-safety guard must be told so.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def server_url(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The real ASGI server on the test database, production-like: hashed static files served by
    whitenoise (DEBUG off). Tests using it need ``transactional_db``."""
    with running_server(log_name="e2e-server.log", DEBUG="false", **SIGN_UP_SERVER_ENV) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    # Every page of every browser test runs under the Content-Security-Policy.
    watch_for_errors(page, errors)
    yield page
    context.close()
    assert errors == [], f"errors on the page: {errors}"
