"""The home page, the audit log, Usage and the team's invitation links in a real browser: an empty
organisation, then a busy one, at desktop and phone sizes (screenshots under test-artifacts/)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Page, expect

from bots.models import Channel
from bots.widget.installation import record_widget_seen
from providers import services as provider_services
from providers.models import UsageRecord
from tenants import services
from tenants.context import tenant_context
from tenants.models import Tenant, User
from tests.bots.factories import make_bot, record_conversation
from tests.e2e.pages import GRACE_EMAIL, shot, sign_up
from tests.knowledge.factories import ingested_text, make_knowledge_base
from tests.providers.factories import use_openai
from tests.tenants.factories import World

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
ITEMS = ("connect-model", "add-knowledge", "build-bot", "install-widget", "invite-team")


def both_sizes(page: Page, name: str) -> None:
    shot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def busy(organisation: str) -> World:
    """Knowledge, two bots (one that cannot write answers), conversations from three channels, an
    invitation, and a month of usage with and without a bot — as the product makes them."""
    world = World(tenant=Tenant.objects.get(name=organisation), owner=User.objects.get(email=GRACE_EMAIL))
    use_openai(world, "openai:gpt-4o-mini", "local:no-llm")
    base = make_knowledge_base(world, "Help centre")
    ingested_text(world, base, "Refunds take five working days. Returns are free within 30 days.", "Refunds")
    support = make_bot(
        world,
        "Support bot",
        knowledge_base_ids=[base.pk],
        chat_model="local:no-llm",
        status="published",
        allowed_origins=["https://shop.example.com"],
    )
    sales = make_bot(world, "Sales helper", knowledge_base_ids=[base.pk], chat_model="openai:gpt-4o-mini")
    record_conversation(world, sales, "Do you ship to Norway?", channel=Channel.PLAYGROUND)
    record_conversation(world, support, "How long do refunds take?", channel=Channel.WIDGET)
    record_conversation(world, support, "Can I return a gift without the receipt?", channel=Channel.WIDGET)
    record_widget_seen(publishable_key=support.publishable_key, origin="https://shop.example.com")
    record_conversation(world, sales, "Which plan fits a team of five?", channel=Channel.API)
    with tenant_context(world.tenant.pk):
        services.invitation_create(actor=world.actor(), email="ana@example.test", role="editor")
    for days_ago in range(10):
        for bot_id, model, cost, operation in (
            (sales.pk, "openai:gpt-4o-mini", Decimal("0.0012"), "chat"),
            (None, "local:all-minilm-l6-v2", Decimal(0), "embedding"),
        ):
            row = provider_services.usage_record(
                tenant_id=world.tenant.pk,
                model_ref=model,
                provider=model.partition(":")[0],
                operation=operation,
                input_tokens=1200,
                output_tokens=300 if operation == "chat" else 0,
                cost_usd=cost,
                latency_ms=400,
                time_to_first_token_ms=None,
                bot_id=bot_id,
            )
            with tenant_context(world.tenant.pk):
                UsageRecord.objects.filter(pk=row.pk).update(
                    created_at=timezone.now() - timedelta(days=days_ago)
                )
    return world


def busy_then_close(organisation: str) -> None:
    try:
        busy(organisation)
    finally:
        connection.close()  # this thread's own connection


def test_home_audit_usage_and_invitation_links_from_empty_to_busy(page: Page, server_url: str) -> None:
    organisation = "Lighthouse Books"
    sign_up(page, server_url, organisation)
    for item in ITEMS:
        expect(page.locator(f'[data-checklist-item="{item}"]')).to_have_attribute("data-done", "false")
    expect(page.get_by_text("0 of 5 done")).to_be_visible()
    expect(page.get_by_role("heading", name="No bots yet")).to_be_visible()
    both_sizes(page, "home-empty")

    # Outside Playwright's event loop: ingestion runs the embedder through async_to_sync.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(busy_then_close, organisation).result()
    page.reload()
    done = {
        item: page.locator(f'[data-checklist-item="{item}"]').get_attribute("data-done") for item in ITEMS
    }
    assert done == dict.fromkeys(ITEMS, "true")  # a key, a ready document, tried, widget used, invited
    expect(page.locator('[data-checklist-complete="true"]')).to_be_visible()
    support = page.locator('[data-home-bot="support-bot"]')
    expect(support.locator("[data-model-problem]")).to_contain_text("never writes an answer")
    fix = support.locator("a[data-model-fix]")
    expect(fix).to_have_text("Connect a model provider")
    expect(fix).to_have_attribute("href", re.compile(r"\?add=openai&next=/app/#providers$"))
    expect(page.locator('[data-home-bot="sales-helper"]')).to_contain_text("Writes answers with GPT-4o mini")
    expect(page.locator("[data-home-conversation]")).to_have_count(4)
    expect(page.locator("[data-home-activity]")).to_contain_text("invited ana@example.test as editor")
    both_sizes(page, "home-busy")

    page.get_by_role("link", name="Audit log").first.click()
    expect(page.locator("[data-audit-entries]")).to_contain_text("Grace Hopper created the bot Support bot")
    both_sizes(page, "audit-log")
    page.get_by_label("Kind of change").select_option("team")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("[data-audit-entries]")).to_contain_text("invited ana@example.test")
    expect(page.locator("[data-audit-entries]")).not_to_contain_text("created the bot")
    expect(page.locator("[data-audit-export]")).to_have_attribute(
        "href", re.compile(r"export\.csv\?.*kind=team")
    )
    shot(page, "audit-log-filtered-desktop")

    page.goto(f"{server_url}/app/usage/?group_by=bot")
    table = page.locator(".gw-table-usage tbody")
    expect(table).to_contain_text("Sales helper")
    expect(table).to_contain_text("Not from a bot")
    expect(table.locator("[data-usage-free]").first).to_contain_text("no charge")
    both_sizes(page, "usage-by-bot")

    page.goto(f"{server_url}/app/api-keys/")
    expect(page.get_by_label("Role")).to_have_value("")  # nothing pre-selected: the role is a choice
    both_sizes(page, "api-keys-role")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    page.goto(f"{server_url}/app/team/")
    copy = page.locator('[data-invitation="ana@example.test"] [data-invitation-link]')
    copy.click()
    expect(copy).to_contain_text("Copied")
    link = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"https?://\S+/app/invitations/[0-9a-f]{64}/", link), link
    both_sizes(page, "team-invitation-link")
