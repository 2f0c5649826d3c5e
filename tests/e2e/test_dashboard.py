"""The dashboard in a real browser: sign up, create and use an API key, revoke it, invite a colleague."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tenants.context import tenant_context
from tenants.models import Membership, Role, Tenant
from tests.e2e.pages import api_get, screenshot, sign_up
from tests.tenants.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_up_create_use_and_revoke_an_api_key(page: Page, server_url: str) -> None:
    base_url = server_url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    sign_up(page, base_url, "Harbour Freight Co")
    expect(page.get_by_text("Harbour Freight Co").filter(visible=True).first).to_be_visible()
    screenshot(page, "dashboard-home")

    page.get_by_role("link", name="API keys").first.click()
    page.get_by_label("Name").fill("Website backend")
    page.get_by_label("Role").select_option("viewer")  # chosen on purpose: nothing is pre-selected
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").inner_text().strip()
    assert re.fullmatch(r"gw_sk_[A-Za-z0-9_-]{43}", secret)
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    page.get_by_role("button", name="Copy", exact=True).first.click()
    expect(page.locator(".gw-secret-panel").get_by_text("Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "dashboard-api-key-created")

    status, body = api_get(base_url, "/api/v1/tenant", secret)
    assert (status, body["name"]) == (200, "Harbour Freight Co")

    page.reload()  # a GET now: the secret is gone and no second key is created
    expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in page.content()
    expect(page.get_by_role("button", name=re.compile("^Revoke "))).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke Website backend").click()
    expect(page.get_by_text("Revoked").first).to_be_visible()
    status, body = api_get(base_url, "/api/v1/tenant", secret)
    assert status == 401 and body["status"] == 401


def test_invite_a_colleague_and_see_the_pending_invitation(page: Page, server_url: str) -> None:
    base_url = server_url
    sign_up(page, base_url, "Lighthouse Labs")
    page.get_by_role("link", name="Team").first.click()
    page.get_by_label("Email address").fill("colleague@example.test")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to colleague@example.test")).to_be_visible()
    expect(page.get_by_text("colleague@example.test").nth(1)).to_be_visible()

    # A member who already joined: their role changes in place (htmx), without a page load.
    tenant = Tenant.objects.get(name="Lighthouse Labs")
    with tenant_context(tenant.pk):
        Membership.objects.create(tenant=tenant, user=UserFactory(email="ada@example.test"), role=Role.VIEWER)
    page.reload()
    page.get_by_label("Role of ada@example.test").select_option("editor")
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    with tenant_context(tenant.pk):
        assert Membership.objects.get(user__email="ada@example.test").role == Role.EDITOR
    screenshot(page, "dashboard-team")


def test_the_dashboard_works_at_phone_width(page: Page, server_url: str) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    sign_up(page, server_url, "Pocket Support")
    # The sidebar collapses behind a menu button; the navigation is still reachable.
    page.get_by_role("button", name=re.compile(r"^open (menu|navigation)$", re.IGNORECASE)).click()
    sidebar = page.locator("#gw-sidebar")
    expect(sidebar).to_have_class(re.compile(r"\bshow\b"))
    expect(sidebar).not_to_have_class(re.compile(r"\bshowing\b"))  # the slide-in has finished
    expect(page.get_by_role("link", name="Knowledge").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at phone width ({width}px)"
    screenshot(page, "dashboard-phone")
