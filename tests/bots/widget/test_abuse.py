"""A script trying to make a published bot spend its tenant's money, through the real ASGI server (uvicorn,
started as in production: ``--no-proxy-headers``) and the real Redis and database.

The script does what a browser never would: it sends the bot's allowed ``Origin`` itself, mints a new
visitor session for every question, and sends a new ``X-Forwarded-For`` with every request, from a peer
that is not a trusted proxy. None of it resets a limit: sessions are limited per address, questions per
bot and address, and spend stops at the bot's default daily budget — refusals are 429s (with
``Retry-After`` for the rate limits), and the provider is called only for the answers the budget holds.
The last test (in process) shows what a visitor reads when a budget runs out in the middle of a turn.
"""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum

from bots.models import Bot, Message
from core import rate_limits
from providers import services as provider_services
from providers.models import UsageRecord
from tenants.context import tenant_context
from tests.bots.factories import SITE, published_bot
from tests.processes import running_server
from tests.providers.factories import enable_models, endpoint_credential, own_model, use_openai
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

LONGEST_ANSWER = 16
PRICE_PER_ANSWER = Decimal("0.02")  # every answer cut at LONGEST_ANSWER output tokens; prompts free
DEFAULT_DAILY_BUDGET = Decimal("0.10")  # the operator's default for new bots here: five answers
SESSIONS_PER_ADDRESS = 12
QUESTIONS_PER_BOT_AND_ADDRESS = 8


@pytest.fixture(scope="module")
def model_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=None).start()
    stub.default_answer = " ".join(f"word{number}" for number in range(40))
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def server_url(django_db_setup: None, django_db_blocker: Any, model_stub: OpenAIStub) -> Iterator[str]:
    # Day windows: the server keeps real time, and no test here lasts long enough to meet midnight twice.
    with running_server(
        log_name="widget-abuse-server.log",
        OPENAI_API_KEY="",
        ANTHROPIC_API_KEY="",
        MODEL_CALL_MAX_RETRIES="0",
        ALLOW_PRIVATE_MODEL_ENDPOINTS="true",  # the tenant's model server (the stub) is on 127.0.0.1
        TRUSTED_PROXIES="",  # no proxy: the peer is the client, whatever X-Forwarded-For says
        WIDGET_SESSION_RATE_PER_IP=f"{SESSIONS_PER_ADDRESS}/day",
        CHAT_RATE_PER_BOT_ADDRESS=f"{QUESTIONS_PER_BOT_AND_ADDRESS}/day",
        CHAT_RATE_PER_IP="1000/day",
        CHAT_RATE_PER_VISITOR="1000/day",
        CHAT_RATE_PER_BOT="1000/day",
    ) as url:
        yield url


class Script:
    """A client that is not a browser, on a loopback address of its own (so no other test's counters are
    its counters), saying whatever Origin and X-Forwarded-For it likes."""

    def __init__(self, server_url: str, address: str = "") -> None:
        parts = urlsplit(server_url)
        self.host, self.port = str(parts.hostname), int(parts.port or 80)
        self.forged: list[str] = []
        self.address = address or (
            f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
        )

    def post(self, path: str, body: dict[str, Any], token: str = "") -> tuple[int, dict[str, str], bytes]:
        forged = f"{secrets.randbelow(223) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(256)}.7"
        self.forged.append(forged)
        headers = {"Origin": SITE, "X-Forwarded-For": forged, "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection(
            self.host, self.port, timeout=60, source_address=(self.address, 0)
        )
        try:
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


def tenant_with_priced_model(stub: OpenAIStub, settings: Any) -> tuple[World, Bot]:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    settings.DEFAULT_BOT_DAILY_BUDGET_USD = DEFAULT_DAILY_BUDGET
    world = make_world()
    credential = endpoint_credential(world, name="Own server", base_url=stub.base_url)
    model = own_model(
        world,
        credential,
        "priced-model",
        input_price_per_million=Decimal(0),
        output_price_per_million=PRICE_PER_ANSWER / LONGEST_ANSWER * 1_000_000,
    )
    enable_models(world, model.ref, "local:no-llm", "local:all-MiniLM-L6-v2")
    # No daily_budget_usd given: the bot gets the operator's default, as every new bot does.
    bot = published_bot(world, chat_model=model.ref, answer_policy="open", max_output_tokens=LONGEST_ANSWER)
    assert bot.daily_budget_usd == DEFAULT_DAILY_BUDGET
    return world, bot


def test_a_script_with_a_spoofed_origin_rotating_sessions_and_forwarded_for_meets_every_limit(
    server_url: str, model_stub: OpenAIStub, settings: Any
) -> None:
    world, bot = tenant_with_priced_model(model_stub, settings)
    with model_stub._lock:
        model_stub.requests.clear()
    script = Script(server_url)
    base = f"/public/v1/bots/{bot.publishable_key}"

    # A new session for every question, each from a "different" forwarded address.
    sessions = [script.post(f"{base}/sessions", {}) for _ in range(SESSIONS_PER_ADDRESS + 4)]

    assert [status for status, _, _ in sessions] == [201] * SESSIONS_PER_ADDRESS + [429] * 4
    refused_session = sessions[-1]
    assert int(refused_session[1]["retry-after"]) >= 1
    assert refused_session[1]["access-control-allow-origin"] == SITE
    tokens = [json.loads(body)["token"] for status, _, body in sessions if status == 201]
    assert len({json.loads(body)["visitor_id"] for status, _, body in sessions if status == 201}) == len(
        tokens
    )

    # One question per fresh session, again with a new forwarded address each time.
    questions = [
        script.post(f"{base}/chat", {"message": f"Question {n}?"}, token) for n, token in enumerate(tokens)
    ]

    statuses = [status for status, _, _ in questions]
    answers = 5  # the default daily budget holds five answers at PRICE_PER_ANSWER
    assert statuses == [200] * answers + [429] * (len(tokens) - answers)
    streamed, budget_refused, rate_refused = (
        questions[:answers],
        questions[answers:QUESTIONS_PER_BOT_AND_ADDRESS],
        questions[QUESTIONS_PER_BOT_AND_ADDRESS:],
    )
    assert all(b"event: done" in body for _, _, body in streamed)
    # Past the budget: refused before any model call, without the tenant's figures, no stream begun.
    for status, headers, body in budget_refused:
        assert status == 429 and headers["content-type"] == "application/problem+json"
        assert "$" not in json.loads(body)["detail"] and "budget" not in json.loads(body)["detail"]
    # Past the per-bot-and-address limit: refused with how long to wait, whatever session or header.
    for status, headers, body in rate_refused:
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert "too fast" in json.loads(body)["detail"]

    with tenant_context(world.tenant.pk):
        spent = UsageRecord.objects.aggregate(total=Sum("cost_usd"))["total"]
        answered = Message.objects.filter(conversation__bot=bot, role="assistant", outcome="answered").count()
    assert spent == PRICE_PER_ANSWER * answers <= DEFAULT_DAILY_BUDGET
    assert answered == answers
    assert len(model_stub.requests_to("/v1/chat/completions")) == answers


def test_the_server_leaves_the_peer_to_the_application(server_url: str, world: World) -> None:
    """uvicorn by default rewrites the peer from X-Forwarded-For sent by 127.0.0.1: started with
    ``--no-proxy-headers`` (as ``run_platform`` and the image start it) it does not, so a script on the
    server's own machine is counted under its own address, not under the ones it names."""
    bot = published_bot(world)
    script = Script(server_url, address="127.0.0.1")

    status, _, _ = script.post(f"/public/v1/bots/{bot.publishable_key}/sessions", {})

    # (A session or, after this module's day of sessions from 127.0.0.1, a refusal: counted either way.)
    assert status in (201, 429)
    counters = rate_limits._client()
    [forged] = script.forged
    assert not list(counters.scan_iter(f"groundwork:rate:widget:session-ip:{forged}:*"))
    assert list(counters.scan_iter("groundwork:rate:widget:session-ip:127.0.0.1:*"))


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
async def test_a_budget_taken_mid_turn_ends_the_visitors_stream_without_the_figures(
    openai_stub: OpenAIStub,
) -> None:
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from tests.bots.helpers import sse_events, streamed_body
    from tests.bots.widget.helpers import new_session, visitor

    world = await sync_to_async(make_world)()
    await sync_to_async(use_openai)(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = await sync_to_async(published_bot)(world, chat_model="openai:gpt-4o-mini", answer_policy="open")
    # Not spent (the early check passes), but an answer's most possible cost no longer fits.
    await sync_to_async(provider_services.usage_record)(
        tenant_id=world.tenant.pk,
        model_ref="openai:gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=0,
        output_tokens=0,
        cost_usd=Decimal("0.0099"),
        latency_ms=1,
        time_to_first_token_ms=None,
    )
    await sync_to_async(provider_services.monthly_budget_update)(
        actor=world.actor(), monthly_budget_usd=Decimal("0.01")
    )
    session = await sync_to_async(new_session)(bot)

    response = await AsyncClient().post(
        f"/public/v1/bots/{bot.publishable_key}/chat",
        {"message": "Hello?"},
        content_type="application/json",
        headers=visitor(session["token"]),
    )

    events = sse_events(await streamed_body(response))
    name, error = events[-1]
    assert name == "error" and error["status"] == 429
    assert "$" not in error["detail"] and "budget" not in error["detail"]
    assert openai_stub.requests_to("/v1/chat/completions") == []
