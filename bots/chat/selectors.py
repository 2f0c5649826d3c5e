"""Reads of conversations and messages: lists with filters, one conversation, a visitor's own, the
question an answer answered, the rows of an export, and a bot's spending today."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.models import Bot, Conversation, Message, MessageRole
from bots.selectors import bot_get
from core.errors import NotFound
from core.identifiers import one_by_id
from providers import selectors as provider_selectors
from tenants.models import Tenant


def bot_spend_today(*, tenant: Tenant, bot: Bot) -> Decimal:
    start = datetime.combine(timezone.now().date(), time.min, tzinfo=timezone.now().tzinfo)
    return provider_selectors.spend_since(tenant=tenant, since=start, bot_id=bot.pk)


def conversation_list(
    *,
    tenant: Tenant,
    bot_id: uuid.UUID | str | None = None,
    since: date | None = None,
    until: date | None = None,
    rating: int | None = None,
    unanswered: bool = False,
    channel: str | None = None,
) -> QuerySet[Conversation]:
    """Conversations, most recent first, filtered as the conversations page and the API filter them."""
    conversations = Conversation.objects.for_tenant(tenant).select_related("bot")
    if bot_id:
        conversations = conversations.filter(bot=bot_get(tenant=tenant, bot_id=bot_id))
    if since:
        conversations = conversations.filter(last_message_at__date__gte=since)
    if until:
        conversations = conversations.filter(last_message_at__date__lte=until)
    if rating in (1, -1):
        conversations = conversations.filter(messages__rating=rating)
    if unanswered:
        conversations = conversations.filter(unanswered_count__gt=0)
    if channel:
        conversations = conversations.filter(channel=channel)
    return with_token_total(conversations.distinct()).order_by("-last_message_at", "-created_at")


def with_token_total(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Each conversation with ``token_total``: the tokens its answers used (what a conversation that
    cost nothing is measured in). A subquery, so filters joining messages do not multiply it."""
    tokens = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(total=Sum(F("input_tokens") + F("output_tokens")))
        .values("total")
    )
    return conversations.annotate(token_total=Coalesce(Subquery(tokens, output_field=IntegerField()), 0))


def conversation_get(*, tenant: Tenant, conversation_id: uuid.UUID | str) -> Conversation:
    conversations = Conversation.objects.for_tenant(tenant).select_related("bot")
    return one_by_id(conversations, conversation_id, missing="No such conversation.")


def conversation_messages(*, tenant: Tenant, conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.for_tenant(tenant).filter(conversation=conversation).order_by("created_at")


def visitor_conversation(
    *, tenant: Tenant, bot: Bot, visitor_id: str, conversation_id: uuid.UUID | str
) -> Conversation:
    """A widget visitor's own conversation with this bot; anyone else's is "not there"."""
    conversation = conversation_get(tenant=tenant, conversation_id=conversation_id)
    if conversation.bot_id != bot.pk or not visitor_id or conversation.visitor_id != visitor_id:
        raise NotFound("No such conversation.")
    return conversation


def message_get(*, tenant: Tenant, message_id: uuid.UUID | str) -> Message:
    messages = Message.objects.for_tenant(tenant).select_related("conversation")
    return one_by_id(messages, message_id, missing="No such message.")


def question_for(*, tenant: Tenant, answer: Message) -> str:
    """The visitor's question an answer replied to (the user message just before it)."""
    question = (
        Message.objects.for_tenant(tenant)
        .filter(
            conversation_id=answer.conversation_id, role=MessageRole.USER, created_at__lte=answer.created_at
        )
        .order_by("-created_at")
        .values_list("content", flat=True)
        .first()
    )
    return question or ""


EXPORT_FIELDS = [
    "conversation_id", "bot", "channel", "message_id", "created_at", "role", "content", "outcome", "rating",
    "feedback_comment", "sources", "model_ref", "model_version", "input_tokens", "output_tokens", "cost_usd",
    "latency_ms", "time_to_first_token_ms",
]  # fmt: skip


def export_rows(*, tenant: Tenant, conversations: QuerySet[Conversation]) -> Iterator[dict[str, Any]]:
    """One row per message of ``conversations``, oldest conversation first, streamed from the database."""
    messages = (
        Message.objects.for_tenant(tenant)
        .filter(conversation__in=conversations.order_by().values("pk"))
        .select_related("conversation__bot")
        .order_by("conversation__created_at", "conversation_id", "created_at")
    )
    for message in messages.iterator(chunk_size=500):
        yield {
            "conversation_id": str(message.conversation_id),
            "bot": message.conversation.bot.name,
            "channel": message.conversation.channel,
            "message_id": str(message.pk),
            "created_at": message.created_at.isoformat(),
            "role": message.role,
            "content": message.content,
            "outcome": message.outcome,
            "rating": message.rating,
            "feedback_comment": message.feedback_comment,
            "sources": "; ".join(citation.get("title", "") for citation in message.citations),
            "model_ref": message.model_ref,
            "model_version": message.model_version,
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "cost_usd": f"{message.cost_usd:f}",
            "latency_ms": message.latency_ms,
            "time_to_first_token_ms": message.time_to_first_token_ms,
        }
