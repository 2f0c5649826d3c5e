"""The bots REST API: bots CRUD, chat (plain and streamed, offline and through the OpenAI SDK pointed at
the wire-format stub), conversations with their filters and exports, feedback and corrections; roles,
bad input as problem+json, rate limits and budgets refused before any model is called, and tenant
isolation on every route.

Tests that only read and write through the API use ``db``. Chat tests that stream use Django's
``AsyncClient`` (one event loop, as under ASGI) and committed data (``transactional_db``): the engine's
database work runs in a worker thread with its own connection.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client
from django.utils import timezone

from bots import selectors, services
from bots.chat import selectors as chat_selectors
from bots.chat import services as chat_services
from bots.chat.streaming import EventStreamResponse
from bots.models import Bot, Conversation, Message
from core.clock import ManualClock
from knowledge.models import Document
from providers import services as provider_services
from providers.models import TenantModelSettings, UsageRecord
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot, record_turn
from tests.bots.helpers import REFUNDS, messages_of, sse_events, streamed_body
from tests.clients import api_client, assert_problem, patch_json, post_json
from tests.knowledge.factories import ingested_knowledge_base, make_knowledge_base
from tests.providers.factories import use_openai
from tests.providers.helpers import OPENAI_MODEL
from tests.stubs import Fault
from tests.stubs.openai_stub import OpenAIStub
from tests.stubs.openai_stub import model_version as openai_version
from tests.tenants.factories import World, make_world

STUB_ANSWER = "Card refunds take five working days [1]."


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def offline(offline_models: None, generous_rates: None, close_connections: None, settings: Any) -> None:
    """No test reaches the internet, and a failing model call is not retried."""
    settings.MODEL_CALL_MAX_RETRIES = 0
    settings.MODEL_CALL_TIMEOUT_SECONDS = 10.0


@pytest.fixture
def openai_stub(openai_stub: OpenAIStub) -> OpenAIStub:
    openai_stub.answers["gpt-4o-mini"] = STUB_ANSWER
    return openai_stub


BOT_OUTPUT_FIELDS = {
    *services.BOT_FIELDS,
    "id",
    "slug",
    "knowledge_bases",
    "publishable_key",
    "identity_verification",
    "created_at",
    "updated_at",
}


# --- bots -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bot_created_with_only_a_name_answers_with_the_defaults(world: World, editor: Client) -> None:
    base = make_knowledge_base(world)

    response = post_json(editor, "/api/v1/bots", {"name": "Support desk", "knowledge_bases": [str(base.pk)]})

    assert response.status_code == 201, response.content
    bot = response.json()
    assert set(bot) == BOT_OUTPUT_FIELDS
    assert response["Location"] == f"/api/v1/bots/{bot['id']}"
    assert bot["slug"] == "support-desk"
    assert bot["chat_model"] == "local:no-llm"
    assert bot["answer_policy"] == "strict" and bot["show_citations"] is True
    assert bot["status"] == "draft"
    assert bot["knowledge_bases"] == [{"id": str(base.pk), "name": "Help centre"}]
    assert bot["publishable_key"].startswith("gw_pk_")
    assert bot["greeting"]  # a default greeting is written
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="bot.created", target_id=str(bot["id"])).exists()


@pytest.mark.django_db
def test_every_setting_can_be_given_at_creation(world: World, editor: Client) -> None:
    first, second = make_knowledge_base(world, "Manuals"), make_knowledge_base(world, "Policies")
    settings = {
        "avatar": "🤖",
        "description": "Answers shoppers.",
        "instructions": "Be brief. Never discuss competitors.",
        "greeting": "Hello!",
        "suggested_questions": ["Where is my order?", "How do refunds work?"],
        "chat_model": "local:no-llm",
        "fallback_model": "",
        "temperature": 0.7,
        "max_output_tokens": 400,
        "retrieval_top_k": 8,
        "retrieval_score_threshold": 0.25,
        "retrieval_mode": "vector",
        "answer_policy": "open",
        "handoff_message": "Please email help@example.com.",
        "show_citations": False,
        "rewrite_follow_ups": False,
        "language": "German",
        "status": "published",
        "allowed_origins": ["https://shop.example.com/", "https://shop.example.com"],
        "daily_budget_usd": "2.50",
        "allow_any_origin": False,
        "widget_title": "Ask Acme",
        "widget_color": "#0F766E",
        "widget_position": "left",
        "widget_icon": "help",
    }
    assert set(settings) | {"name"} == set(services.BOT_FIELDS)

    response = post_json(
        editor,
        "/api/v1/bots",
        {"name": "Shop", "knowledge_bases": [str(second.pk), str(first.pk)], **settings},
    )

    assert response.status_code == 201, response.content
    bot = response.json()
    expected = {**settings, "allowed_origins": ["https://shop.example.com"], "widget_color": "#0f766e"}
    assert {name: bot[name] for name in settings} == expected
    assert [base["name"] for base in bot["knowledge_bases"]] == ["Policies", "Manuals"]  # order kept


@pytest.mark.django_db
def test_bots_are_listed_with_cursor_pagination(world: World, viewer: Client) -> None:
    for name in ("Alpha", "Bravo", "Charlie"):
        make_bot(world, name)

    first = viewer.get("/api/v1/bots?page_size=2").json()
    second = viewer.get(first["next"]).json()

    assert [bot["name"] for bot in first["results"]] == ["Charlie", "Bravo"]  # newest first
    assert [bot["name"] for bot in second["results"]] == ["Alpha"]
    assert second["next"] is None
    assert set(first["results"][0]) == BOT_OUTPUT_FIELDS


@pytest.mark.django_db
def test_a_bot_is_found_by_id_or_slug(world: World, viewer: Client) -> None:
    bot = make_bot(world, "Returns helper")

    by_id = viewer.get(f"/api/v1/bots/{bot.pk}")
    by_slug = viewer.get("/api/v1/bots/returns-helper")

    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json()
    assert_problem(viewer.get("/api/v1/bots/no-such-bot"), 404)
    assert_problem(viewer.get(f"/api/v1/bots/{uuid.uuid4()}"), 404)


@pytest.mark.django_db
def test_patch_changes_what_it_sends_and_a_new_name_keeps_the_slug(world: World, editor: Client) -> None:
    first, second = make_knowledge_base(world, "Manuals"), make_knowledge_base(world, "Policies")
    bot = make_bot(world, "Helper", knowledge_base_ids=[first.pk], instructions="Be brief.")

    response = patch_json(
        editor,
        f"/api/v1/bots/{bot.pk}",
        {"name": "Shop helper", "temperature": 0.5, "knowledge_bases": [str(second.pk)]},
    )

    assert response.status_code == 200, response.content
    changed = response.json()
    # Clients of the OpenAI-compatible endpoint name the bot by its slug: a rename must not break them.
    assert (changed["name"], changed["slug"], changed["temperature"]) == ("Shop helper", "helper", 0.5)
    assert changed["instructions"] == "Be brief."  # not sent, not changed
    assert changed["knowledge_bases"] == [{"id": str(second.pk), "name": "Policies"}]
    cleared = patch_json(editor, f"/api/v1/bots/{bot.pk}", {"knowledge_bases": []}).json()
    assert cleared["knowledge_bases"] == []
    assert patch_json(editor, "/api/v1/bots/helper", {"daily_budget_usd": None}).status_code == 200


@pytest.mark.django_db
def test_deleting_a_bot_removes_its_conversations(world: World, editor: Client) -> None:
    bot = make_bot(world)
    conversation, _ = record_turn(world, bot, "Hi?", "Hello.")

    assert editor.delete(f"/api/v1/bots/{bot.pk}").status_code == 204

    assert_problem(editor.get(f"/api/v1/bots/{bot.pk}"), 404)
    assert_problem(editor.get(f"/api/v1/conversations/{conversation.pk}"), 404)
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="bot.deleted").exists()


@pytest.mark.django_db
def test_rotating_the_publishable_key_replaces_it(world: World, editor: Client) -> None:
    bot = make_bot(world)

    response = editor.post(f"/api/v1/bots/{bot.pk}/rotate-key")

    assert response.status_code == 200
    assert response.json()["publishable_key"] not in ("", bot.publishable_key)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "B", "colour": "red"}, "colour"),
        ({"name": "B", "temperature": 2.5}, "temperature"),
        ({"name": "B", "max_output_tokens": 4}, "max_output_tokens"),
        ({"name": "B", "retrieval_top_k": 0}, "retrieval_top_k"),
        ({"name": "B", "retrieval_score_threshold": 1.5}, "retrieval_score_threshold"),
        ({"name": "B", "retrieval_mode": "magic"}, "retrieval_mode"),
        ({"name": "B", "answer_policy": "lenient"}, "answer_policy"),
        ({"name": "B", "status": "archived"}, "status"),
        ({"name": "B", "chat_model": "openai:gpt-4o-mini"}, "chat_model"),  # not enabled
        ({"name": "B", "chat_model": "nobody:nothing"}, "chat_model"),
        ({"name": "B", "chat_model": "local:all-MiniLM-L6-v2"}, "chat_model"),  # an embedding model
        ({"name": "B", "fallback_model": "local:no-llm"}, "fallback_model"),  # the same as the main one
        ({"name": "B", "allowed_origins": ["shop.example.com/path"]}, "allowed_origins"),
        ({"name": "B", "suggested_questions": ["q"] * 7}, "suggested_questions"),
        ({"name": "B", "daily_budget_usd": "-1"}, "daily_budget_usd"),
        ({"name": "B", "knowledge_bases": [str(uuid.uuid4())]}, "knowledge_bases"),
        ({"name": "B", "knowledge_bases": ["not-an-id"]}, "knowledge_bases"),
    ],
)
def test_bad_bot_settings_are_a_400_problem_naming_the_field(
    world: World, editor: Client, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(post_json(editor, "/api/v1/bots", body), 400)

    assert field in problem["errors"], problem
    with tenant_context(world.tenant.pk):
        assert not Bot.objects.exists()


@pytest.mark.django_db
def test_another_tenants_knowledge_base_cannot_be_attached(
    world: World, other_world: World, editor: Client
) -> None:
    theirs = make_knowledge_base(other_world, "Secrets")
    bot = make_bot(world)

    created = post_json(editor, "/api/v1/bots", {"name": "B", "knowledge_bases": [str(theirs.pk)]})
    patched = patch_json(editor, f"/api/v1/bots/{bot.pk}", {"knowledge_bases": [str(theirs.pk)]})

    assert assert_problem(created, 400)["errors"] == {
        "knowledge_bases": [f"No such knowledge base: {theirs.pk}."]
    }
    assert "knowledge_bases" in assert_problem(patched, 400)["errors"]
    with tenant_context(world.tenant.pk):
        assert selectors.bot_knowledge_bases(tenant=world.tenant, bot=bot) == []


@pytest.mark.django_db
def test_a_second_bot_with_the_same_name_is_a_409(world: World, editor: Client) -> None:
    make_bot(world, "Helper")

    problem = assert_problem(post_json(editor, "/api/v1/bots", {"name": "Helper"}), 409)

    assert problem["errors"] == {"name": ["Already used."]}


@pytest.mark.django_db
def test_viewers_read_bots_but_cannot_change_them(world: World, viewer: Client) -> None:
    bot = make_bot(world)

    assert viewer.get("/api/v1/bots").status_code == 200
    assert viewer.get(f"/api/v1/bots/{bot.pk}").status_code == 200
    assert_problem(post_json(viewer, "/api/v1/bots", {"name": "Mine"}), 403)
    assert_problem(patch_json(viewer, f"/api/v1/bots/{bot.pk}", {"name": "Mine"}), 403)
    assert_problem(viewer.post(f"/api/v1/bots/{bot.pk}/rotate-key"), 403)
    assert_problem(viewer.delete(f"/api/v1/bots/{bot.pk}"), 403)
    with tenant_context(world.tenant.pk):
        unchanged = Bot.objects.get()
    assert (unchanged.name, unchanged.publishable_key) == (bot.name, bot.publishable_key)


@pytest.mark.django_db
def test_another_tenants_bots_conversations_and_messages_are_404_on_every_route(
    world: World, other_world: World
) -> None:
    admin = api_client(world.api_key(role=Role.ADMIN)[1])
    theirs = make_bot(other_world, "Their bot")
    base = make_knowledge_base(world)
    conversation, answer = record_turn(other_world, theirs, "Secret question?", "Secret answer.")

    for path in (f"/api/v1/bots/{theirs.pk}", "/api/v1/bots/their-bot"):
        assert_problem(admin.get(path), 404)
        assert_problem(patch_json(admin, path, {"name": "Taken"}), 404)
        assert_problem(admin.post(f"{path}/rotate-key"), 404)
        assert_problem(post_json(admin, f"{path}/chat", {"message": "Hi?"}), 404)
        assert_problem(admin.delete(path), 404)
    assert_problem(admin.get(f"/api/v1/conversations/{conversation.pk}"), 404)
    assert_problem(post_json(admin, f"/api/v1/messages/{answer.pk}/feedback", {"rating": 1}), 404)
    correction = {"knowledge_base_id": str(base.pk), "answer": "Mine now."}
    assert_problem(post_json(admin, f"/api/v1/messages/{answer.pk}/correction", correction), 404)
    assert admin.get(f"/api/v1/conversations?bot={theirs.pk}").status_code == 400
    assert admin.get("/api/v1/conversations").json()["results"] == []
    with tenant_context(other_world.tenant.pk):
        assert Bot.objects.get().name == "Their bot"
        assert Message.objects.get(pk=answer.pk).rating is None


@pytest.mark.django_db
def test_requests_without_a_key_are_401_problems(world: World) -> None:
    bot = make_bot(world)
    anonymous = Client()

    for response in (
        anonymous.get("/api/v1/bots"),
        post_json(anonymous, f"/api/v1/bots/{bot.pk}/chat", {"message": "Hi?"}),
        post_json(anonymous, "/api/v1/chat/completions", {"model": bot.slug, "messages": []}),
        api_client("gw_sk_not-a-real-key").post(f"/api/v1/bots/{bot.pk}/chat"),
    ):
        assert_problem(response, 401)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- chat: refused before it starts ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({"message": "Hi?", "mood": "happy"}, "mood"),
        ({"message": "Hi?", "conversation_id": "42"}, "conversation_id"),
        ({"message": "Hi?", "stream": "sometimes"}, "stream"),
        ([{"message": "Hi?"}], None),
    ],
)
def test_bad_chat_requests_are_400_problems_and_store_nothing(
    world: World, viewer: Client, body: Any, field: str | None
) -> None:
    bot = make_bot(world)

    problem = assert_problem(post_json(viewer, f"/api/v1/bots/{bot.pk}/chat", body), 400)

    if field:
        assert field in problem["errors"], problem
    with tenant_context(world.tenant.pk):
        assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_chat_refuses_other_methods_bodies_and_sizes_as_problems(
    world: World, viewer: Client, settings: Any
) -> None:
    bot = make_bot(world)
    path = f"/api/v1/bots/{bot.pk}/chat"

    not_allowed = assert_problem(viewer.get(path), 405)
    assert viewer.get(path)["Allow"] == "POST"
    assert not_allowed["detail"] == 'Method "GET" not allowed.'
    assert_problem(viewer.post(path, "message=Hi", content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(viewer.post(path, "{not json", content_type="application/json"), 400)
    settings.API_MAX_BODY_BYTES = 100
    assert_problem(post_json(viewer, path, {"message": "x" * 200}), 413)


@pytest.mark.django_db
def test_a_conversation_of_another_bot_cannot_be_continued(world: World, viewer: Client) -> None:
    bot, other = make_bot(world, "One"), make_bot(world, "Two")
    conversation, _ = record_turn(world, other, "Hi?", "Hello.")

    response = post_json(
        viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "Hi?", "conversation_id": str(conversation.pk)}
    )

    assert_problem(response, 404)
    assert len(messages_of(world, conversation.pk)) == 2


# --- chat: answers --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_offline_bot_answers_with_citations_and_a_follow_up_continues_the_conversation() -> None:
    world = make_world()
    base = ingested_knowledge_base(world, REFUNDS)
    bot = make_bot(world, knowledge_base_ids=[base.pk])
    viewer = api_client(world.api_key(role=Role.VIEWER)[1])

    response = post_json(viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "How long do card refunds take?"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "conversation_id",
        "message_id",
        "answer",
        "outcome",
        "citations",
        "usage",
        "latency_ms",
        "time_to_first_token_ms",
        "model_version",
    }
    assert body["outcome"] == "answered"
    assert "five working days" in body["answer"]
    assert body["citations"] and body["citations"][0]["number"] == 1
    assert "five working days" in body["citations"][0]["snippet"]
    assert set(body["usage"]) == {"input_tokens", "output_tokens", "cost_usd"}
    assert Decimal(body["usage"]["cost_usd"]) == 0  # the built-in models cost nothing
    assert body["latency_ms"] >= body["time_to_first_token_ms"] >= 0
    question, answer = messages_of(world, body["conversation_id"])
    assert (question.role, question.content) == ("user", "How long do card refunds take?")
    assert (str(answer.pk), answer.content, answer.outcome) == (
        body["message_id"],
        body["answer"],
        "answered",
    )
    assert answer.citations == body["citations"]
    with tenant_context(world.tenant.pk):
        assert Conversation.objects.get().channel == "api"

    follow_up = post_json(
        viewer,
        f"/api/v1/bots/{bot.slug}/chat",
        {"message": "And exchanges?", "conversation_id": body["conversation_id"]},
    ).json()

    assert follow_up["conversation_id"] == body["conversation_id"]
    assert len(messages_of(world, body["conversation_id"])) == 4


@pytest.mark.django_db(transaction=True)
def test_a_strict_bot_with_nothing_relevant_answers_with_its_handoff_message() -> None:
    world = make_world()
    bot = make_bot(world, handoff_message="Please email help@example.com.")
    viewer = api_client(world.api_key(role=Role.VIEWER)[1])

    body = post_json(
        viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "What is the meaning of life?"}
    ).json()

    assert (body["outcome"], body["answer"], body["citations"]) == (
        "no_answer",
        "Please email help@example.com.",
        [],
    )


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_the_offline_bot_streams_start_sources_tokens_and_done() -> None:
    world = await sync_to_async(make_world)()
    base = await sync_to_async(ingested_knowledge_base)(world, REFUNDS)
    bot = await sync_to_async(make_bot)(world, knowledge_base_ids=[base.pk])
    secret = (await sync_to_async(world.api_key)(Role.VIEWER))[1]
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {secret}"}

    response = await client.post(
        f"/api/v1/bots/{bot.pk}/chat",
        {"message": "How long do card refunds take?", "stream": True},
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    events = sse_events(await streamed_body(response))
    names = [name for name, _ in events]
    assert names[:2] == ["start", "sources"] and names[-1] == "done"
    assert set(names[2:-1]) == {"token"} and len(names) > 4  # the answer arrives in pieces
    start, sources, done = events[0][1], events[1][1], events[-1][1]
    assert "five working days" in sources["citations"][0]["snippet"]
    answer = "".join(data["text"] for name, data in events if name == "token")
    assert done["answer"] == answer and done["outcome"] == "answered"
    assert done["citations"] == sources["citations"]
    assert done["conversation_id"] == start["conversation_id"]
    stored = await sync_to_async(messages_of)(world, start["conversation_id"])
    assert [str(message.pk) for message in stored] == [start["question_id"], done["message_id"]]
    assert stored[1].content == answer


@pytest.mark.django_db(transaction=True)
def test_a_sync_server_receives_the_whole_event_stream_at_once() -> None:
    """Under WSGI (here Django's sync test client) a response is iterated on another event loop than the
    view's; the turn is then run to its end before the response, instead of being cut after ``start``."""
    world = make_world()
    bot = make_bot(world, handoff_message="Please email help@example.com.")
    viewer = api_client(world.api_key(role=Role.VIEWER)[1])

    response = post_json(viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "Anything?", "stream": True})

    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    events = sse_events(b"".join(response.streaming_content))
    assert [name for name, _ in events] == ["start", "sources", "token", "done"]
    assert events[-1][1]["answer"] == "Please email help@example.com."
    stored = messages_of(world, events[0][1]["conversation_id"])
    assert [message.outcome for message in stored] == ["", "no_answer"]


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_a_bot_on_openai_streams_the_models_answer_through_the_sdk(openai_stub: OpenAIStub) -> None:
    world = await sync_to_async(make_world)()
    await sync_to_async(use_openai)(world)
    base = await sync_to_async(ingested_knowledge_base)(world, REFUNDS)
    bot = await sync_to_async(make_bot)(world, chat_model=OPENAI_MODEL, knowledge_base_ids=[base.pk])
    secret = (await sync_to_async(world.api_key)(Role.VIEWER))[1]
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {secret}"}

    response = await client.post(
        f"/api/v1/bots/{bot.pk}/chat",
        {"message": "How long do card refunds take?", "stream": True},
        content_type="application/json",
        headers=auth,
    )

    events = sse_events(await streamed_body(response))
    tokens = [data["text"] for name, data in events if name == "token"]
    assert "".join(tokens) == STUB_ANSWER and len(tokens) == len(STUB_ANSWER.split())
    done = events[-1][1]
    assert events[-1][0] == "done" and done["answer"] == STUB_ANSWER
    assert done["model_version"] == openai_version("gpt-4o-mini")
    assert done["usage"]["output_tokens"] == len(STUB_ANSWER.split()) and done["usage"]["input_tokens"] > 0
    assert Decimal(done["usage"]["cost_usd"]) > 0
    assert done["citations"] and done["citations"][0]["title"]
    (request,) = openai_stub.requests_to("/v1/chat/completions")
    assert request.body["stream"] is True
    assert "five working days" in request.body["messages"][-1]["content"]  # the passage reached the model


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_a_model_failure_after_the_start_is_an_error_event_and_a_stored_error(
    openai_stub: OpenAIStub,
) -> None:
    world = await sync_to_async(make_world)()
    await sync_to_async(use_openai)(world)
    bot = await sync_to_async(make_bot)(world, chat_model=OPENAI_MODEL, answer_policy="open")
    secret = (await sync_to_async(world.api_key)(Role.VIEWER))[1]
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {secret}"}
    openai_stub.add_faults(Fault.error_event(after_events=3))

    response = await client.post(
        f"/api/v1/bots/{bot.pk}/chat",
        {"message": "Hi?", "stream": True},
        content_type="application/json",
        headers=auth,
    )

    events = sse_events(await streamed_body(response))
    assert [name for name, _ in events][:2] == ["start", "sources"]
    assert [name for name, _ in events][-1] == "error"
    error = events[-1][1]
    assert error["status"] in (502, 503) and error["title"] and error["detail"]
    stored = await sync_to_async(messages_of)(world, events[0][1]["conversation_id"])
    assert stored[-1].outcome == "error" and stored[-1].error_message


@pytest.mark.django_db(transaction=True)
def test_a_model_failure_without_streaming_is_a_problem_naming_the_conversation(
    openai_stub: OpenAIStub,
) -> None:
    world = make_world()
    use_openai(world)
    bot = make_bot(world, chat_model=OPENAI_MODEL, answer_policy="open")
    viewer = api_client(world.api_key(role=Role.VIEWER)[1])
    openai_stub.add_faults(Fault.http(500))

    response = post_json(viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "Hi?"})

    problem = assert_problem(response, 503)
    stored = messages_of(world, problem["conversation_id"])
    assert [message.outcome for message in stored] == ["", "error"]


@pytest.mark.anyio
async def test_closing_an_event_stream_response_closes_the_events_behind_it() -> None:
    """Django closes the iterator it consumes (the response's), not the one behind it; a client leaving
    while an event is being sent must still close the engine's generator, hence the model's stream."""
    closed: list[bool] = []

    async def events() -> AsyncIterator[str]:
        try:
            yield "event: start\n\n"
            yield "event: token\n\n"
        finally:
            closed.append(True)

    parts = aiter(EventStreamResponse(events()))
    assert await anext(parts) == b"event: start\n\n"
    await parts.aclose()  # what Django's ASGI handler does when the client has gone

    assert closed == [True]


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_chats_against_a_limit_of_ten_get_at_most_ten_answers(
    settings: Any, clock: ManualClock
) -> None:
    """Fixed windows of a minute: the clock stands still at the start of one, so that no boundary
    doubles the allowance."""
    settings.CHAT_RATE_PER_BOT = "10/minute"
    world = make_world()
    bot = make_bot(world)
    secret = world.api_key(role=Role.VIEWER)[1]
    responses: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(50)

    def ask() -> None:
        client = api_client(secret)
        barrier.wait()
        try:
            response = post_json(client, f"/api/v1/bots/{bot.pk}/chat", {"message": "Hi?"})
            with lock:
                responses.append(response)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(responses) == 50
    answered = [response for response in responses if response.status_code == 200]
    refused = [response for response in responses if response.status_code != 200]
    assert len(answered) == 10  # all fifty inside one window (see above): exactly the limit got through
    for response in refused:
        problem = assert_problem(response, 429)
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "too many questions" in problem["detail"]
    with tenant_context(world.tenant.pk):
        assert Conversation.objects.count() == len(answered)  # refused requests store nothing


@pytest.mark.django_db
def test_a_spent_monthly_budget_is_a_429_before_any_model_is_called(
    world: World, viewer: Client, openai_stub: OpenAIStub
) -> None:
    use_openai(world)
    bot = make_bot(world, chat_model=OPENAI_MODEL, answer_policy="open")
    with tenant_context(world.tenant.pk):
        TenantModelSettings.objects.filter(tenant=world.tenant).update(monthly_budget_usd=Decimal("0.01"))
    provider_services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref=OPENAI_MODEL,
        provider="openai",
        operation="chat",
        input_tokens=10_000,
        output_tokens=1_000,
        cost_usd=Decimal("0.02"),
        latency_ms=900,
        time_to_first_token_ms=300,
    )

    for stream in (False, True):
        response = post_json(viewer, f"/api/v1/bots/{bot.pk}/chat", {"message": "Hi?", "stream": stream})
        problem = assert_problem(response, 429)
        assert "monthly budget" in problem["detail"]

    assert openai_stub.requests == []
    with tenant_context(world.tenant.pk):
        assert not Conversation.objects.exists()
        assert UsageRecord.objects.count() == 1


# --- conversations --------------------------------------------------------------------------------------


@pytest.fixture
def conversations(world: World) -> dict[str, Any]:
    """Two bots, four conversations on two channels: rated, unanswered, old, recent."""
    shop, docs = make_bot(world, "Shop"), make_bot(world, "Docs")
    rated, rated_answer = record_turn(world, shop, "Where is my parcel?", "On its way.")
    chat_services.message_rate(actor=world.actor(), message_id=rated_answer.pk, rating=1)
    disliked, disliked_answer = record_turn(world, shop, "Refund?", "No idea.", channel="openai")
    chat_services.message_rate(
        actor=world.actor(), message_id=disliked_answer.pk, rating=-1, comment="Useless"
    )
    unanswered, _ = record_turn(world, docs, "Meaning of life?", "Ask support.", outcome="no_answer")
    old, _ = record_turn(world, docs, '=HYPERLINK("http://evil.test")', "- a list item")
    with tenant_context(world.tenant.pk):
        Conversation.objects.filter(pk=old.pk).update(last_message_at=timezone.now() - timedelta(days=40))
    return {
        "shop": shop,
        "docs": docs,
        "rated": rated,
        "disliked": disliked,
        "unanswered": unanswered,
        "old": old,
    }


def listed(client: Client, query: str = "") -> set[str]:
    response = client.get(f"/api/v1/conversations{query}")
    assert response.status_code == 200, response.content
    return {conversation["id"] for conversation in response.json()["results"]}


@pytest.mark.django_db
def test_conversations_are_listed_and_filtered(viewer: Client, conversations: dict[str, Any]) -> None:
    ids = {name: str(value.pk) for name, value in conversations.items() if isinstance(value, Conversation)}
    today = timezone.now().date()

    assert listed(viewer) == set(ids.values())
    assert listed(viewer, f"?bot={conversations['shop'].pk}") == {ids["rated"], ids["disliked"]}
    assert listed(viewer, "?bot=docs") == {ids["unanswered"], ids["old"]}  # a slug works too
    assert listed(viewer, "?rating=1") == {ids["rated"]}
    assert listed(viewer, "?rating=-1") == {ids["disliked"]}
    assert listed(viewer, "?unanswered=true") == {ids["unanswered"]}
    assert listed(viewer, "?channel=openai") == {ids["disliked"]}
    assert listed(viewer, f"?since={today}") == {ids["rated"], ids["disliked"], ids["unanswered"]}
    assert listed(viewer, f"?until={today - timedelta(days=30)}") == {ids["old"]}
    assert listed(viewer, f"?bot=shop&rating=-1&since={today}&until={today}") == {ids["disliked"]}
    page = viewer.get("/api/v1/conversations?page_size=3").json()
    assert len(page["results"]) == 3 and page["next"]
    first = page["results"][0]
    assert set(first) == {
        "id",
        "bot",
        "channel",
        "title",
        "visitor_id",
        "message_count",
        "unanswered_count",
        "cost_usd",
        "created_at",
        "last_message_at",
    }
    assert set(first["bot"]) == {"id", "name", "slug"} and first["message_count"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["?rating=2", "?unanswered=perhaps", "?channel=fax", "?since=yesterday", "?bot=nobody", "?colour=red",
     "?since=2026-02-02&until=2026-01-01"],
)  # fmt: skip
def test_bad_conversation_filters_are_400_problems(
    viewer: Client, conversations: dict[str, Any], query: str
) -> None:
    assert_problem(viewer.get(f"/api/v1/conversations{query}"), 400)
    assert_problem(viewer.get(f"/api/v1/conversations/export{query}"), 400)


@pytest.mark.django_db
def test_a_conversation_is_shown_with_its_messages(viewer: Client, world: World) -> None:
    bot = make_bot(world)
    citation = {
        "number": 1,
        "chunk_id": str(uuid.uuid4()),
        "document_id": str(uuid.uuid4()),
        "title": "Refunds",
        "source": "refunds.md",
        "page_number": None,
        "anchor": "#refunds",
        "snippet": "Refunds take five days.",
        "score": 0.8,
    }
    conversation, answer = record_turn(world, bot, "Refunds?", "Five days [1].", citations=[citation])

    body = viewer.get(f"/api/v1/conversations/{conversation.pk}").json()

    assert body["id"] == str(conversation.pk) and body["bot"]["slug"] == bot.slug
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "Refunds?"),
        ("assistant", "Five days [1]."),
    ]
    assert body["messages"][1]["id"] == str(answer.pk)
    assert body["messages"][1]["citations"] == [citation]
    assert_problem(viewer.get(f"/api/v1/conversations/{uuid.uuid4()}"), 404)


@pytest.mark.django_db
def test_conversations_export_as_csv_with_formulas_defused(
    viewer: Client, conversations: dict[str, Any]
) -> None:
    response = viewer.get("/api/v1/conversations/export?format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == chat_selectors.EXPORT_FIELDS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == 8  # four conversations of a question and an answer
    contents = {record["content"] for record in records}
    assert '\'=HYPERLINK("http://evil.test")' in contents and "'- a list item" in contents
    disliked = next(record for record in records if record["feedback_comment"] == "Useless")
    assert disliked["rating"] == "-1" and disliked["bot"] == "Shop" and disliked["channel"] == "openai"

    filtered = viewer.get(
        f"/api/v1/conversations/export?format=csv&bot={conversations['docs'].pk}&unanswered=true"
    )
    filtered_rows = list(csv.reader(io.StringIO(b"".join(filtered.streaming_content).decode())))
    assert [row[5] for row in filtered_rows[1:]] == ["user", "assistant"]
    assert filtered_rows[1][0] == str(conversations["unanswered"].pk)


@pytest.mark.django_db
def test_conversations_export_as_json_lines(viewer: Client, conversations: dict[str, Any]) -> None:
    response = viewer.get("/api/v1/conversations/export?format=jsonl&channel=openai")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["role"] for record in records] == ["user", "assistant"]
    assert set(records[0]) == set(chat_selectors.EXPORT_FIELDS)
    assert records[1]["rating"] == -1 and records[1]["content"] == "No idea."  # raw values in JSON
    assert all(record["conversation_id"] == str(conversations["disliked"].pk) for record in records)
    assert_problem(viewer.get("/api/v1/conversations/export?format=xlsx"), 400)


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_the_export_streams_under_asgi_in_its_own_tenant_scoped_transaction() -> None:
    world = await sync_to_async(make_world)()
    bot = await sync_to_async(make_bot)(world)
    for number in range(3):
        await sync_to_async(record_turn)(world, bot, f"Question {number}?", f"Answer {number}.")
    other = await sync_to_async(make_world)("Globex")
    await sync_to_async(record_turn)(other, await sync_to_async(make_bot)(other), "Theirs?", "Theirs.")
    secret = (await sync_to_async(world.api_key)(Role.VIEWER))[1]
    client = AsyncClient()
    auth = {"Authorization": f"Bearer {secret}"}

    response = await client.get("/api/v1/conversations/export?format=jsonl", headers=auth)

    assert response.status_code == 200 and response.is_async
    records = [json.loads(line) for line in (await streamed_body(response)).decode().splitlines()]
    assert len(records) == 6
    assert "Theirs?" not in {record["content"] for record in records}


# --- feedback and corrections ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_viewers_rate_answers_and_rating_again_replaces_it(world: World, viewer: Client) -> None:
    bot = make_bot(world)
    conversation, answer = record_turn(world, bot, "Refunds?", "Five days.")
    question = messages_of(world, conversation.pk)[0]
    path = f"/api/v1/messages/{answer.pk}/feedback"

    first = post_json(viewer, path, {"rating": -1, "comment": "Too vague."})
    second = post_json(viewer, path, {"rating": 1})

    assert first.status_code == 200 and first.json()["rating"] == -1
    assert first.json()["feedback_comment"] == "Too vague."
    assert (second.json()["rating"], second.json()["feedback_comment"]) == (1, "")
    with tenant_context(world.tenant.pk):
        assert Message.objects.get(pk=answer.pk).rating == 1
    assert "rating" in assert_problem(post_json(viewer, path, {"rating": 5}), 400)["errors"]
    assert "rating" in assert_problem(post_json(viewer, path, {}), 400)["errors"]
    assert "extra" in assert_problem(post_json(viewer, path, {"rating": 1, "extra": 1}), 400)["errors"]
    user_message = post_json(viewer, f"/api/v1/messages/{question.pk}/feedback", {"rating": 1})
    assert "message" in assert_problem(user_message, 400)["errors"]
    assert_problem(post_json(viewer, f"/api/v1/messages/{uuid.uuid4()}/feedback", {"rating": 1}), 404)


@pytest.mark.django_db
def test_a_correction_becomes_a_qa_document_in_a_knowledge_base(world: World, editor: Client) -> None:
    base = make_knowledge_base(world)
    bot = make_bot(world)
    _, answer = record_turn(world, bot, "How long do refunds take?", "I am not sure.")

    response = post_json(
        editor,
        f"/api/v1/messages/{answer.pk}/correction",
        {"knowledge_base_id": str(base.pk), "answer": "Five working days after we receive the item."},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"document_id", "knowledge_base_id", "title", "status"}
    assert body["knowledge_base_id"] == str(base.pk) and body["status"] == "queued"
    assert response["Location"] == f"/api/v1/knowledge-bases/{base.pk}/documents/{body['document_id']}"
    with tenant_context(world.tenant.pk):
        document = Document.objects.get(pk=body["document_id"])
        assert AuditEvent.objects.filter(action="message.corrected").exists()
    assert document.source_type == "qa" and document.title == "Correction: How long do refunds take?"
    assert json.loads(document.source_text) == [
        {"question": "How long do refunds take?", "answer": "Five working days after we receive the item."}
    ]


@pytest.mark.django_db
def test_corrections_need_an_editor_and_a_knowledge_base_of_ones_own(
    world: World, other_world: World, editor: Client, viewer: Client
) -> None:
    base, theirs = make_knowledge_base(world), make_knowledge_base(other_world, "Theirs")
    bot = make_bot(world)
    conversation, answer = record_turn(world, bot, "Refunds?", "Unsure.")
    question = messages_of(world, conversation.pk)[0]
    path = f"/api/v1/messages/{answer.pk}/correction"

    assert_problem(post_json(viewer, path, {"knowledge_base_id": str(base.pk), "answer": "Five days."}), 403)
    foreign = post_json(editor, path, {"knowledge_base_id": str(theirs.pk), "answer": "Five days."})
    assert assert_problem(foreign, 400)["errors"] == {"knowledge_base_id": ["No such knowledge base."]}
    assert (
        "answer"
        in assert_problem(post_json(editor, path, {"knowledge_base_id": str(base.pk)}), 400)["errors"]
    )
    on_question = post_json(
        editor,
        f"/api/v1/messages/{question.pk}/correction",
        {"knowledge_base_id": str(base.pk), "answer": "Five days."},
    )
    assert "message" in assert_problem(on_question, 400)["errors"]
    with tenant_context(world.tenant.pk):
        assert not Document.objects.exists()
    with tenant_context(other_world.tenant.pk):
        assert not Document.objects.exists()


# --- schema ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_schema_documents_every_bots_endpoint_without_generator_warnings() -> None:
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    mine = [
        message
        for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        if any(word in message.lower() for word in ("bot", "chat", "conversation", "message", "model"))
    ]
    GENERATOR_STATS.reset()
    assert mine == []
    paths = response.json()["paths"]
    expected = {
        "/api/v1/bots": {"get", "post"},
        "/api/v1/bots/{id}": {"get", "patch", "delete"},
        "/api/v1/bots/{id}/rotate-key": {"post"},
        "/api/v1/bots/{id}/chat": {"post"},
        "/api/v1/conversations": {"get"},
        "/api/v1/conversations/export": {"get"},
        "/api/v1/conversations/{id}": {"get"},
        "/api/v1/messages/{id}/feedback": {"post"},
        "/api/v1/messages/{id}/correction": {"post"},
        "/api/v1/models": {"get"},
        "/api/v1/models/{model}": {"get"},
        "/api/v1/chat/completions": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) - {"parameters"} == methods, path
    chat = paths["/api/v1/bots/{id}/chat"]["post"]
    assert {"ApiKey": []} in chat["security"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    completions = paths["/api/v1/chat/completions"]["post"]
    assert completions["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionInput"
    }
