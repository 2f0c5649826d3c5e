"""The bots pages: the list, a new bot, the builder with every setting and its model picker, the
playground (streamed, refused readably, CSRF-protected), ratings, the conversations with their filters,
export, detail and corrections, and the monthly budget on the Usage page; read-only for viewers; other
tenants' ids are 404 on every route; everything visitors, documents and models wrote is shown escaped.

Tests that stream use Django's ``AsyncClient`` (one event loop, as under ASGI) and committed data
(``transactional_db``): the engine's database work runs in a worker thread with its own connection.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client
from django.utils import timezone

from bots import services
from bots.chat import services as chat_services
from bots.models import Bot, Conversation, Message
from core.clock import ManualClock
from knowledge import services as knowledge_services
from knowledge.models import Document
from providers import services as provider_services
from providers.models import TenantModelSettings
from tenants.audit import audit_entries
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot, record_conversation
from tests.bots.helpers import REFUNDS, reload, sse_events
from tests.clients import HOSTILE, PROBLEM, member_client, text_of
from tests.knowledge.factories import ingested_knowledge_base, make_knowledge_base
from tests.providers.factories import enable_models, use_openai
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db

# The models the builder tests enable: the built-in ones and two of OpenAI's chat models.
OPENAI_CHAT_MODELS = ("local:no-llm", "local:all-MiniLM-L6-v2", "openai:gpt-4o-mini", "openai:gpt-4.1-mini")


# --- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def local_models_only(offline_models: None, generous_rates: None, close_connections: None) -> None:
    """Only the rate-limit test meets a limit; no test reaches a provider (local models only)."""


def knowledge_base_ids(world: World, bot: Bot) -> list[uuid.UUID]:
    from bots import selectors

    with tenant_context(world.tenant.pk):
        return [base.pk for base in selectors.bot_knowledge_bases(tenant=world.tenant, bot=bot)]


def builder_post(bot: Bot, **changes: Any) -> dict[str, Any]:
    """The builder's form as the page posts it, with ``changes``."""
    data: dict[str, Any] = {
        "name": bot.name,
        "avatar": bot.avatar,
        "description": bot.description,
        "instructions": bot.instructions,
        "greeting": bot.greeting,
        "suggested_questions": "\n".join(bot.suggested_questions),
        "answer_policy": bot.answer_policy,
        "handoff_message": bot.handoff_message,
        "language": bot.language,
        "chat_model": bot.chat_model,
        "temperature": bot.temperature,
        "max_output_tokens": bot.max_output_tokens,
        "fallback_model": bot.fallback_model,
        "retrieval_top_k": bot.retrieval_top_k,
        "retrieval_score_threshold": bot.retrieval_score_threshold,
        "retrieval_mode": bot.retrieval_mode,
        "status": bot.status,
        "daily_budget_usd": "" if bot.daily_budget_usd is None else str(bot.daily_budget_usd),
    }
    if bot.show_citations:
        data["show_citations"] = "on"
    if bot.rewrite_follow_ups:
        data["rewrite_follow_ups"] = "on"
    if bot.daily_budget_usd is None:
        data["no_daily_budget"] = "on"  # as the builder shows a bot without a daily budget
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def nav_link(html: str, href: str, next_href: str) -> str:
    nav = html[html.index('aria-label="Main"') : html.index("gw-nav-heading")]
    return nav[nav.index(href) : nav.index(next_href)]


# --- the list and a new bot -------------------------------------------------------------------------


def test_the_bots_page_is_an_invitation_to_create_the_first_bot(owner_client: Client) -> None:
    response = owner_client.get("/app/bots/")
    assert response.status_code == 200
    page = text_of(response)
    assert "No bots yet" in page and "Create your first bot" in page
    html = response.content.decode()
    bots_link = nav_link(html, "/app/bots/", "/app/knowledge/")
    assert "Soon" not in bots_link and 'aria-current="page"' in bots_link
    assert "Soon" not in nav_link(html, "/app/conversations/", "/app/usage/")


def test_the_list_shows_each_bot_with_its_model_knowledge_bases_status_and_conversations(
    world: World, owner_client: Client
) -> None:
    base = make_knowledge_base(world, "Returns policy")
    bot = make_bot(world, "Concierge", knowledge_base_ids=[base.pk], description="Answers shoppers.")
    make_bot(world, "Draft helper", status="draft")
    services.bot_update(actor=world.actor(), bot_id=bot.pk, status="published")
    record_conversation(world, bot)
    record_conversation(world, bot, "Where is my parcel?")

    page = text_of(owner_client.get("/app/bots/"))
    assert "Concierge" in page and "Answers shoppers." in page and "Returns policy" in page
    assert "Published" in page and "Draft" in page
    assert "2 conversations" in page and "0 conversations" in page
    assert "Cited passages (no language model)" in page  # the default chat model, by its name
    assert "No knowledge bases yet" in page  # the second bot


def test_creating_a_bot_opens_the_builder_and_the_bot_answers_with_the_default_model(
    world: World, owner_client: Client
) -> None:
    base = make_knowledge_base(world)
    form = owner_client.get("/app/bots/new/")
    assert form.status_code == 200
    assert f'value="{base.pk}" checked' in form.content.decode()  # the only knowledge base, ticked

    response = owner_client.post(
        "/app/bots/new/", {"name": "Support assistant", "knowledge_bases": [base.pk]}
    )

    with tenant_context(world.tenant.pk):
        bot = Bot.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/app/bots/{bot.pk}/"
    assert bot.chat_model == "local:no-llm" and bot.status == "draft"
    assert knowledge_base_ids(world, bot) == [base.pk]
    builder = owner_client.get(response["Location"])
    assert "Created Support assistant. Ask it something in the playground." in text_of(builder)
    bots_link = nav_link(builder.content.decode(), "/app/bots/", "/app/knowledge/")
    assert 'aria-current="page"' in bots_link  # the section stays highlighted on its sub-pages


def test_a_new_bot_needs_a_name_of_its_own(world: World, owner_client: Client) -> None:
    make_bot(world, "Helper")
    empty = owner_client.post("/app/bots/new/", {"name": ""})
    assert empty.status_code == 400 and "This field is required." in text_of(empty)
    taken = owner_client.post("/app/bots/new/", {"name": "Helper"})
    assert taken.status_code == 400 and "Already used." in text_of(taken)
    with tenant_context(world.tenant.pk):
        assert Bot.objects.count() == 1


# --- the builder ------------------------------------------------------------------------------------


def test_the_builder_shows_every_section_and_the_way_to_install_it(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://groundwork.example.com"
    make_knowledge_base(world)
    bot = make_bot(world, "Concierge", suggested_questions=["How do refunds work?"])
    response = owner_client.get(f"/app/bots/{bot.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("identity", "behaviour", "model", "knowledge", "publishing", "limits", "playground"):
        assert f'id="{section}"' in html, section
    for field in (
        "name",
        "avatar",
        "description",
        "instructions",
        "greeting",
        "suggested_questions",
        "answer_policy",
        "handoff_message",
        "show_citations",
        "language",
        "rewrite_follow_ups",
        "chat_model",
        "temperature",
        "max_output_tokens",
        "fallback_model",
        "knowledge_bases",
        "retrieval_top_k",
        "retrieval_score_threshold",
        "retrieval_mode",
        "status",
        "daily_budget_usd",
    ):
        assert f'name="{field}"' in html, field
    # The snippet, the websites and the look are on the Install page, which Publishing leads to.
    publishing = html[html.index('id="publishing"') : html.index('id="limits"')]
    assert f'href="/app/bots/{bot.pk}/install/"' in publishing and "Install on your website" in publishing
    page = text_of(response)
    assert "arrives in the next release" not in page
    assert "How do refunds work?" in page  # a suggested question, offered in the playground
    assert f"/app/bots/{bot.pk}/playground/" in html
    assert " style=" not in html and "<script>" not in html  # ready for a strict CSP


def test_the_model_picker_lists_the_enabled_chat_models_with_context_window_and_price(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *OPENAI_CHAT_MODELS)
    bot = make_bot(world)
    html = owner_client.get(f"/app/bots/{bot.pk}/").content.decode()
    picker = html[
        html.index('class="gw-model-picker"') : html.index("</fieldset>", html.index("gw-model-picker"))
    ]
    options = re.findall(r'name="chat_model" value="([^"]+)"', picker)
    assert options == ["local:no-llm", "openai:gpt-4.1-mini", "openai:gpt-4o-mini"]
    assert 'openai:gpt-4o"' not in picker  # not enabled for this organisation
    assert "local:all-MiniLM-L6-v2" not in picker  # an embedding model
    mini = picker[picker.index('value="openai:gpt-4o-mini"') :]
    mini = mini[: mini.index("</label>")]
    assert "GPT-4o mini" in mini and "128K context" in mini
    assert "$0.15" in mini and "$0.60" in mini and "per 1M" in mini
    no_llm = picker[picker.index('value="local:no-llm"') :]
    assert re.match(r'value="local:no-llm" checked', no_llm)
    assert "Free" in no_llm[: no_llm.index("</label>")]
    fallback = html[
        html.index('name="fallback_model"') : html.index("</select>", html.index('name="fallback_model"'))
    ]
    assert "No fallback" in fallback and "GPT-4o mini" in fallback


def test_saving_the_builder_changes_every_setting(world: World, owner_client: Client) -> None:
    # With an OpenAI key connected: publishing a bot whose model can answer needs no confirmation.
    use_openai(world, *OPENAI_CHAT_MODELS)
    base = make_knowledge_base(world, "Manuals")
    other = make_knowledge_base(world, "Returns")
    bot = make_bot(world, "Helper", knowledge_base_ids=[base.pk])

    response = owner_client.post(
        f"/app/bots/{bot.pk}/settings/",
        builder_post(
            bot,
            name="Concierge",
            avatar="🛎️",
            description="Front desk.",
            instructions="Be brief.",
            greeting="Hello there!",
            suggested_questions="Where is my parcel?\n\n  How do refunds work?  \n",
            answer_policy="open",
            handoff_message="Write to help@example.com.",
            language="English",
            chat_model="openai:gpt-4o-mini",
            temperature="0.7",
            max_output_tokens="600",
            fallback_model="openai:gpt-4.1-mini",
            knowledge_bases=[other.pk, base.pk],
            retrieval_top_k="8",
            retrieval_score_threshold="0.45",
            retrieval_mode="vector",
            status="published",
            daily_budget_usd="2.50",
            show_citations=None,
            rewrite_follow_ups=None,
        ),
    )

    assert response.status_code == 302 and response["Location"] == f"/app/bots/{bot.pk}/"
    saved = reload(world, bot)
    assert (saved.name, saved.avatar, saved.description) == ("Concierge", "🛎️", "Front desk.")
    assert (saved.instructions, saved.greeting, saved.language) == ("Be brief.", "Hello there!", "English")
    assert saved.suggested_questions == ["Where is my parcel?", "How do refunds work?"]
    assert (saved.answer_policy, saved.handoff_message) == ("open", "Write to help@example.com.")
    assert (saved.chat_model, saved.fallback_model) == ("openai:gpt-4o-mini", "openai:gpt-4.1-mini")
    assert (saved.temperature, saved.max_output_tokens) == (0.7, 600)
    assert (saved.retrieval_top_k, saved.retrieval_score_threshold, saved.retrieval_mode) == (
        8,
        0.45,
        "vector",
    )
    assert saved.status == "published" and saved.daily_budget_usd == Decimal("2.50")
    assert (saved.show_citations, saved.rewrite_follow_ups) == (False, False)
    assert saved.slug == bot.slug  # clients name it by its slug: a rename keeps it
    assert knowledge_base_ids(world, bot) == [other.pk, base.pk]
    with tenant_context(world.tenant.pk):
        event = AuditEvent.objects.filter(action="bot.updated").get()
    assert event.changes["name"] == {"from": "Helper", "to": "Concierge"}
    page = text_of(owner_client.get(response["Location"]))
    assert "Saved Concierge." in page and "Published" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"suggested_questions": "\n".join(f"Q{n}?" for n in range(7))}, "suggested_questions", "Up to 6"),
        # On a model that writes: for the no-LLM answerer temperature is off, and ignored.
        ({"chat_model": "openai:gpt-4o-mini", "temperature": "3"}, "temperature", "less than or equal to 2"),
        ({"name": ""}, "name", "This field is required."),
        ({"chat_model": "openai:gpt-4o"}, "chat_model", "Select a valid choice."),
        ({"daily_budget_usd": "-1"}, "daily_budget_usd", "greater than or equal to 0"),
        # An emptied budget is not a removed one: removing it is ticked on purpose.
        ({"daily_budget_usd": ""}, "daily_budget_usd", "tick “No daily budget” to remove the cap"),
    ],
)
def test_builder_errors_show_on_their_fields_and_nothing_is_saved(
    world: World, owner_client: Client, changes: dict[str, Any], field: str, message: str
) -> None:
    enable_models(world, *OPENAI_CHAT_MODELS)
    bot = make_bot(world, "Helper")
    response = owner_client.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, **changes))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved: check the fields marked below." in text_of(response)
    assert message in text_of(response)
    assert "gw-field-invalid" in html
    assert reload(world, bot).name == "Helper"
    with tenant_context(world.tenant.pk):
        assert not AuditEvent.objects.filter(action="bot.updated").exists()


def test_a_new_bots_default_daily_budget_is_in_force_and_removed_only_on_purpose(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Helper")
    assert bot.daily_budget_usd == Decimal("5")  # the operator's default for new bots
    page = owner_client.get(f"/app/bots/{bot.pk}/")
    assert "of $5.00" in text_of(page) and 'name="no_daily_budget"' in page.content.decode()

    removed = owner_client.post(
        f"/app/bots/{bot.pk}/settings/", builder_post(bot, daily_budget_usd="", no_daily_budget="on")
    )

    assert removed.status_code == 302
    assert reload(world, bot).daily_budget_usd is None
    assert "No daily limit." in text_of(owner_client.get(f"/app/bots/{bot.pk}/"))


def test_an_answer_longer_than_the_model_writes_is_refused_by_the_service_on_its_field(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *OPENAI_CHAT_MODELS)
    bot = make_bot(world, "Helper")
    response = owner_client.post(
        f"/app/bots/{bot.pk}/settings/",
        builder_post(bot, chat_model="openai:gpt-4o-mini", max_output_tokens="32000"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('name="max_output_tokens"') :]
    assert "GPT-4o mini writes at most 16,384 tokens." in field[: field.index("</div>") + 400]
    assert reload(world, bot).chat_model == "local:no-llm"


def test_rotating_the_key_and_deleting_the_bot(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Helper")
    record_conversation(world, bot)
    rotated = owner_client.post(f"/app/bots/{bot.pk}/rotate-key/")
    # The key lives on the Install page, beside the snippet that embeds it.
    assert rotated.status_code == 302 and rotated["Location"] == f"/app/bots/{bot.pk}/install/#snippet"
    fresh = reload(world, bot)
    assert fresh.publishable_key != bot.publishable_key and fresh.publishable_key.startswith("gw_pk_")
    assert fresh.publishable_key in owner_client.get(f"/app/bots/{bot.pk}/install/").content.decode()

    deleted = owner_client.post(f"/app/bots/{bot.pk}/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == "/app/bots/"
    with tenant_context(world.tenant.pk):
        assert not Bot.objects.exists() and not Conversation.objects.exists()
    assert "Deleted Helper with its conversations." in text_of(owner_client.get("/app/bots/"))


def test_an_editor_builds_bots(world: World) -> None:
    editor = member_client(world, Role.EDITOR)
    assert editor.post("/app/bots/new/", {"name": "Helper"}).status_code == 302
    with tenant_context(world.tenant.pk):
        bot = Bot.objects.get()
    assert editor.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, name="Helper 2")).status_code == 302
    assert reload(world, bot).name == "Helper 2"


# --- viewers ----------------------------------------------------------------------------------------


def test_viewers_see_everything_read_only_and_their_writes_are_refused(world: World) -> None:
    base = make_knowledge_base(world)
    bot = make_bot(world, "Helper", knowledge_base_ids=[base.pk])
    conversation_id, answer = record_conversation(world, bot)
    viewer = member_client(world, Role.VIEWER)

    for path in (
        "/app/bots/",
        f"/app/bots/{bot.pk}/",
        "/app/conversations/",
        f"/app/conversations/{conversation_id}/",
    ):
        response = viewer.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for control in (
            "New bot",
            'id="bot-form"',
            "Save changes",
            "/rotate-key/",
            "/delete/",
            "Delete bot",
            "Correct this answer",
            f"/app/bots/{bot.pk}/settings/",
        ):
            assert control not in html, (path, control)
    builder = viewer.get(f"/app/bots/{bot.pk}/").content.decode()
    assert '<fieldset class="gw-builder-fields" disabled>' in builder
    assert "only editors and above change its settings" in builder
    assert (
        f"/app/bots/{bot.pk}/playground/" in builder
    )  # trying a bot is reading it: viewers may, as in the API
    assert viewer.get("/app/bots/new/").status_code == 403
    assert viewer.get(f"/app/conversations/answers/{answer.pk}/correct/").status_code == 403

    before = (reload(world, bot).name, reload(world, bot).publishable_key)
    writes = [
        viewer.post("/app/bots/new/", {"name": "Mine"}),
        viewer.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, name="Hijacked")),
        viewer.post(f"/app/bots/{bot.pk}/rotate-key/"),
        viewer.post(f"/app/bots/{bot.pk}/delete/"),
        viewer.post(
            f"/app/conversations/answers/{answer.pk}/correct/",
            {"knowledge_base": base.pk, "question": "Q?", "answer": "A."},
        ),
        viewer.post("/app/usage/", {"monthly_budget_usd": "5"}),
    ]
    assert [response.status_code for response in writes] == [403] * 6
    assert (reload(world, bot).name, reload(world, bot).publishable_key) == before
    with tenant_context(world.tenant.pk):
        assert Bot.objects.count() == 1 and Document.objects.count() == 0


# --- tenant isolation -------------------------------------------------------------------------------


def test_another_tenants_ids_are_404_on_every_bots_route(world: World, owner_client: Client) -> None:
    other = make_world("Globex")
    base = knowledge_services.knowledge_base_create(actor=other.actor(), name="Theirs")
    theirs = services.bot_create(actor=other.actor(), name="Theirs", knowledge_base_ids=[base.pk])
    conversation_id, answer = record_conversation(other, theirs)

    gets = [
        f"/app/bots/{theirs.pk}/",
        f"/app/conversations/{conversation_id}/",
        f"/app/conversations/answers/{answer.pk}/correct/",
    ]
    posts = [
        (f"/app/bots/{theirs.pk}/settings/", builder_post(theirs, name="Mine")),
        (f"/app/bots/{theirs.pk}/rotate-key/", {}),
        (f"/app/bots/{theirs.pk}/delete/", {}),
        (f"/app/bots/{theirs.pk}/playground/", {"message": "Hello?"}),
        (f"/app/bots/answers/{answer.pk}/rate/", {"rating": "1"}),
        (f"/app/conversations/answers/{answer.pk}/correct/", {"knowledge_base": base.pk, "answer": "A."}),
    ]
    for path in gets:
        assert owner_client.get(path).status_code == 404, path
    for path, data in posts:
        assert owner_client.post(path, data).status_code == 404, path
    # Filters naming another tenant's bot match nothing of theirs: the choice is not offered.
    listing = owner_client.get(f"/app/conversations/?bot={theirs.pk}")
    assert listing.status_code == 400 and "Theirs" not in text_of(listing)
    export = owner_client.get(f"/app/conversations/export/?bot={theirs.pk}&format=csv")
    assert export.status_code == 302
    with tenant_context(other.tenant.pk):
        assert (
            Bot.objects.get().name == "Theirs" and Bot.objects.get().publishable_key == theirs.publishable_key
        )
        assert Message.objects.get(pk=answer.pk).rating is None


# --- the playground ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_the_playground_streams_the_answer_with_its_sources_and_retrieved_passages() -> None:
    world = await sync_to_async(make_world)()
    base = await sync_to_async(ingested_knowledge_base)(world, REFUNDS)
    bot = await sync_to_async(make_bot)(world, knowledge_base_ids=[base.pk])
    client = AsyncClient()
    await client.aforce_login(world.owner)

    response = await client.post(
        f"/app/bots/{bot.pk}/playground/", {"message": "How long do card refunds take?"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    events = sse_events(b"".join([chunk async for chunk in response.streaming_content]))
    names = [name for name, _ in events]
    assert names[:2] == ["start", "sources"] and names[-1] == "done"
    assert names.count("token") > 1  # the answer arrives in pieces
    sources = events[1][1]
    assert "five working days" in sources["citations"][0]["snippet"]
    assert sources["citations"][0]["document_url"].startswith("/app/knowledge/documents/")
    assert sources["retrieved"] and isinstance(sources["retrieved"][0]["score"], float)
    assert "five working days" in sources["retrieved"][0]["text"]
    assert sources["score_label"] == "fused rank"  # what a hybrid search's score is
    done = events[-1][1]
    answer = "".join(data["text"] for name, data in events if name == "token")
    assert done["answer"] == answer and done["outcome"] == "answered"
    assert done["conversation_url"] == f"/app/conversations/{done['conversation_id']}/"
    assert done["cost_label"] == "free (built-in model)" and done["latency_label"]  # not "$0.00"

    def stored() -> Conversation:
        with tenant_context(world.tenant.pk):
            return Conversation.objects.select_related("started_by").get()

    kept = await sync_to_async(stored)()
    assert (kept.channel, kept.started_by, kept.message_count) == ("playground", world.owner, 2)

    follow_up = await client.post(
        f"/app/bots/{bot.pk}/playground/",
        {"message": "And exchanges?", "conversation_id": done["conversation_id"]},
    )
    events = sse_events(b"".join([chunk async for chunk in follow_up.streaming_content]))
    assert events[0][1]["conversation_id"] == done["conversation_id"]
    assert (await sync_to_async(stored)()).message_count == 4


@pytest.mark.django_db(transaction=True)
def test_under_a_sync_server_the_playground_sends_the_whole_answer_at_once() -> None:
    world = make_world()
    bot = make_bot(world, handoff_message="Please email help@example.com.")
    client = Client()
    client.force_login(world.owner)

    response = client.post(f"/app/bots/{bot.pk}/playground/", {"message": "Anything?"})

    events = sse_events(b"".join(response.streaming_content))
    assert [name for name, _ in events] == ["start", "sources", "token", "done"]
    assert events[-1][1]["answer"] == "Please email help@example.com."
    assert events[-1][1]["outcome"] == "no_answer"


@pytest.mark.django_db(transaction=True)
def test_playground_refusals_are_problems_the_page_can_show(settings: Any, clock: ManualClock) -> None:
    world = make_world()
    bot = make_bot(world)
    client = Client()
    client.force_login(world.owner)
    url = f"/app/bots/{bot.pk}/playground/"

    empty = client.post(url, {"message": "   "})
    assert empty.status_code == 400 and empty["Content-Type"] == PROBLEM
    assert empty.json()["detail"] == "Type a question."
    too_long = client.post(url, {"message": "x" * (settings.CHAT_MAX_MESSAGE_CHARACTERS + 1)})
    assert too_long.status_code == 400 and "Questions are limited to" in too_long.json()["detail"]
    unknown = client.post(url, {"message": "Hi?", "conversation_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "No such conversation."
    assert client.get(url).status_code == 405
    assert Client().post(url, {"message": "Hi?"})["Location"].startswith("/app/sign-in/")

    settings.CHAT_RATE_PER_BOT = "1/day"
    assert client.post(url, {"message": "One?"}).status_code == 200
    limited = client.post(url, {"message": "Two?"})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert "This bot is receiving too many questions; try again in" in limited.json()["detail"]

    settings.CHAT_RATE_PER_BOT = "1000/minute"
    with tenant_context(world.tenant.pk):
        TenantModelSettings.objects.update_or_create(
            tenant=world.tenant,
            defaults={
                "enabled_models": ["local:no-llm", "local:all-MiniLM-L6-v2"],
                "default_chat_model": "local:no-llm",
                "default_embedding_model": "local:all-MiniLM-L6-v2",
                "monthly_budget_usd": Decimal("0.01"),
            },
        )
    provider_services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref="openai:gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=10,
        output_tokens=10,
        cost_usd=Decimal("0.02"),
        latency_ms=10,
        time_to_first_token_ms=5,
    )
    spent = client.post(url, {"message": "Three?"})
    assert spent.status_code == 429
    assert spent.json()["detail"] == (
        "Your organisation has used its monthly budget of $0.01; raise it on the Usage page."
    )


@pytest.mark.django_db(transaction=True)
def test_the_playground_is_protected_by_csrf() -> None:
    world = make_world()
    bot = make_bot(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    response = client.post(f"/app/bots/{bot.pk}/playground/", {"message": "Hi?"})
    assert response.status_code == 403
    with tenant_context(world.tenant.pk):
        assert not Conversation.objects.exists()


def test_rating_an_answer_from_the_playground(world: World) -> None:
    bot = make_bot(world)
    _conversation_id, answer = record_conversation(world, bot, channel="playground")
    viewer = member_client(world, Role.VIEWER)  # rating is feedback, not building: viewers may

    rated = viewer.post(
        f"/app/bots/answers/{answer.pk}/rate/", {"rating": "-1"}, HTTP_ACCEPT="application/json"
    )
    assert rated.status_code == 200 and rated.json() == {"message_id": str(answer.pk), "rating": -1}
    bad = viewer.post(f"/app/bots/answers/{answer.pk}/rate/", {"rating": "5"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad["Content-Type"] == PROBLEM
    with tenant_context(world.tenant.pk):
        assert Message.objects.get(pk=answer.pk).rating == -1
        question = Message.objects.get(role="user")
    not_an_answer = viewer.post(
        f"/app/bots/answers/{question.pk}/rate/", {"rating": "1"}, HTTP_ACCEPT="application/json"
    )
    assert not_an_answer.status_code == 400 and "Only the bot's answers" in not_an_answer.json()["detail"]


# --- conversations ----------------------------------------------------------------------------------


def test_conversations_are_listed_newest_first_with_bot_channel_and_cost(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Concierge")
    record_conversation(world, bot, "Where is my parcel?", channel="playground")
    record_conversation(world, bot, "How long do refunds take?", channel="api")
    response = owner_client.get("/app/conversations/")
    assert response.status_code == 200
    page = text_of(response)
    assert page.index("How long do refunds take?") < page.index("Where is my parcel?")
    assert "Concierge" in page and "Playground" in page and "REST API" in page
    assert "$0.0002" in page
    html = response.content.decode()
    assert (
        "/app/conversations/export/?format=csv" in html and "/app/conversations/export/?format=jsonl" in html
    )
    assert 'aria-current="page"' in nav_link(html, "/app/conversations/", "/app/usage/")


def test_the_conversations_page_without_bots_points_to_them(owner_client: Client) -> None:
    page = text_of(owner_client.get("/app/conversations/"))
    assert "No conversations yet" in page and "Start by creating a bot." in page


def test_conversation_filters(world: World, owner_client: Client) -> None:
    first = make_bot(world, "First")
    second = make_bot(world, "Second")
    record_conversation(world, first, "Rated up?", rating=1)
    record_conversation(world, first, "Rated down?", rating=-1, channel="playground")
    record_conversation(world, second, "Nothing found?", outcome="no_answer", answer="Please email us.")

    def titles(query: str) -> set[str]:
        response = owner_client.get(f"/app/conversations/?{query}")
        assert response.status_code == 200, query
        return set(re.findall(r'class="gw-conv-title"[^>]*>([^<]+)<', response.content.decode()))

    assert titles(f"bot={first.pk}") == {"Rated up?", "Rated down?"}
    assert titles("rating=1") == {"Rated up?"}
    assert titles("rating=-1") == {"Rated down?"}
    assert titles("unanswered=on") == {"Nothing found?"}
    assert titles("channel=playground") == {"Rated down?"}
    today = timezone.now().date()
    assert titles(f"since={today}&until={today}") == {"Rated up?", "Rated down?", "Nothing found?"}
    assert titles("since=2000-01-01&until=2000-01-02") == set()
    assert "No conversations match these filters" in text_of(
        owner_client.get("/app/conversations/?until=2000-01-02")
    )

    backwards = owner_client.get(f"/app/conversations/?since={today}&until=2000-01-01")
    assert backwards.status_code == 400 and "The end date is before the start date." in text_of(backwards)
    export = owner_client.get(f"/app/conversations/?bot={first.pk}&rating=1").content.decode()
    assert f"/app/conversations/export/?bot={first.pk}&amp;rating=1&amp;format=csv" in export


def test_conversations_are_paginated_keeping_the_filters(world: World, owner_client: Client) -> None:
    bot = make_bot(world)
    for number in range(27):
        record_conversation(world, bot, f"Question {number}?")
    first = owner_client.get(f"/app/conversations/?bot={bot.pk}")
    html = first.content.decode()
    assert html.count('class="gw-conv-title"') == 25 and "Page 1 of 2" in text_of(first)
    assert f"?bot={bot.pk}&amp;page=2" in html
    second = owner_client.get(f"/app/conversations/?bot={bot.pk}&page=2")
    assert second.content.decode().count('class="gw-conv-title"') == 2


def test_exports_stream_csv_and_jsonl_honouring_the_filters(world: World, owner_client: Client) -> None:
    first = make_bot(world, "First")
    second = make_bot(world, "Second")
    record_conversation(world, first, '=HYPERLINK("http://evil.example")', rating=1)
    record_conversation(world, second, "Elsewhere?")

    response = owner_client.get(f"/app/conversations/export/?bot={first.pk}&format=csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(r'attachment; filename="conversations-\d{8}-\d{6}\.csv"', response["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["role"] for row in rows] == ["user", "assistant"]
    assert rows[0]["content"].startswith("'=HYPERLINK")  # shown as text by spreadsheets, never run
    assert rows[1]["rating"] == "1" and rows[1]["sources"] == "Refund policy" and rows[1]["bot"] == "First"

    jsonl = owner_client.get("/app/conversations/export/?format=jsonl&rating=1")
    assert jsonl["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert {line["bot"] for line in lines} == {"First"} and len(lines) == 2

    everything = owner_client.get("/app/conversations/export/")  # CSV by default, every conversation
    assert len(list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))) == 4
    assert owner_client.get("/app/conversations/export/?format=xml").status_code == 302


def test_a_conversation_shows_each_answer_with_sources_usage_timing_model_and_feedback(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Concierge")
    conversation_id, answer = record_conversation(world, bot, rating=-1, comment="Too vague.")
    response = owner_client.get(f"/app/conversations/{conversation_id}/")
    assert response.status_code == 200
    page = text_of(response)
    for fact in (
        "How long do refunds take?",
        "Five working days",
        "Refund policy",
        "page 3",
        "Refunds for card payments take five working days.",
        "shop.example.com/help/refunds",
        "1.2K in · 56 out",
        "$0.0002",
        "1.9 s",
        "420 ms",
        "GPT-4o mini",
        "gpt-4o-mini-2024-07-18",
        "Not helpful",
        "Too vague.",
        "Correct this answer",
    ):
        assert fact in page, fact
    html = response.content.decode()
    assert 'href="https://shop.example.com/help/refunds" rel="noopener noreferrer nofollow"' in html
    assert f'id="message-{answer.pk}"' in html
    # The answer is rendered as in the widget: its citation mark "[1]" is a badge.
    assert 'Five working days <span class="gw-ref" aria-label="source 1">1</span>.' in html
    assert f"/app/conversations/answers/{answer.pk}/correct/" in html


def test_everything_visitors_documents_and_models_wrote_is_escaped(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Concierge")
    conversation_id, answer = record_conversation(
        world,
        bot,
        HOSTILE,
        answer='<img src=x onerror="alert(1)">',
        citations=[
            {
                "number": 1,
                "document_id": "not-an-id",
                "title": HOSTILE,
                "source": "javascript:alert(1)",
                "snippet": "<b>bold</b>",
                "score": 0.5,
            }
        ],
        rating=1,
        comment=HOSTILE,
    )
    for path in (
        f"/app/conversations/{conversation_id}/",
        "/app/conversations/",
        f"/app/conversations/answers/{answer.pk}/correct/",
    ):
        html = owner_client.get(path).content.decode()
        assert HOSTILE not in html and "<img src=x" not in html and "<b>bold</b>" not in html, path
        assert 'href="javascript:' not in html, path
    detail = owner_client.get(f"/app/conversations/{conversation_id}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in detail
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail


# --- corrections ------------------------------------------------------------------------------------


def test_correcting_an_answer_adds_a_question_and_answer_document(world: World, owner_client: Client) -> None:
    base = make_knowledge_base(world, "Returns")
    make_knowledge_base(world, "Another")
    bot = make_bot(world, "Concierge", knowledge_base_ids=[base.pk])
    conversation_id, answer = record_conversation(
        world, bot, "Can I return a worn coat?", answer="Yes, always."
    )
    url = f"/app/conversations/answers/{answer.pk}/correct/"

    form = owner_client.get(url)
    assert form.status_code == 200
    html = form.content.decode()
    assert "Can I return a worn coat?</textarea>" in html  # the visitor's question, prefilled
    assert re.search(rf'<option value="{base.pk}" selected>Returns</option>', html)  # the bot's own
    assert "Yes, always." in text_of(form)

    missing = owner_client.post(url, {"knowledge_base": base.pk, "question": "Can I return a worn coat?"})
    assert missing.status_code == 400 and "This field is required." in text_of(missing)

    response = owner_client.post(
        url,
        {
            "knowledge_base": base.pk,
            "question": "Can I return a worn coat?",
            "answer": "Only unworn items with their tags can be returned, within 30 days.",
        },
    )

    with tenant_context(world.tenant.pk):
        document = Document.objects.get()
    assert (document.knowledge_base_id, document.source_type) == (base.pk, "qa")
    assert document.title == "Correction: Can I return a worn coat?"
    assert response.status_code == 302
    assert response["Location"] == (
        f"/app/conversations/{conversation_id}/?corrected={document.pk}#message-{answer.pk}"
    )
    page = owner_client.get(response["Location"])
    assert "Correction added to Returns." in text_of(page)
    assert f'href="/app/knowledge/documents/{document.pk}/"' in page.content.decode()
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="message.corrected").exists()


def test_only_answers_can_be_corrected_and_a_knowledge_base_is_needed(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world)
    _conversation_id, answer = record_conversation(world, bot)
    with tenant_context(world.tenant.pk):
        question = Message.objects.get(role="user")
    assert owner_client.get(f"/app/conversations/answers/{question.pk}/correct/").status_code == 404
    page = text_of(owner_client.get(f"/app/conversations/answers/{answer.pk}/correct/"))
    assert "No knowledge base to add it to" in page


# --- the monthly budget on the Usage page -------------------------------------------------------------


def test_an_admin_sets_the_monthly_budget_and_sees_this_months_spend_against_it(
    world: World, owner_client: Client
) -> None:
    provider_services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref="openai:gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=1000,
        output_tokens=100,
        cost_usd=Decimal("12.50"),
        latency_ms=100,
        time_to_first_token_ms=50,
    )
    before = owner_client.get("/app/usage/")
    # A new organisation starts with the operator's default budget in force, and is told so.
    assert "$12.50 spent this month of $50.00" in text_of(before) and "A budget is in force" in text_of(
        before
    )
    assert 'name="monthly_budget_usd"' in before.content.decode()

    saved = owner_client.post("/app/usage/", {"monthly_budget_usd": "100"})
    assert saved.status_code == 302 and saved["Location"] == "/app/usage/#budget"
    with tenant_context(world.tenant.pk):
        assert TenantModelSettings.objects.get().monthly_budget_usd == Decimal("100")
    page = owner_client.get("/app/usage/")
    text = text_of(page)
    assert "Monthly budget set to $100.00." in text
    assert "$12.50 spent this month of $100.00" in text and "12% used." in text
    assert '<progress class="gw-bar" max="100" value="12"' in page.content.decode()

    negative = owner_client.post("/app/usage/", {"monthly_budget_usd": "-5"})
    assert negative.status_code == 400 and "greater than or equal to 0" in text_of(negative)
    # Emptying the field does not remove the cap by accident: removing it is a choice of its own.
    emptied = owner_client.post("/app/usage/", {"monthly_budget_usd": ""})
    assert emptied.status_code == 400 and "tick “No monthly budget” to remove the cap" in text_of(emptied)
    removed = owner_client.post("/app/usage/", {"monthly_budget_usd": "", "no_budget": "on"})
    assert removed.status_code == 302
    after = text_of(owner_client.get("/app/usage/"))
    assert "Monthly budget removed: spending is not capped." in after and "No budget set" in after

    activity = text_of(owner_client.get("/app/"))  # recent activity, in sentences
    assert "set the monthly budget to $100.00" in activity and "removed the monthly budget" in activity


def test_editors_see_the_budget_but_cannot_change_it(world: World) -> None:
    editor = member_client(world, Role.EDITOR)
    page = editor.get("/app/usage/")
    assert page.status_code == 200 and "Monthly budget" in text_of(page)
    assert 'name="monthly_budget_usd"' not in page.content.decode()
    assert editor.post("/app/usage/", {"monthly_budget_usd": "5"}).status_code == 403


def test_the_audit_log_reads_bot_and_knowledge_actions_as_sentences(
    world: World, owner_client: Client
) -> None:
    base = make_knowledge_base(world, "Returns")
    document = knowledge_services.document_add_text(
        actor=world.actor(), knowledge_base_id=base.pk, text="Returns within 30 days.", title="Policy"
    )
    bot = make_bot(world, "Concierge", knowledge_base_ids=[base.pk])
    services.bot_update(actor=world.actor(), bot_id=bot.pk, status="published")
    services.bot_update(actor=world.actor(), bot_id=bot.pk, name="Front desk")
    services.bot_rotate_publishable_key(actor=world.actor(), bot_id=bot.pk)
    _conversation_id, answer = record_conversation(world, bot)
    chat_services.message_correct_into_knowledge(
        actor=world.actor(), message_id=answer.pk, knowledge_base_id=base.pk, answer="Thirty days."
    )
    knowledge_services.document_delete(actor=world.actor(), document_id=document.pk)
    services.bot_delete(actor=world.actor(), bot_id=bot.pk)

    with tenant_context(world.tenant.pk):
        events = list(AuditEvent.objects.order_by("created_at"))
        # Each event as the audit log and the home page's recent activity tell it (tenants.audit).
        sentences = [entry.sentence for entry in audit_entries(tenant=world.tenant, events=events)]
    activity = " | ".join(sentences)
    for sentence in (
        "created the knowledge base Returns",
        "added the document Policy",
        "created the bot Concierge, answering from Returns",
        "published Concierge",
        "renamed the bot Concierge to Front desk",
        "replaced the widget key of Front desk",
        "corrected a bot's answer into a knowledge base",
        "deleted the document Policy",
        "deleted the bot Front desk",
    ):
        assert sentence in activity, sentence
