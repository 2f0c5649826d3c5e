"""Bots and their conversations, made through the bots services as the tenant's owner.

Knowledge for a bot to answer from: tests/knowledge/factories.py (``ingested_knowledge_base``); an OpenAI
model for it: tests/providers/factories.py (``use_openai``); regression suites and runs:
tests/bots/regression/factories.py.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from bots import services
from bots.chat import services as chat_services
from bots.models import Bot, Conversation, Message
from tenants.context import tenant_context
from tests.tenants.factories import World

SITE = "https://shop.example.com"  # the tenant's website, where its widget is allowed


def make_bot(world: World, name: str = "Helper", **settings: Any) -> Bot:
    """A bot with ``settings`` (the service's defaults otherwise: a draft on the built-in models)."""
    return services.bot_create(actor=world.actor(), name=name, **settings)


def published_bot(world: World, name: str = "Helper", **settings: Any) -> Bot:
    """A published bot whose widget is allowed on ``SITE`` (unless ``settings`` say otherwise)."""
    settings.setdefault("allowed_origins", [SITE])
    settings.setdefault("status", "published")
    return make_bot(world, name, **settings)


def record_turn(
    world: World,
    bot: Bot,
    question: str,
    answer: str,
    *,
    outcome: str = "answered",
    channel: str = "api",
    citations: list[dict[str, Any]] | None = None,
) -> tuple[Conversation, Message]:
    """A stored question and answer (nothing else: no model, usage or cost), through the services the
    engine uses; the conversation and the answer."""
    start = chat_services.chat_start(
        tenant_id=world.tenant.pk, bot_id=bot.pk, question=question, channel=channel
    )
    message = chat_services.chat_record_answer(
        tenant_id=world.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(content=answer, outcome=outcome, citations=citations),
    )
    with tenant_context(world.tenant.pk):
        return Conversation.objects.get(pk=start.conversation_id), message


def record_conversation(
    world: World,
    bot: Bot,
    question: str = "How long do refunds take?",
    *,
    channel: str = "api",
    answer: str = "Five working days [1].",
    outcome: str = "answered",
    citations: list[dict[str, Any]] | None = None,
    rating: int | None = None,
    comment: str = "",
) -> tuple[uuid.UUID, Message]:
    """A stored turn as the engine would record it: a question and its answer citing a refund policy
    (unless ``citations`` are given), with the model, tokens, cost and latency of a gpt-4o-mini call;
    rated by the owner if ``rating`` is given. The conversation's id and the answer."""
    start = chat_services.chat_start(
        tenant_id=world.tenant.pk, bot_id=bot.pk, question=question, channel=channel
    )
    message = chat_services.chat_record_answer(
        tenant_id=world.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(
            content=answer,
            outcome=outcome,
            citations=citations
            if citations is not None
            else [
                {
                    "number": 1,
                    "chunk_id": str(uuid.uuid4()),
                    "document_id": str(uuid.uuid4()),
                    "title": "Refund policy",
                    "source": "https://shop.example.com/help/refunds",
                    "page_number": 3,
                    "anchor": "",
                    "snippet": "Refunds for card payments take five working days.",
                    "score": 0.8123,
                }
            ],
            model_ref="openai:gpt-4o-mini",
            model_version="gpt-4o-mini-2024-07-18",
            input_tokens=1234,
            output_tokens=56,
            cost_usd=Decimal("0.00021900"),
            latency_ms=1870,
            time_to_first_token_ms=420,
        ),
    )
    if rating is not None:
        chat_services.message_rate(actor=world.actor(), message_id=message.pk, rating=rating, comment=comment)
    return start.conversation_id, message
