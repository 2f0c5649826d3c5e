"""The chat's per-address limits key on ``core.client_address``: the REST chat and the OpenAI-compatible
endpoint count a caller under its own address, whatever ``X-Forwarded-For`` it sends, unless the peer is
a trusted proxy; and one address's questions to one bot are counted together whatever visitor sessions
it mints (the widget)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from bots.models import Bot
from core.clock import ManualClock
from tenants.models import Role
from tests.bots.factories import SITE, make_bot, published_bot
from tests.bots.widget.helpers import base, visitor
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def an_address() -> str:
    """An address of this test's own: rate-limit counters in Redis are shared by every test process."""
    return "2001:db8::" + ":".join(uuid.uuid4().hex[i : i + 4] for i in range(0, 16, 4))


def forged(number: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{number}"}


def rest_chat(client: Client, bot: Bot, number: int) -> int:
    return client.post(
        f"/api/v1/bots/{bot.pk}/chat",
        {"message": f"Question {number}?", "stream": False},
        content_type="application/json",
        headers=forged(number),
    ).status_code


def openai_chat(client: Client, bot: Bot, number: int) -> int:
    return client.post(
        "/api/v1/chat/completions",
        {"model": bot.slug, "messages": [{"role": "user", "content": f"Question {number}?"}]},
        content_type="application/json",
        headers=forged(number),
    ).status_code


@pytest.mark.parametrize("ask", [rest_chat, openai_chat], ids=["rest", "openai-compatible"])
def test_a_forged_forwarded_for_does_not_reset_the_per_address_limit(
    world: World, settings: Any, clock: ManualClock, ask: Any
) -> None:
    settings.CHAT_RATE_PER_IP = "2/minute"
    bot = make_bot(world, answer_policy="open")
    client = Client(
        REMOTE_ADDR=an_address(), HTTP_AUTHORIZATION=f"Bearer {world.api_key(role=Role.VIEWER)[1]}"
    )

    assert [ask(client, bot, number) for number in range(3)] == [200, 200, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(
    world: World, settings: Any, clock: ManualClock
) -> None:
    settings.CHAT_RATE_PER_IP = "1/minute"
    proxy = an_address()
    settings.TRUSTED_PROXIES = [f"{proxy}/128"]
    bot = make_bot(world, answer_policy="open")
    client = Client(REMOTE_ADDR=proxy, HTTP_AUTHORIZATION=f"Bearer {world.api_key(role=Role.VIEWER)[1]}")
    first, second = "203.0.113.10", "203.0.113.20"  # the clock fixture gives this test windows of its own

    def ask(address: str) -> int:
        return client.post(
            f"/api/v1/bots/{bot.pk}/chat",
            {"message": "Hello?", "stream": False},
            content_type="application/json",
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [ask(first), ask(second), ask(first)] == [200, 200, 429]


def test_new_visitor_sessions_do_not_reset_the_per_bot_and_address_limit(
    world: World, settings: Any, clock: ManualClock
) -> None:
    settings.CHAT_RATE_PER_BOT_ADDRESS = "3/minute"
    bot = published_bot(world, answer_policy="open")
    client = Client(REMOTE_ADDR=an_address())

    def ask_in_a_new_session(number: int) -> int:
        token = client.post(
            f"{base(bot)}/sessions", {}, content_type="application/json", headers={"Origin": SITE}
        ).json()["token"]
        return client.post(
            f"{base(bot)}/chat",
            {"message": f"Question {number}?"},
            content_type="application/json",
            headers={**visitor(token), **forged(number)},
        ).status_code

    assert [ask_in_a_new_session(number) for number in range(4)] == [200, 200, 200, 429]
    # Another bot of the tenant is another count: the limit is per bot and address.
    other = published_bot(world, "Other helper", answer_policy="open")
    token = client.post(
        f"{base(other)}/sessions", {}, content_type="application/json", headers={"Origin": SITE}
    ).json()["token"]
    answered = client.post(
        f"{base(other)}/chat", {"message": "Hello?"}, content_type="application/json", headers=visitor(token)
    )
    assert answered.status_code == 200
