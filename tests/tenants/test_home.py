"""The home page: getting started ticks itself from data, the bots say whether they can answer, and the
latest conversations and changes read as words."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bots.models import Channel
from bots.widget.installation import record_widget_seen
from tenants import overview, services
from tenants.context import tenant_context
from tenants.models import Role
from tests.bots.factories import make_bot, record_conversation
from tests.clients import member_client, text_of
from tests.knowledge.factories import add_text, ingested_text, make_knowledge_base
from tests.providers.factories import add_credential, endpoint_credential, own_model, use_openai
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

ITEMS = ("connect-model", "add-knowledge", "build-bot", "install-widget", "invite-team")


def checklist_on_page(client: Client) -> dict[str, str]:
    """Each checklist item's ``data-done`` as the home page renders it."""
    html = client.get("/app/").content.decode()
    return dict(re.findall(r'data-checklist-item="([a-z-]+)" data-done="(true|false)"', html))


def done(world: World) -> dict[str, bool]:
    with tenant_context(world.tenant.pk):
        return {item.key: item.done for item in overview.getting_started(tenant=world.tenant).items}


def test_a_new_organisation_has_every_step_to_do_and_empty_states(owner_client: Client) -> None:
    assert checklist_on_page(owner_client) == dict.fromkeys(ITEMS, "false")
    page = text_of(owner_client.get("/app/"))
    assert "0 of 5 done" in page
    assert "No bots yet" in page and "Create your first bot" in page
    assert "No conversations yet" in page


def test_connect_model_ticks_for_a_provider_key(world: World) -> None:
    assert not done(world)["connect-model"]  # the built-in no-LLM model writes no answers
    add_credential(world, "anthropic", api_key="sk-ant-test-key")
    assert done(world)["connect-model"]


def test_connect_model_ticks_for_an_own_model_server(world: World) -> None:
    own_model(world, endpoint_credential(world))
    assert done(world)["connect-model"]


def test_connect_model_ticks_for_a_model_the_platform_key_serves(world: World, settings: object) -> None:
    from providers import services as provider_services

    with tenant_context(world.tenant.pk):
        provider_services.model_settings_update(
            actor=world.actor(), enabled_models=["openai:gpt-4o-mini"], default_chat_model="local:no-llm"
        )
    assert not done(world)["connect-model"]  # enabled, but no key serves it
    settings.OPENAI_API_KEY = "sk-platform"  # type: ignore[attr-defined]
    settings.PLATFORM_KEY_PLANS = [world.tenant.plan]  # type: ignore[attr-defined]
    assert done(world)["connect-model"]


def test_add_knowledge_ticks_once_a_document_is_ready(world: World) -> None:
    base = make_knowledge_base(world, "Returns")
    add_text(world, base, "Refunds take five days.", title="Queued")
    assert not done(world)["add-knowledge"]  # queued is not ready
    ingested_text(world, base, "Refunds take five working days.", title="Policy")
    assert done(world)["add-knowledge"]


def test_build_bot_ticks_once_a_bot_has_been_tried(world: World) -> None:
    bot = make_bot(world, "Concierge")
    assert not done(world)["build-bot"]  # made, never asked anything
    record_conversation(world, bot, channel=Channel.PLAYGROUND)
    assert done(world)["build-bot"]
    assert not done(world)["install-widget"]  # the playground is not a website


def test_install_widget_ticks_once_the_widget_has_loaded_on_a_website(world: World) -> None:
    bot = make_bot(world, "Concierge")
    # A conversation in the widget is not enough: the owner's preview on the Install page starts those.
    record_conversation(world, bot, channel=Channel.WIDGET)
    assert not done(world)["install-widget"]
    record_widget_seen(publishable_key=bot.publishable_key, origin="https://shop.example.com")
    assert done(world)["install-widget"]
    with tenant_context(world.tenant.pk):
        assert overview.widget_installed(world.tenant)


def test_invite_team_ticks_for_an_invitation_or_a_second_member(world: World, other_world: World) -> None:
    assert not done(world)["invite-team"]
    with tenant_context(world.tenant.pk):
        services.invitation_create(actor=world.actor(), email="ana@example.test", role="editor")
    assert done(world)["invite-team"]

    assert not done(other_world)["invite-team"]
    other_world.add_member(Role.VIEWER)
    assert done(other_world)["invite-team"]


def test_the_page_shows_what_the_data_says_and_collapses_when_all_is_done(
    world: World, owner_client: Client
) -> None:
    use_openai(world)
    ingested_text(world, make_knowledge_base(world), "Refunds take five working days.")
    bot = make_bot(world, "Concierge")
    record_conversation(world, bot, channel=Channel.PLAYGROUND)
    assert checklist_on_page(owner_client) == {
        "connect-model": "true",
        "add-knowledge": "true",
        "build-bot": "true",
        "install-widget": "false",
        "invite-team": "false",
    }
    assert 'data-checklist-complete="false"' in owner_client.get("/app/").content.decode()

    record_widget_seen(publishable_key=bot.publishable_key, origin="https://shop.example.com")
    world.add_member(Role.EDITOR)
    html = owner_client.get("/app/").content.decode()
    assert checklist_on_page(owner_client) == dict.fromkeys(ITEMS, "true")
    # Done: folded away into a closed <details>, no longer the page's first card.
    assert re.search(r'<details[^>]*data-checklist-complete="true"', html)
    assert "Getting started: all 5 steps done" in text_of(owner_client.get("/app/"))


def test_the_checklist_costs_the_same_queries_however_much_there_is(world: World, other_world: World) -> None:
    def queries(a_world: World) -> int:
        with tenant_context(a_world.tenant.pk), CaptureQueriesContext(connection) as captured:
            overview.getting_started(tenant=a_world.tenant)
        return len(captured)

    small = queries(world)
    for number in range(6):
        bot = make_bot(other_world, f"Bot {number}")
        record_conversation(other_world, bot, channel=Channel.WIDGET)
        record_widget_seen(publishable_key=bot.publishable_key, origin="https://shop.example.com")
    use_openai(other_world)
    other_world.add_member(Role.EDITOR)
    assert queries(other_world) == small
    assert small <= 7


def test_bots_show_their_state_and_the_fix_for_admins(world: World, owner_client: Client) -> None:
    make_bot(world, "Concierge", status="published", allowed_origins=["https://shop.example.com"])
    html = owner_client.get("/app/").content.decode()
    card = html[html.index('data-home-bot="concierge"') :]
    card = card[: card.index("</li>")]
    assert "Published" in card and "Cited passages (no language model)" in text_of_html(card)
    problem = re.search(r"<p[^>]*data-model-problem[^>]*>(.*?)</p>", card, re.S)
    assert problem and "never writes an answer" in problem.group(1)
    fix = re.search(r'<a href="([^"]+)" data-model-fix>([^<]+)</a>', problem.group(1))
    assert fix and fix.group(2) == "Connect a model provider"
    # Back to the home page after the key is saved: next in the query, before the fragment.
    assert fix.group(1) == "/app/models/?add=openai&amp;next=/app/#providers"

    editor_page = member_client(world, Role.EDITOR).get("/app/").content.decode()
    assert "data-model-problem" in editor_page and "data-model-fix" not in editor_page


def test_a_bot_whose_model_answers_says_so(world: World, owner_client: Client) -> None:
    use_openai(world)
    make_bot(world, "Concierge", chat_model="openai:gpt-4o-mini")
    page = text_of(owner_client.get("/app/"))
    assert "Writes answers with GPT-4o mini" in page and "Draft" in page
    assert "data-model-problem" not in owner_client.get("/app/").content.decode()


def test_the_latest_five_conversations_with_bot_question_and_link(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    ids = [
        record_conversation(world, bot, f"Question number {number}?", channel=Channel.WIDGET)[0]
        for number in range(6)
    ]
    html = owner_client.get("/app/").content.decode()
    assert html.count("data-home-conversation") == 5
    page = text_of(owner_client.get("/app/"))
    assert "Question number 5?" in page and "Question number 0?" not in page
    assert "Concierge · Widget" in page
    assert f'href="/app/conversations/{ids[-1]}/"' in html


def test_recent_activity_reads_as_words(world: World, owner_client: Client) -> None:
    make_bot(world, "Concierge")
    page = text_of(owner_client.get("/app/"))
    assert "created the bot Concierge" in page and "created the organisation" in page
    assert "bot.created" not in page and "tenant.created" not in page
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", page)


def test_viewers_see_no_activity_but_the_bots_and_conversations(world: World) -> None:
    bot = make_bot(world, "Concierge")
    record_conversation(world, bot, "Where is my parcel?", channel=Channel.API)
    page = text_of(member_client(world, Role.VIEWER).get("/app/"))
    assert "Concierge" in page and "Where is my parcel?" in page
    assert "Recent activity" not in page


def text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_steps_link_to_where_they_are_done(world: World, owner_client: Client) -> None:
    draft = make_bot(world, "Alpha")
    published = make_bot(world, "Beta", status="published", allowed_origins=["https://shop.example.com"])
    html = owner_client.get("/app/").content.decode()

    def link(item: str) -> str:
        found = re.search(rf'data-checklist-item="{item}".*?<a [^>]*href="([^"]+)"', html, re.S)
        assert found, item
        return found.group(1)

    assert link("connect-model") == "/app/models/#providers"
    assert link("add-knowledge") == "/app/knowledge/"
    assert link("build-bot") == f"/app/bots/{draft.pk}/"  # the first bot by name, to try it
    assert link("install-widget") == f"/app/bots/{published.pk}/install/"  # the published one
    assert link("invite-team") == "/app/team/"
