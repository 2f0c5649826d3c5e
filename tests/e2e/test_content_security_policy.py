"""Every dashboard page and the API docs, in a real browser under the real server's
Content-Security-Policy, load with no violation: nothing blocked, nothing that had to be allowed inline.

Violations are caught twice: the ``securitypolicyviolation`` events of each document (recorded by a
script added before any of the page's own) and Chromium's console messages (the ``page`` fixture)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__cspViolations || ['the recorder did not run']"))


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "script-src 'self'" in (response.header_value("content-security-policy") or "")
    page.wait_for_load_state("networkidle")
    assert violations(page) == [], url


def test_the_dashboard_pages_load_without_a_policy_violation(page: Page, server_url: str) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    sign_up(page, server_url, "Strict Policy Ltd")
    assert violations(page) == []

    page.get_by_role("link", name="Bots", exact=True).first.click()
    page.get_by_role("link", name="Create your first bot").click()
    page.get_by_label("Name").fill("Policy bot")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Policy bot", level=1)).to_be_visible()
    bot_url = re.sub(r"(/app/bots/[0-9a-f-]{36}/).*", r"\1", page.url)

    # Every page the sidebar links to, then the bot's own pages (the Install page and the test page
    # carry the real widget, which must style itself under the dashboard's policy too).
    links = page.eval_on_selector_all(
        "a.gw-nav-link[href^='/app/']", "links => [...new Set(links.map(link => link.getAttribute('href')))]"
    )
    pages = [path for path in links if "sign-out" not in path]
    assert len(pages) >= 5, pages
    for path in pages:
        visit(page, server_url + path)
    for path in ("", "install/", "install/test-page/"):
        visit(page, bot_url + path)
    launcher = page.locator("groundwork-chat")
    expect(launcher).to_have_count(1)
    page.wait_for_function(
        "() => { const host = document.querySelector('groundwork-chat');"
        " const button = host && host.shadowRoot.querySelector('.gw-launcher');"
        " return Boolean(button) && getComputedStyle(button).position === 'fixed'; }",
        timeout=15_000,
    )
    assert violations(page) == []


def test_the_api_docs_load_without_a_policy_violation(page: Page, server_url: str) -> None:
    page.add_init_script(RECORD_VIOLATIONS)

    visit(page, f"{server_url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Groundwork API", timeout=15_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations(page) == []

    page.goto(f"{server_url}/api/v1/redoc/")
    expect(page.get_by_role("heading", name=re.compile("Groundwork API"))).to_be_visible(timeout=15_000)
    page.wait_for_load_state("networkidle")
    # ReDoc renders with its inline styles allowed on this page; the one thing blocked is Redocly's logo
    # from its CDN (nothing is loaded from another site), which hides itself when it cannot load.
    assert violations(page) == ["img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg"]
