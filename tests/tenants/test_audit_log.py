"""The audit log in words: names instead of codes, tables and ids; filters; a CSV of what is filtered."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bots import services as bot_services
from knowledge import services as knowledge_services
from providers import services as provider_services
from tenants import services
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot
from tests.clients import member_client, text_of
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.providers.factories import endpoint_credential, own_model, use_openai
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def entries(client: Client, query: str = "") -> str:
    """The text of the audit log's entries (not its filters or navigation), for phrase checks."""
    html = client.get(f"/app/settings/audit-log/{query}").content.decode()
    if "data-audit-entries" not in html:
        return ""
    listing = html[html.index("data-audit-entries") : html.index("</ul>", html.index("data-audit-entries"))]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", listing))


def every_kind_of_change(world: World) -> None:
    """One of each action the dashboard can reach, by the owner (named "Ana Owner")."""
    world.owner.full_name = "Ana Owner"
    world.owner.save(update_fields=["full_name"])
    actor = world.actor()
    with tenant_context(world.tenant.pk):
        services.tenant_update(actor=actor, name="Acme Support")
        invitation = services.invitation_create(actor=actor, email="bo@example.test", role="editor")
        services.invitation_revoke(actor=actor, invitation_id=invitation.pk)
        member = world.add_member(Role.VIEWER, "cy@example.test")
        services.membership_change_role(actor=actor, membership_id=member.pk, role="editor")
        services.membership_remove(actor=actor, membership_id=member.pk)
        key, _ = services.api_key_create(actor=actor, name="Zapier", role="viewer")
        services.api_key_revoke(actor=actor, api_key_id=key.pk)
    credential = use_openai(world, "openai:gpt-4o-mini", "local:no-llm")
    with tenant_context(world.tenant.pk):
        provider_services.credential_update(actor=actor, credential_id=credential.pk, name="OpenAI (team)")
        provider_services.monthly_budget_update(actor=actor, monthly_budget_usd=None)
    own_model(world, endpoint_credential(world, name="Ollama"))
    base = make_knowledge_base(world, "Returns")
    document = add_text(world, base, "Refunds take five days.", title="Refund policy")
    bot = make_bot(world, "Support bot", knowledge_base_ids=[base.pk])
    with tenant_context(world.tenant.pk):
        bot_services.bot_update(actor=actor, bot_id=bot.pk, chat_model="openai:gpt-4o-mini")
        bot_services.bot_update(actor=actor, bot_id=bot.pk, temperature=0.5, greeting="Hello there!")
        bot_services.bot_update(actor=actor, bot_id=bot.pk, name="Front desk")
        bot_services.bot_rotate_publishable_key(actor=actor, bot_id=bot.pk)
        knowledge_services.document_delete(actor=actor, document_id=document.pk)
        bot_services.bot_delete(actor=actor, bot_id=bot.pk)
        knowledge_services.knowledge_base_delete(actor=actor, knowledge_base_id=base.pk)


def test_every_action_reads_as_words_without_codes_tables_or_ids(world: World, owner_client: Client) -> None:
    every_kind_of_change(world)
    page = entries(owner_client)
    with tenant_context(world.tenant.pk):
        events = list(AuditEvent.objects.all())
    assert len(events) >= 20
    for event in events:
        assert event.action not in page, event.action  # no "bot.updated"
    # No ids, no raw changes ({"temperature": ...}), no table names.
    assert not UUID.search(page) and "{" not in page and "tenants." not in page and "bots." not in page
    for sentence in (
        "Ana Owner created the organisation",
        "Ana Owner renamed the organisation from",
        "invited bo@example.test as editor",
        "withdrew the invitation of bo@example.test",
        "changed the role of cy@example.test from viewer to editor",
        "removed cy@example.test from the team",
        "created the API key Zapier with the viewer role",
        "revoked the API key Zapier",
        "connected OpenAI, with the key named OpenAI",
        "changed the name of the connection OpenAI (team)",
        "enabled GPT-4o mini",
        "removed the monthly budget",
        "added the model server Ollama",
        "added the model llama3.1:8b from a model server",
        "created the knowledge base Returns",
        "added the document Refund policy",
        "created the bot Support bot, answering from Returns",
        "changed the model of Support bot from Cited passages (no language model) to GPT-4o mini",
        "changed the greeting and temperature of Support bot",
        "renamed the bot Support bot to Front desk",
        "replaced the widget key of Front desk",
        "deleted the document Refund policy",
        "deleted the bot Front desk",
        "deleted the knowledge base Returns",
    ):
        assert sentence in page, sentence


def test_an_action_without_its_own_words_still_reads_as_words(world: World, owner_client: Client) -> None:
    with tenant_context(world.tenant.pk):
        services.audit(world.actor(), action="widget.sparkled", target=world.tenant)
    page = entries(owner_client)
    assert "changed the tenant Acme" in page and "widget.sparkled" not in page


def test_filters_by_kind_person_and_days(world: World, owner_client: Client) -> None:
    make_bot(world, "Support bot")
    admin = world.add_member(Role.ADMIN, "di@example.test")
    with tenant_context(world.tenant.pk):
        services.invitation_create(
            actor=world.actor(Role.ADMIN, user=admin.user), email="ed@example.test", role="viewer"
        )
        old = services.api_key_create(actor=world.actor(), name="Old key", role="viewer")[0]
        AuditEvent.objects.filter(target_id=str(old.pk)).update(
            created_at=timezone.now() - timedelta(days=40)
        )

    bots = entries(owner_client, "?kind=bots")
    assert "created the bot Support bot" in bots and "invited" not in bots and "organisation" not in bots

    by_di = entries(owner_client, "?actor=di%40example.test")
    assert "invited ed@example.test" in by_di and "created the bot" not in by_di

    day = (timezone.now() - timedelta(days=40)).date().isoformat()
    that_day = entries(owner_client, f"?since={day}&until={day}")
    assert "created the API key Old key" in that_day and "created the bot" not in that_day
    recent = text_of(owner_client.get(f"/app/settings/audit-log/?since={timezone.now().date().isoformat()}"))
    assert "Old key" not in recent and "created the bot Support bot" in recent

    nothing = text_of(owner_client.get("/app/settings/audit-log/?kind=regression"))
    assert "No changes match these filters" in nothing


def test_a_bad_filter_is_a_readable_error_not_a_crash(owner_client: Client) -> None:
    backwards = owner_client.get("/app/settings/audit-log/?since=2026-12-08&until=2026-12-01")
    assert backwards.status_code == 400
    assert "The end date is before the start date." in text_of(backwards)
    nonsense = owner_client.get("/app/settings/audit-log/?kind=everything&since=yesterday")
    assert nonsense.status_code == 400
    assert "Select a valid choice" in text_of(nonsense) and "Enter a valid date" in text_of(nonsense)
    export = owner_client.get("/app/settings/audit-log/export.csv?since=soon")
    assert export.status_code == 302 and export["Location"].startswith("/app/settings/audit-log/?")


def test_the_csv_holds_the_filtered_entries_in_words_and_cannot_run_formulas(
    world: World, owner_client: Client
) -> None:
    make_bot(world, '=HYPERLINK("https://evil.example","Click")')
    make_bot(world, "Support bot")
    with tenant_context(world.tenant.pk):
        services.invitation_create(actor=world.actor(), email="ed@example.test", role="viewer")

    response = owner_client.get("/app/settings/audit-log/export.csv?kind=bots")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="audit-log-[\w-]+-\d{4}-\d{2}-\d{2}\.csv"', response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["When (UTC)", "Who", "What", "Kind", "Sentence"]
    whats = [row[2] for row in rows[1:]]
    assert whats == [
        "created the bot Support bot",
        'created the bot =HYPERLINK("https://evil.example","Click")',
    ]
    assert all(row[3] == "Bots and answers" for row in rows[1:])
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert not UUID.search(response.content.decode())

    everything = owner_client.get("/app/settings/audit-log/export.csv").content.decode()
    assert "invited ed@example.test as viewer" in everything


def test_the_page_links_its_export_with_the_same_filters(owner_client: Client) -> None:
    html = owner_client.get("/app/settings/audit-log/?kind=team").content.decode()
    assert 'href="/app/settings/audit-log/export.csv?kind=team"' in html


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_admins_read_or_export_the_audit_log(world: World, role: Role) -> None:
    client = member_client(world, role)
    assert client.get("/app/settings/audit-log/").status_code == 403
    assert client.get("/app/settings/audit-log/export.csv").status_code == 403


def test_another_organisations_changes_never_show(world: World, owner_client: Client) -> None:
    other = make_world("Other Org")
    make_bot(other, "Their secret bot")
    assert "Their secret bot" not in owner_client.get("/app/settings/audit-log/").content.decode()
    assert "Their secret bot" not in owner_client.get("/app/settings/audit-log/export.csv").content.decode()


def test_documents_are_named_with_their_knowledge_base_while_it_exists(
    world: World, owner_client: Client
) -> None:
    base = make_knowledge_base(world, "Returns")
    add_text(world, base, "Refunds take five days.", title="Refund policy")
    assert "added the document Refund policy to Returns" in entries(owner_client)
    with tenant_context(world.tenant.pk):
        knowledge_services.knowledge_base_delete(actor=world.actor(), knowledge_base_id=base.pk)
    page = entries(owner_client)
    assert "added the document Refund policy" in page and "Refund policy to" not in page
    assert "deleted the knowledge base Returns and its 1 document" in page
