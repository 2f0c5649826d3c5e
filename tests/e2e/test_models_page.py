"""The Models and Usage pages in a real browser: filter the catalog, compare two models, enable one and
make it the default, then read usage as a chart and a table; at desktop and at phone width."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from providers import services
from providers.models import UsageRecord
from tenants.context import tenant_context
from tenants.models import Tenant
from tests.e2e.pages import shot, sign_up
from tests.processes import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def seed_usage(organisation: str) -> None:
    """A fortnight of calls on two models and two bots (plus ingestion without a bot)."""
    tenant = Tenant.objects.get(name=organisation)
    bots = [uuid.uuid4(), uuid.uuid4(), None]
    for days_ago in range(14):
        for index, (model_ref, provider, price) in enumerate(
            [
                ("openai:gpt-4o-mini", "openai", Decimal("0.00069")),
                ("anthropic:claude-haiku-4-5", "anthropic", Decimal("0.005")),
            ]
        ):
            calls = 1 + (days_ago * 7 + index * 3) % 5
            for call in range(calls):
                row = services.usage_record(
                    tenant_id=tenant.pk,
                    model_ref=model_ref,
                    provider=provider,
                    operation="chat",
                    input_tokens=3000,
                    output_tokens=400,
                    cost_usd=price,
                    latency_ms=900,
                    time_to_first_token_ms=250,
                    bot_id=bots[(days_ago + call) % 3],
                )
                with tenant_context(tenant.pk):
                    UsageRecord.objects.filter(pk=row.pk).update(
                        created_at=timezone.now() - timedelta(days=days_ago)
                    )


def test_filter_compare_enable_and_read_usage(page: Page, server_url: str) -> None:
    organisation = "Tidewater Support"
    sign_up(page, server_url, organisation)

    page.get_by_role("link", name="Models").first.click()
    expect(page.get_by_role("heading", name="Models", level=1)).to_be_visible()
    expect(page.locator("#catalog").get_by_text("Claude Haiku 4.5", exact=True)).to_be_visible()
    shot(page, "models-catalog")

    # Filters are a plain GET form.
    page.get_by_label("Kind").select_option("embedding")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"kind=embedding"))
    catalog = page.locator("#catalog tbody")
    expect(catalog.get_by_text("text-embedding-3-small", exact=True)).to_be_visible()
    expect(catalog.get_by_text("GPT-4o mini", exact=True)).to_have_count(0)
    expect(catalog.get_by_text("since 25 Jan 2024")).to_be_visible()
    shot(page, "models-filtered-embedding")

    # Compare two chat models; the button waits for a valid selection.
    page.get_by_role("link", name="Clear").click()
    compare = page.get_by_role("button", name="Compare", exact=True)
    page.get_by_label("Compare GPT-4o mini", exact=True).check()
    expect(page.get_by_text("1 selected: select at least 2 to compare.")).to_be_visible()
    expect(compare).to_be_disabled()
    page.get_by_label("Compare Claude Haiku 4.5", exact=True).check()
    expect(page.get_by_text("2 selected.")).to_be_visible()
    compare.click()
    expect(page).to_have_url(re.compile(r"/app/models/compare/\?(models=[a-z]+%3A[\w.-]+&?){2}$"))
    expect(page.get_by_role("heading", name="Compare models")).to_be_visible()
    expect(page.get_by_text("$0.69 per 1,000 answers")).to_be_visible()
    expect(page.get_by_text("$5.00 per 1,000 answers")).to_be_visible()
    expect(page.get_by_text("Cheapest")).to_be_visible()
    shot(page, "models-compare")

    # Enable GPT-4o mini and make it the default chat model.
    page.get_by_role("link", name="Models").first.click()
    page.get_by_label("Enable GPT-4o mini", exact=True).check()
    # The Models page is in tabs (issue 14): the defaults have their own.
    page.get_by_role("tab", name="Defaults").click()
    page.get_by_label("Default chat model").select_option("openai:gpt-4o-mini")
    # A deprecated choice is flagged the moment it is picked, before saving.
    embedding_default = page.get_by_label("Default embedding model")
    embedding_default.select_option("openai:text-embedding-ada-002")
    expect(page.get_by_text("text-embedding-ada-002 is deprecated since 25 Jan 2024")).to_be_visible()
    embedding_default.select_option("local:all-MiniLM-L6-v2")
    expect(page.get_by_text("text-embedding-ada-002 is deprecated since 25 Jan 2024")).to_be_hidden()
    page.get_by_role("button", name="Save model settings").first.click()
    expect(page.get_by_text("Model settings saved.")).to_be_visible()
    expect(page.get_by_label("Default chat model")).to_have_value("openai:gpt-4o-mini")
    expect(page.get_by_label("Enable GPT-4o mini", exact=True)).to_be_checked()
    row = page.locator("#catalog tbody tr").filter(has_text="GPT-4o mini").first
    expect(row.locator(".gw-flag-default")).to_have_text(re.compile(r"Default"))
    page.get_by_role("tab", name=re.compile("Catalog")).click()
    shot(page, "models-settings-saved")

    # Usage: empty until the bots answer; then a chart and a table with the same numbers.
    page.get_by_role("link", name="Usage").first.click()
    expect(page.get_by_text("Usage appears here once your bots answer questions")).to_be_visible()
    seed_usage(organisation)
    page.reload()
    chart = page.locator(".gw-chart-wide svg")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.gw-chart-bar")).to_have_count(30)
    expect(page.get_by_role("img", name=re.compile(r"^Cost per day"))).to_be_visible()
    expect(page.locator(".gw-table-usage tfoot")).to_contain_text("Total")
    shot(page, "usage-by-day")

    page.get_by_role("link", name="By model").click()
    expect(page.locator(".gw-chart-wide text.gw-chart-label").first).to_have_text("Claude Haiku 4.5")
    expect(page.locator(".gw-table-usage tbody tr")).to_have_count(2)
    shot(page, "usage-by-model")

    page.get_by_role("link", name="By bot").click()
    expect(page.locator(".gw-table-usage tbody")).to_contain_text("Not from a bot")
    page.get_by_role("link", name="Tokens", exact=True).click()
    expect(page.get_by_role("img", name=re.compile(r"^Tokens per bot"))).to_be_visible()
    shot(page, "usage-by-bot-tokens")

    # At phone width nothing scrolls the page sideways, and the chart is drawn for the narrow screen.
    page.set_viewport_size({"width": 375, "height": 812})
    for path, name in (("/app/usage/", "usage-phone"), ("/app/models/", "models-phone")):
        page.goto(server_url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
        shot(page, name)
        page.screenshot(path=str(ARTIFACTS / f"{name}-viewport.png"))  # what a phone shows first
        if path == "/app/usage/":
            expect(page.locator(".gw-chart-wide")).to_be_hidden()
            narrow = page.locator(".gw-chart-narrow")
            expect(narrow.get_by_role("img", name=re.compile(r"^Cost per day"))).to_be_visible()
            narrow.screenshot(path=str(ARTIFACTS / "usage-phone-chart.png"))
