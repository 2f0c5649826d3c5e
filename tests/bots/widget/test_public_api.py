"""The widget's public API (``/public/v1/bots/{key}/...``) and its loader (``/widget.js``).

What a page on someone's website, a visitor and a non-browser client can and cannot do with a publishable
key: origins checked on the server (deny by default, CORS headers only for allowed origins), drafts
refused outside the tenant's preview, sessions signed for one bot and one visitor, identity verification
by HMAC, rate limits per address, visitor and bot, and nothing of the tenant's costs or models in what a
visitor receives.
"""

from __future__ import annotations

import gzip
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from bots import services
from bots.models import Bot, Conversation, Message
from bots.widget import api as widget_api
from bots.widget import loader as widget_loader
from bots.widget import rules as widget_rules
from bots.widget import services as widget_services
from core.clock import ManualClock
from tenants.context import tenant_context
from tests.bots.factories import SITE, published_bot
from tests.bots.helpers import REFUNDS, sse_events, streamed_body
from tests.bots.widget.helpers import base, new_session, visitor
from tests.clients import assert_problem
from tests.knowledge.factories import ingested_knowledge_base
from tests.providers.factories import use_openai
from tests.stubs import Fault
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

ELSEWHERE = "https://evil.example.net"


def assert_no_cors(response: Any) -> None:
    assert "Access-Control-Allow-Origin" not in response


# --- origins and drafts --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_allowed_origin_reads_the_public_configuration_with_cors_and_an_etag(world: World) -> None:
    bot = published_bot(
        world,
        greeting="Hi there!",
        suggested_questions=["Where is my order?"],
        widget_color="#0f766e",
        widget_position="left",
        widget_icon="help",
        widget_title="Ask Acme",
    )

    response = Client().get(base(bot), headers={"Origin": SITE})

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"]
    assert response["Cache-Control"] == "public, max-age=60"
    assert response.json() == {
        "name": "Helper",
        "title": "Ask Acme",
        "avatar": "H",
        "greeting": "Hi there!",
        "suggested_questions": ["Where is my order?"],
        "show_citations": True,
        "color": "#0f766e",
        "position": "left",
        "icon": "help",
        "identity_verification": False,
    }
    again = Client().get(base(bot), headers={"Origin": SITE, "If-None-Match": response["ETag"]})
    assert again.status_code == 304 and again.content == b""
    services.bot_update(actor=world.actor(), bot_id=bot.pk, greeting="Hello!")
    changed = Client().get(base(bot), headers={"Origin": SITE, "If-None-Match": response["ETag"]})
    assert changed.status_code == 200 and changed.json()["greeting"] == "Hello!"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ELSEWHERE},
        {"Origin": "https://shop.example.com.evil.example.net"},
        {"Origin": "http://shop.example.com"},  # another scheme is another origin
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {},  # no Origin: not a browser on an allowed page
    ],
)
def test_any_other_origin_is_refused_without_cors_headers(world: World, headers: dict[str, str]) -> None:
    bot = published_bot(world)

    for method, path in [
        ("get", base(bot)),
        ("post", f"{base(bot)}/sessions"),
        ("options", f"{base(bot)}/chat"),
    ]:
        response = getattr(Client(), method)(path, headers=headers)
        assert_problem(response, 403)
        assert_no_cors(response)


@pytest.mark.django_db
def test_an_empty_list_allows_no_origin_unless_the_tenant_chose_any_origin(world: World) -> None:
    closed = published_bot(world, "Closed", allowed_origins=[])
    open_to_all = published_bot(world, "Open", allowed_origins=[], allow_any_origin=True)

    assert Client().get(base(closed), headers={"Origin": SITE}).status_code == 403
    response = Client().get(base(open_to_all), headers={"Origin": ELSEWHERE})
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == ELSEWHERE


@pytest.mark.django_db
def test_a_preflight_from_an_allowed_origin_names_the_methods_and_headers(world: World) -> None:
    bot = published_bot(world)

    response = Client().options(
        f"{base(bot)}/chat",
        headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {
        header.strip().lower() for header in response["Access-Control-Allow-Headers"].split(",")
    }


@pytest.mark.django_db
def test_a_draft_is_refused_readably_to_its_allowed_origins(world: World) -> None:
    bot = published_bot(world, status="draft")

    response = Client().get(base(bot), headers={"Origin": SITE})

    body = assert_problem(response, 403)
    assert "not published" in body["detail"]
    assert response["Access-Control-Allow-Origin"] == SITE  # the widget can say why
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_a_preview_token_shows_a_draft_on_groundworks_own_pages_only(world: World) -> None:
    bot = published_bot(world, status="draft", allowed_origins=[])
    other = published_bot(world, "Other", status="draft")
    preview = {"Groundwork-Preview": widget_rules.preview_token(bot, user=world.owner)}

    same_origin = Client().get(base(bot), headers=preview)  # a same-origin GET has no Origin header
    own = Client().get(base(bot), headers={**preview, "Origin": "http://testserver"})
    session = Client().post(
        f"{base(bot)}/sessions",
        {},
        content_type="application/json",
        headers={**preview, "Origin": "http://testserver"},
    )
    foreign = Client().get(base(bot), headers={**preview, "Origin": ELSEWHERE})
    wrong_bot = Client().get(base(other), headers={**preview, "Origin": SITE})

    assert same_origin.status_code == own.status_code == 200
    assert own["Cache-Control"] == "private, no-cache"  # a change shows at once; no shared cache keeps it
    assert "Groundwork-Preview" in own["Vary"]
    assert session.status_code == 201
    assert foreign.status_code == 403
    assert wrong_bot.status_code == 403  # a preview token names one bot


@pytest.mark.django_db
def test_an_unknown_or_replaced_key_is_404(world: World) -> None:
    bot = published_bot(world)
    old_base = base(bot)
    services.bot_rotate_publishable_key(actor=world.actor(), bot_id=bot.pk)

    assert_problem(Client().get(old_base, headers={"Origin": SITE}), 404)
    assert_problem(Client().get("/public/v1/bots/not-a-key", headers={"Origin": SITE}), 404)


# --- sessions and identity -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_anonymous_session_mints_a_visitor_that_can_come_back(world: World) -> None:
    bot = published_bot(world)

    first = new_session(bot)
    returning = new_session(bot, visitor_id=first["visitor_id"])
    claiming = new_session(bot, visitor_id="user:alice")  # not a minted id: a new visitor instead

    assert first["visitor_id"].startswith("v_") and first["identified"] is False
    assert first["expires_in"] == 3600
    assert returning["visitor_id"] == first["visitor_id"]
    assert claiming["visitor_id"].startswith("v_")


@pytest.mark.django_db
def test_identity_verification_links_a_signed_in_user_and_refuses_a_forged_one(world: World) -> None:
    bot = published_bot(world)
    plain = published_bot(world, "Plain")
    secret = widget_services.bot_rotate_identity_secret(actor=world.actor(), bot_id=bot.pk)
    user_hash = widget_rules.identity_hash(secret, "customer-42")

    verified = new_session(bot, user_id="customer-42", user_hash=user_hash)
    forged = Client().post(
        f"{base(bot)}/sessions",
        {"user_id": "customer-42", "user_hash": widget_rules.identity_hash("guessed", "customer-42")},
        content_type="application/json",
        headers={"Origin": SITE},
    )
    other_user = Client().post(
        f"{base(bot)}/sessions",
        {"user_id": "customer-43", "user_hash": user_hash},
        content_type="application/json",
        headers={"Origin": SITE},
    )
    not_set_up = Client().post(
        f"{base(plain)}/sessions",
        {"user_id": "customer-42", "user_hash": user_hash},
        content_type="application/json",
        headers={"Origin": SITE},
    )

    assert verified["visitor_id"] == "user:customer-42" and verified["identified"] is True
    assert_problem(forged, 403)
    assert_problem(other_user, 403)
    assert_problem(not_set_up, 400)
    assert Client().get(base(bot), headers={"Origin": SITE}).json()["identity_verification"] is True
    # Rotating the secret ends the old signatures at once.
    widget_services.bot_rotate_identity_secret(actor=world.actor(), bot_id=bot.pk)
    stale = Client().post(
        f"{base(bot)}/sessions",
        {"user_id": "customer-42", "user_hash": user_hash},
        content_type="application/json",
        headers={"Origin": SITE},
    )
    assert_problem(stale, 403)


@pytest.mark.django_db
def test_sessions_are_rate_limited_per_address_even_with_a_faked_origin(
    world: World, settings: Any, clock: ManualClock
) -> None:
    """The clock stands still: the five requests fall in one window of a minute."""
    settings.WIDGET_SESSION_RATE_PER_IP = "3/minute"
    bot = published_bot(world)
    # A script, not a browser: it can say any Origin it likes. Its own address, so no other test's
    # sessions count against it.
    address = "2001:db8::" + ":".join(uuid.uuid4().hex[i : i + 4] for i in range(0, 16, 4))
    client = Client(REMOTE_ADDR=address)

    statuses = [
        client.post(f"{base(bot)}/sessions", {}, content_type="application/json", headers={"Origin": SITE})
        for _ in range(5)
    ]

    assert [response.status_code for response in statuses] == [201, 201, 201, 429, 429]
    assert int(statuses[-1]["Retry-After"]) >= 1
    assert statuses[-1]["Access-Control-Allow-Origin"] == SITE  # the widget can read why


@pytest.mark.django_db
def test_bad_session_bodies_are_problems(world: World) -> None:
    bot = published_bot(world)
    post = Client().post

    assert_problem(
        post(f"{base(bot)}/sessions", "nope", content_type="text/plain", headers={"Origin": SITE}), 415
    )
    assert_problem(
        post(f"{base(bot)}/sessions", "{", content_type="application/json", headers={"Origin": SITE}), 400
    )
    unknown = post(
        f"{base(bot)}/sessions", {"admin": True}, content_type="application/json", headers={"Origin": SITE}
    )
    assert_problem(unknown, 400)
    assert_problem(Client().delete(f"{base(bot)}/sessions", headers={"Origin": SITE}), 405)


# --- chatting ------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_a_visitor_chats_over_sse_and_sees_answers_and_citations_but_no_costs() -> None:
    world = await sync_to_async(make_world)()
    knowledge = await sync_to_async(ingested_knowledge_base)(world, REFUNDS)
    bot = await sync_to_async(published_bot)(world, knowledge_base_ids=[knowledge.pk])
    session = await sync_to_async(new_session)(bot)
    client = AsyncClient()

    response = await client.post(
        f"{base(bot)}/chat",
        {"message": "How long do card refunds take?"},
        content_type="application/json",
        headers=visitor(session["token"]),
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == SITE
    events = sse_events(await streamed_body(response))
    names = [name for name, _ in events]
    assert names[:2] == ["start", "sources"] and names[-1] == "done" and "token" in names
    done = events[-1][1]
    assert set(done) == {"conversation_id", "message_id", "answer", "outcome", "citations"}
    citation = done["citations"][0]
    assert set(citation) == {"number", "document_id", "title", "source", "page_number", "anchor", "snippet"}
    assert "five working days" in citation["snippet"]
    assert done["answer"] == "".join(data["text"] for name, data in events if name == "token")

    def stored() -> Conversation:
        with tenant_context(world.tenant.pk):
            return Conversation.objects.get(pk=done["conversation_id"])

    conversation = await sync_to_async(stored)()
    assert conversation.channel == "widget" and conversation.visitor_id == session["visitor_id"]

    # The conversation comes back on the visitor's next page, and they can rate the answer.
    restored = await client.get(
        f"{base(bot)}/conversations/{done['conversation_id']}", headers=visitor(session["token"])
    )
    assert restored.status_code == 200
    messages = restored.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == done["answer"] and messages[1]["citations"] == done["citations"]
    rated = await client.post(
        f"{base(bot)}/messages/{done['message_id']}/feedback",
        {"rating": -1, "comment": "Too vague"},
        content_type="application/json",
        headers=visitor(session["token"]),
    )
    assert rated.status_code == 200 and rated.json() == {"id": done["message_id"], "rating": -1}

    def rating() -> tuple[int | None, str]:
        with tenant_context(world.tenant.pk):
            message = Message.objects.get(pk=done["message_id"])
            return message.rating, message.feedback_comment

    assert await sync_to_async(rating)() == (-1, "Too vague")
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
def test_a_visitor_reaches_only_their_own_conversations_and_answers(world: World) -> None:
    bot = published_bot(world, handoff_message="Please email us.")
    alice, mallory = new_session(bot), new_session(bot)
    chat = Client().post(
        f"{base(bot)}/chat",
        {"message": "Hello?"},
        content_type="application/json",
        headers=visitor(alice["token"]),
    )
    done = sse_events(b"".join(chat.streaming_content))[-1][1]

    conversation = Client().get(
        f"{base(bot)}/conversations/{done['conversation_id']}", headers=visitor(mallory["token"])
    )
    feedback = Client().post(
        f"{base(bot)}/messages/{done['message_id']}/feedback",
        {"rating": 1},
        content_type="application/json",
        headers=visitor(mallory["token"]),
    )
    continuing = Client().post(
        f"{base(bot)}/chat",
        {"message": "Me too", "conversation_id": done["conversation_id"]},
        content_type="application/json",
        headers=visitor(mallory["token"]),
    )

    assert_problem(conversation, 404)
    assert_problem(feedback, 404)
    assert_problem(continuing, 404)
    with tenant_context(world.tenant.pk):
        assert Message.objects.filter(conversation_id=done["conversation_id"]).count() == 2


@pytest.mark.django_db
def test_a_token_is_for_one_bot_and_expires(world: World, settings: Any, clock: ManualClock) -> None:
    bot, other = published_bot(world), published_bot(world, "Other")
    token = new_session(bot)["token"]
    paths = [
        ("post", f"{base(other)}/chat", {"message": "Hi"}),
        ("get", f"{base(other)}/conversations/{uuid.uuid4()}", None),
        ("post", f"{base(other)}/messages/{uuid.uuid4()}/feedback", {"rating": 1}),
    ]

    for method, path, body in paths:
        kwargs: dict[str, Any] = {"headers": visitor(token)}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        assert_problem(getattr(Client(), method)(path, **kwargs), 403)
        kwargs["headers"] = {"Origin": SITE}
        assert_problem(getattr(Client(), method)(path, **kwargs), 401)
        kwargs["headers"] = visitor("forged." + token)
        assert_problem(getattr(Client(), method)(path, **kwargs), 401)

    settings.WIDGET_SESSION_SECONDS = 1
    clock.advance(2.1)
    expired = Client().post(
        f"{base(bot)}/chat", {"message": "Hi"}, content_type="application/json", headers=visitor(token)
    )
    body = assert_problem(expired, 401)
    assert "expired" in body["detail"]
    assert expired["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db(transaction=True)
def test_a_visitors_questions_meet_the_per_visitor_limit_before_any_answer(
    world: World, settings: Any, clock: ManualClock
) -> None:
    settings.CHAT_RATE_PER_VISITOR = "2/minute"
    bot = published_bot(world)
    token = new_session(bot)["token"]

    statuses = [
        Client()
        .post(
            f"{base(bot)}/chat",
            {"message": f"Question {n}"},
            content_type="application/json",
            headers=visitor(token),
        )
        .status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]
    with tenant_context(world.tenant.pk):
        assert Message.objects.filter(role="user").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_spent_budget_is_refused_without_telling_the_visitor_the_figures(world: World) -> None:
    bot = published_bot(world, daily_budget_usd=Decimal("0.00"))
    token = new_session(bot)["token"]

    response = Client().post(
        f"{base(bot)}/chat", {"message": "Hi"}, content_type="application/json", headers=visitor(token)
    )

    body = assert_problem(response, 429)
    assert "$" not in body["detail"] and "budget" not in body["detail"]


@pytest.mark.django_db
def test_a_draft_refuses_chat_even_with_a_session_made_while_it_was_published(world: World) -> None:
    bot = published_bot(world)
    token = new_session(bot)["token"]
    services.bot_update(actor=world.actor(), bot_id=bot.pk, status="draft")

    response = Client().post(
        f"{base(bot)}/chat", {"message": "Hi"}, content_type="application/json", headers=visitor(token)
    )

    assert "not published" in assert_problem(response, 403)["detail"]


# --- the loader ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_loader_is_served_gzipped_with_an_etag_and_names_the_hashed_panel() -> None:
    response = Client().get("/widget.js", headers={"Accept-Encoding": "gzip, br"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"].startswith("public, max-age=300")
    source = gzip.decompress(response.content).decode()
    assert widget_loader.PANEL_PLACEHOLDER not in source
    panel_path = next(word for word in source.replace("'", '"').split('"') if "/static/widget/panel." in word)
    assert panel_path.endswith(".js") and panel_path != "/static/widget/panel.js"  # hashed: cached for good
    assert len(response.content) <= 4096  # the budget for the loader

    plain = Client().get("/widget.js")
    assert "Content-Encoding" not in plain and plain.content.decode() == source
    assert Client().get("/widget.js", headers={"If-None-Match": response["ETag"]}).status_code == 304


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_a_model_failure_mid_stream_tells_the_visitor_nothing_of_the_provider(
    openai_stub: OpenAIStub,
) -> None:
    openai_stub.faults.append(Fault.http(500))
    try:
        world = await sync_to_async(make_world)()

        def openai_bot() -> Bot:
            use_openai(world, "openai:gpt-4o-mini")
            return published_bot(world, chat_model="openai:gpt-4o-mini", answer_policy="open")

        bot = await sync_to_async(openai_bot)()
        session = await sync_to_async(new_session)(bot)

        response = await AsyncClient().post(
            f"{base(bot)}/chat",
            {"message": "Hello?"},
            content_type="application/json",
            headers=visitor(session["token"]),
        )
        events = sse_events(await streamed_body(response))
        stored = await sync_to_async(_answer_of)(world, events[0][1]["conversation_id"])
    finally:
        await sync_to_async(connections.close_all)()  # the worker thread's connection

    assert [name for name, _ in events] == ["start", "sources", "error"]
    error = events[-1][1]
    assert error == {
        "status": 503,
        "title": "Service Unavailable",
        "detail": widget_api.VISITOR_PROVIDER_FAILURE,
    }
    assert "OpenAI" not in str(events) and "(500)" not in str(events)
    assert stored.outcome == "error" and "OpenAI had a server error" in stored.error_message  # for the tenant


def _answer_of(world: World, conversation_id: str) -> Message:
    with tenant_context(world.tenant.pk):
        return Message.objects.get(conversation_id=conversation_id, role="assistant")
