"""Every write of a chat turn: starting it within the rate limits and budgets, recording its answer, and
the feedback on answers (ratings, corrections into knowledge)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F
from django.utils import timezone

from bots import selectors
from bots.chat import limits
from bots.chat import selectors as chat_selectors
from bots.models import (
    Bot,
    Channel,
    Conversation,
    Message,
    MessageOutcome,
    MessageRole,
)
from core.errors import NotFound, ValidationFailed
from knowledge import services as knowledge_services
from knowledge.models import Document
from providers import budgets
from providers.budgets import BudgetExhausted as BudgetExhausted  # the chat surfaces catch it from here
from tenants import selectors as tenant_selectors
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context
from tenants.models import Role, Tenant, User
from tenants.services import audit


@dataclass(frozen=True)
class HistoryMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ChatStart:
    """What the engine needs after the request was admitted and the question stored."""

    bot: Bot
    knowledge_bases: list[Any]
    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    history: list[HistoryMessage]  # earlier turns, oldest first


def monthly_budget(*, tenant: Tenant) -> budgets.Budget | None:
    """The organisation's monthly budget, which every model call of every bot spends from."""
    return budgets.tenant_month_budget(tenant=tenant)


def bot_daily_budget(*, tenant: Tenant, bot: Bot) -> budgets.Budget | None:
    """The bot's daily budget (UTC days), which the model calls of its conversations spend from."""
    if bot.daily_budget_usd is None:
        return None
    return budgets.Budget(
        ledger=f"bot-day:{bot.pk}:{timezone.now():%Y-%m-%d}",
        limit_usd=bot.daily_budget_usd,
        spent_usd=functools.partial(chat_selectors.bot_spend_today, tenant=tenant, bot=bot),
        refusal=f"{bot.name} has used its daily budget of ${bot.daily_budget_usd:,.2f}; "
        "it answers again tomorrow (UTC).",
    )


def check_monthly_budget(*, tenant: Tenant) -> None:
    """Refuse when the month's budget has no room left (recorded spend and the calls in flight)."""
    budgets.check([budget for budget in [monthly_budget(tenant=tenant)] if budget is not None])


def check_budgets(*, tenant: Tenant, bot: Bot) -> None:
    """Refuse before any provider is called when the tenant's month or the bot's day has no room left.

    This is the cheap early refusal; what makes concurrent turns unable to overshoot is the reservation
    each model call makes in the gateway (``providers.budgets``)."""
    found = [monthly_budget(tenant=tenant), bot_daily_budget(tenant=tenant, bot=bot)]
    budgets.check([budget for budget in found if budget is not None])


def chat_start(
    *,
    tenant_id: uuid.UUID | str,
    bot_id: uuid.UUID | str,
    question: str,
    channel: str,
    conversation_id: uuid.UUID | str | None = None,
    visitor_id: str = "",
    client_ip: str = "",
    user: User | None = None,
    history: Sequence[HistoryMessage] | None = None,
    history_limit: int = 20,
) -> ChatStart:
    """Admit a question: the bot, its rate limits and budgets, the conversation; store the question.
    One transaction; a refusal (``RateLimited``, ``BudgetExhausted``) comes before any write.

    ``history`` is the conversation so far when the client keeps it (the OpenAI-compatible endpoint
    sends the whole exchange every time); otherwise it is read from the stored conversation.
    """
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    with tenant_context(tenant_id):
        tenant = tenant_selectors.tenant_get(tenant_id=tenant_id)
        bot = selectors.bot_get(tenant=tenant, bot_id=bot_id)
        bot.tenant = tenant  # loaded here: the engine reads it from async code, where lazy loads are refused
        limits.check_chat_rates(bot_id=str(bot.pk), visitor=visitor_id, ip=client_ip)
        check_budgets(tenant=tenant, bot=bot)
        if conversation_id:
            conversation = chat_selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
            if conversation.bot_id != bot.pk or (visitor_id and conversation.visitor_id != visitor_id):
                raise NotFound("No such conversation.")
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        else:
            conversation = Conversation.objects.create(
                tenant=tenant,
                bot=bot,
                channel=channel,
                visitor_id=visitor_id,
                title=question[:200],
                started_by=user,
            )
        earlier = (
            [(message.role, message.content) for message in reversed(history[-history_limit:])]
            if history is not None
            else list(
                Message.objects.filter(conversation=conversation, outcome__in=["", MessageOutcome.ANSWERED])
                .exclude(content="")
                .order_by("-created_at")
                .values_list("role", "content")[:history_limit]
            )
        )
        message = Message.objects.create(
            tenant=tenant, conversation=conversation, role=MessageRole.USER, content=question
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=timezone.now(), message_count=F("message_count") + 1
        )
        return ChatStart(
            bot=bot,
            knowledge_bases=selectors.bot_knowledge_bases(tenant=tenant, bot=bot),
            conversation_id=conversation.pk,
            user_message_id=message.pk,
            history=[HistoryMessage(role=role, content=content) for role, content in reversed(earlier)],
        )


@dataclass
class AnswerRecord:
    content: str
    outcome: str
    standalone_question: str = ""
    citations: list[dict[str, Any]] | None = None
    retrieved_chunk_ids: list[uuid.UUID] | None = None
    model_ref: str = ""
    model_version: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int | None = None
    time_to_first_token_ms: int | None = None
    error_message: str = ""


def chat_record_answer(
    *, tenant_id: uuid.UUID | str, conversation_id: uuid.UUID, record: AnswerRecord
) -> Message:
    """Store the bot's answer (or its failure, or what was shown before the visitor left)."""
    with tenant_context(tenant_id):
        message = Message.objects.create(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            content=record.content,
            outcome=record.outcome,
            standalone_question=record.standalone_question,
            citations=record.citations or [],
            retrieved_chunk_ids=record.retrieved_chunk_ids or [],
            model_ref=record.model_ref,
            model_version=record.model_version[:200],
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost_usd=record.cost_usd,
            latency_ms=record.latency_ms,
            time_to_first_token_ms=record.time_to_first_token_ms,
            error_message=record.error_message[:500],
        )
        Conversation.objects.filter(pk=conversation_id).update(
            last_message_at=timezone.now(),
            message_count=F("message_count") + 1,
            unanswered_count=F("unanswered_count") + (1 if record.outcome == MessageOutcome.NO_ANSWER else 0),
            cost_usd=F("cost_usd") + record.cost_usd,
        )
        return message


@runs_in_actor_tenant
def message_rate(*, actor: Actor, message_id: uuid.UUID | str, rating: int, comment: str = "") -> Message:
    """Thumbs up (+1) or down (-1) on an answer, with an optional comment; rating again replaces it."""
    actor.require(Role.VIEWER, "rate answers")
    return _rate(actor.tenant, message_id, rating, comment)


def message_rate_as_visitor(
    *,
    tenant_id: uuid.UUID | str,
    bot_id: uuid.UUID,
    visitor_id: str,
    message_id: uuid.UUID | str,
    rating: int,
    comment: str = "",
) -> Message:
    """A widget visitor rating an answer of their own conversation."""
    with tenant_context(tenant_id):
        tenant = tenant_selectors.tenant_get(tenant_id=tenant_id)
        message = chat_selectors.message_get(tenant=tenant, message_id=message_id)
        conversation = message.conversation
        if conversation.bot_id != bot_id or not visitor_id or conversation.visitor_id != visitor_id:
            raise NotFound("No such message.")
        return _rate(tenant, message_id, rating, comment)


def _rate(tenant: Tenant, message_id: uuid.UUID | str, rating: int, comment: str) -> Message:
    if rating not in (1, -1):
        raise ValidationFailed.on("rating", "Rate an answer 1 (helpful) or -1 (not helpful).")
    message = chat_selectors.message_get(tenant=tenant, message_id=message_id)
    if message.role != MessageRole.ASSISTANT:
        raise ValidationFailed.on("message", "Only the bot's answers can be rated.")
    message.rating = rating
    message.feedback_comment = comment.strip()[:2000]
    message.save(update_fields=["rating", "feedback_comment"])
    return message


@runs_in_actor_tenant
def message_correct_into_knowledge(
    *,
    actor: Actor,
    message_id: uuid.UUID | str,
    knowledge_base_id: uuid.UUID | str,
    answer: str,
    question: str = "",
) -> Document:
    """Turn a poor answer into a Q&A entry: the visitor's question (or an edited one) and the right answer."""
    actor.require(Role.EDITOR, "add knowledge")
    message = chat_selectors.message_get(tenant=actor.tenant, message_id=message_id)
    if message.role != MessageRole.ASSISTANT:
        raise ValidationFailed.on("message", "Correct one of the bot's answers.")
    asked = question.strip() or chat_selectors.question_for(tenant=actor.tenant, answer=message)
    if not asked:
        raise ValidationFailed.on("question", "Type the question this answer is for.")
    if len(asked) > knowledge_services.MAX_QUESTION_CHARACTERS:
        raise ValidationFailed.on(
            "question",
            f"The question is {len(asked):,} characters long; shorten it to "
            f"{knowledge_services.MAX_QUESTION_CHARACTERS:,} for the knowledge base.",
        )
    if not answer.strip():
        raise ValidationFailed.on("answer", "Type the correct answer.")
    document = knowledge_services.document_add_qa(
        actor=actor,
        knowledge_base_id=knowledge_base_id,
        pairs=[{"question": asked, "answer": answer}],
        title=f"Correction: {asked[:80]}",
    )
    audit(actor, action="message.corrected", target=message, changes={"document": str(document.pk)})
    return document
