"""Conversations read as finished (issue 14): answers rendered as safe Markdown, and a conversation that
cost nothing says what it used ("1,290 tokens", "free (built-in model)") instead of "$0.00"."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from lxml import html as lxml_html

from bots.chat import services as chat_services
from bots.models import Bot, Message
from tests.bots.factories import make_bot, record_conversation, record_turn
from tests.clients import text_of
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

HOSTILE_ANSWER = (
    "**Refunds** take five days [1].\n\n"
    "- [the form](https://shop.example/form)\n"
    "- [click me](javascript:alert(1))\n"
    "- ![pixel](https://tracker.example/p.png)\n\n"
    "<script>alert('owned')</script><img src=x onerror=alert(1)>"
)


def record_free_answer(
    world: World, bot: Bot, *, model_ref: str, input_tokens: int, output_tokens: int
) -> Message:
    """A turn answered by a model that charges nothing, with the tokens it used."""
    start = chat_services.chat_start(
        tenant_id=world.tenant.pk, bot_id=bot.pk, question="Do you ship abroad?", channel="api"
    )
    return chat_services.chat_record_answer(
        tenant_id=world.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(
            content="Yes, to the EU.",
            outcome="answered",
            citations=[],
            model_ref=model_ref,
            model_version="llama3.1:8b",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=Decimal(0),
            latency_ms=900,
            time_to_first_token_ms=200,
        ),
    )


def answer_bubble(response_html: str) -> lxml_html.HtmlElement:
    root = lxml_html.fromstring(response_html)
    (bubble,) = root.xpath("//li[contains(@class, 'gw-msg-bot')]//*[@data-markdown]")
    return bubble


def test_a_conversation_shows_the_answer_as_safe_markdown(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    conversation, _ = record_turn(world, bot, "How long do refunds take?", HOSTILE_ANSWER)

    response = owner_client.get(f"/app/conversations/{conversation.pk}/")

    assert response.status_code == 200
    bubble = answer_bubble(response.content.decode())
    assert bubble.xpath(".//strong")[0].text == "Refunds"
    links = bubble.xpath(".//a")
    assert [a.get("href") for a in links] == ["https://shop.example/form"]
    assert links[0].get("rel") == "noopener noreferrer nofollow ugc" and links[0].get("target") == "_blank"
    assert not bubble.xpath(".//script|.//img|.//iframe")
    text = bubble.text_content()
    assert "[click me](javascript:alert(1))" in text  # refused: the words stay, no link
    assert "[Image: pixel]" in text and "tracker.example" not in lxml_html.tostring(bubble).decode()
    assert "<script>alert('owned')</script>" in text  # raw HTML is shown as text
    assert bubble.xpath(".//span[@class='gw-ref']")[0].text == "1"


def test_the_correction_page_quotes_the_answer_as_safe_markdown(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    _, answer = record_turn(world, bot, "How long do refunds take?", HOSTILE_ANSWER)

    response = owner_client.get(f"/app/conversations/answers/{answer.pk}/correct/")

    assert response.status_code == 200
    root = lxml_html.fromstring(response.content.decode())
    (quote,) = root.xpath("//div[contains(@class, 'gw-msg-bubble-quote')][@data-markdown]")
    assert quote.xpath(".//strong") and not quote.xpath(".//script|.//img")
    assert [a.get("href") for a in quote.xpath(".//a")] == ["https://shop.example/form"]


def test_a_conversation_that_cost_nothing_says_what_it_used(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    self_hosted = record_free_answer(
        world,
        bot,
        model_ref="custom:5f0c6a43-2f1d-4c3e-9a55-0d8f5f3c2b11",
        input_tokens=1234,
        output_tokens=56,
    )
    built_in, _ = record_turn(world, bot, "Where is my parcel?", "In transit.")  # the built-in no-LLM model
    record_conversation(world, bot, "How long do refunds take?")  # a priced call: $0.0002

    listing = text_of(owner_client.get("/app/conversations/"))

    assert "1,290 tokens" in listing
    assert "free (built-in model)" in listing
    assert "$0.0002" in listing
    assert "$0.00 " not in listing and not re.search(r"\$0\.00\b(?!\d)", listing)

    detail = text_of(owner_client.get(f"/app/conversations/{self_hosted.conversation_id}/"))
    assert re.search(r"Cost 1,290 tokens", detail)
    free = text_of(owner_client.get(f"/app/conversations/{built_in.pk}/"))
    assert "free (built-in model)" in free and "$0.00" not in free
