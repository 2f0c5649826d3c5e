"""What the browser tests share besides fixtures (tests/e2e/conftest.py): signing up as a new
organisation, screenshots into test-artifacts/, and calling the REST API of the server under test."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.processes import ARTIFACTS


def sign_up(page: Page, base_url: str, organisation: str) -> None:
    """Sign up as Grace Hopper (grace@example.test), owner of a new ``organisation``: the home page."""
    page.goto(f"{base_url}/app/sign-up/")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Work email").fill("grace@example.test")
    page.get_by_label("Organisation").fill(organisation)
    page.get_by_label("Password").fill("a-compiler-for-everyone")
    page.get_by_role("button", name="Create account").click()
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
