"""What the browser tests share besides fixtures (tests/e2e/conftest.py): signing up as a new
organisation, screenshots into test-artifacts/, and calling the REST API of the server under test."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Response, expect

from tests.processes import ARTIFACTS

# Where the servers the browser tests start write their emails (Django's file backend), one folder per
# pytest process; and rates that let every test sign up as the same person from 127.0.0.1 (the account
# throttles have tests of their own, tests/tenants/test_account_security.py).
MAIL_DIR = ARTIFACTS / f"mail-{os.getpid()}"
SIGN_UP_SERVER_ENV = {
    # django-environ drops the first slash of the path, so an absolute path needs four in all.
    "EMAIL_URL": f"filemail:///{MAIL_DIR.resolve()}",
    "ACCOUNT_RATE_PER_ADDRESS": "100000/hour",
    "ACCOUNT_RATE_PER_EMAIL": "100000/hour",
}
GRACE_EMAIL = "grace@example.test"
GRACE_PASSWORD = "a-compiler-for-everyone"


def emailed_link(to: str, path_prefix: str) -> str:
    """The path of the link starting with ``path_prefix`` in the newest email to ``to``."""
    for mail_file in sorted(MAIL_DIR.glob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True):
        text = mail_file.read_text()
        match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", text)
        if f"To: {to}" in text and match:
            return match.group(1)
    raise AssertionError(f"no email to {to} with a {path_prefix} link in {MAIL_DIR}")


def sign_up(page: Page, base_url: str, organisation: str) -> None:
    """Sign up as Grace Hopper (grace@example.test), owner of a new ``organisation``, verify the address
    with the emailed link and sign in: the home page."""
    page.goto(f"{base_url}/app/sign-up/")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Work email").fill(GRACE_EMAIL)
    page.get_by_label("Organisation").fill(organisation)
    page.get_by_label("Password").fill(GRACE_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.goto(base_url + emailed_link(GRACE_EMAIL, "/app/verify-email/"))
    expect(page.get_by_text(f"{GRACE_EMAIL} is verified")).to_be_visible()
    page.get_by_label("Email").fill(GRACE_EMAIL)
    page.get_by_label("Password").fill(GRACE_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot as test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot from the top: pages reached through an #anchor are scrolled, and the fixed
    sidebar is drawn where the viewport is."""
    page.evaluate("window.scrollTo(0, 0)")
    return screenshot(page, name)


def api_get(base_url: str, path: str, secret: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` of the REST API with a secret key: the status and the JSON body (errors too)."""
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ReDoc's footer logo from Redocly's CDN is blocked on purpose by the Content-Security-Policy (the image
# hides itself): the one violation a page may print.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def watch_for_errors(page: Page, errors: list[str]) -> None:
    """Collect into ``errors`` what fails a browser test: a script error, a missing script, stylesheet,
    font or image (a page breaks silently without them), and any Content-Security-Policy violation
    (a blocked script, style, font, image or connection, which Chromium prints)."""
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))

    def check_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type in (
            "script",
            "stylesheet",
            "font",
            "image",
        ):
            errors.append(f"{response.status} {response.url}")

    page.on("response", check_response)
    page.on(
        "console",
        lambda message: (
            errors.append(f"CSP on {page.url}: {message.text}")
            if "Content Security Policy" in message.text and REDOC_LOGO not in message.text
            else None
        ),
    )
