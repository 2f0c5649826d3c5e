"""Writes about bots: the bots themselves, and what a chat turn records (conversations, messages, feedback).

Bot settings are checked here once for every face (dashboard, API): the chat model must be one the
tenant enabled, the knowledge bases the tenant's own, the numbers within what the model allows. Chat
records are written by the engine (``bots.engine``) through the ``chat_*`` functions, each a short
transaction of its own, so nothing holds a transaction open while a model streams.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from bots import limits, selectors
from bots.models import (
    AnswerPolicy,
    Bot,
    BotKnowledgeBase,
    BotStatus,
    Channel,
    Conversation,
    Message,
    MessageOutcome,
    MessageRole,
    WidgetIcon,
    WidgetPosition,
    new_publishable_key,
)
from core.errors import Conflict, GroundworkError, NotFound, ValidationFailed
from knowledge import selectors as knowledge_selectors
from knowledge import services as knowledge_services
from knowledge.models import Document, RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from providers import crypto
from providers import selectors as provider_selectors
from providers.models import FoundationModel, ModelKind
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context, unscoped
from tenants.models import Role, Tenant, User
from tenants.services import audit

MAX_SUGGESTED_QUESTIONS = 6
HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")
MAX_TEMPERATURE = 2.0


class BudgetExhausted(GroundworkError):
    status = 429
    title = "Budget exhausted"


# --- checking settings ------------------------------------------------------------------------------


def _chat_model(tenant: Tenant, ref: str, field_name: str) -> provider_selectors.ResolvedModel:
    try:
        model = provider_selectors.model_get(tenant=tenant, ref=ref)
    except NotFound:
        raise ValidationFailed.on(field_name, f"No such model “{ref}”.") from None
    if model.spec.kind != ModelKind.CHAT:
        raise ValidationFailed.on(field_name, f"{model.display_name} is not a chat model.")
    if ref not in provider_selectors.model_settings(tenant=tenant).enabled_models:
        raise ValidationFailed.on(
            field_name, f"{model.display_name} is not enabled for your organisation (Models page)."
        )
    if isinstance(model.spec, FoundationModel) and model.spec.is_retired:
        raise ValidationFailed.on(field_name, f"{model.display_name} has been retired by its provider.")
    return model


def normalise_origin(origin: str) -> str:
    """``https://shop.example.com`` from what a tenant typed; ValidationFailed if it is not an origin."""
    text = origin.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ValidationFailed.on(
            "allowed_origins", f"“{origin[:100]}” is not a web origin like https://www.example.com (no path)."
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _check(tenant: Tenant, values: dict[str, Any]) -> dict[str, Any]:
    """The settings in ``values`` checked and normalised (only those present)."""
    checked = dict(values)
    if "name" in checked:
        checked["name"] = str(checked["name"]).strip()[:120]
        if not checked["name"]:
            raise ValidationFailed.on("name", "Give the bot a name.")
    if "chat_model" in checked:
        model = _chat_model(tenant, checked["chat_model"], "chat_model")
        limit = model.spec.max_output_tokens
        if limit and checked.get("max_output_tokens", 0) > limit:
            raise ValidationFailed.on(
                "max_output_tokens", f"{model.display_name} writes at most {limit:,} tokens."
            )
    if checked.get("fallback_model"):
        _chat_model(tenant, checked["fallback_model"], "fallback_model")
        if checked["fallback_model"] == checked.get("chat_model"):
            raise ValidationFailed.on(
                "fallback_model", "The fallback must be another model than the main one."
            )
    if "temperature" in checked and not 0.0 <= float(checked["temperature"]) <= MAX_TEMPERATURE:
        raise ValidationFailed.on("temperature", f"Temperature is between 0 and {MAX_TEMPERATURE:g}.")
    if "max_output_tokens" in checked and not 16 <= int(checked["max_output_tokens"]) <= 32_000:
        raise ValidationFailed.on("max_output_tokens", "Answers are between 16 and 32,000 tokens long.")
    if "retrieval_top_k" in checked and not 1 <= int(checked["retrieval_top_k"]) <= MAX_TOP_K:
        raise ValidationFailed.on("retrieval_top_k", f"Top-k is between 1 and {MAX_TOP_K}.")
    if (
        "retrieval_score_threshold" in checked
        and not 0.0 <= float(checked["retrieval_score_threshold"]) <= 1.0
    ):
        raise ValidationFailed.on(
            "retrieval_score_threshold", "The score threshold is a similarity between 0 and 1."
        )
    if "retrieval_mode" in checked and checked["retrieval_mode"] not in RetrievalMode.values:
        raise ValidationFailed.on("retrieval_mode", "Choose vector, full_text or hybrid.")
    if "answer_policy" in checked and checked["answer_policy"] not in AnswerPolicy.values:
        raise ValidationFailed.on("answer_policy", "Choose strict or open.")
    if "status" in checked and checked["status"] not in BotStatus.values:
        raise ValidationFailed.on("status", "Choose draft or published.")
    if "suggested_questions" in checked:
        questions = [str(question).strip()[:200] for question in checked["suggested_questions"]]
        checked["suggested_questions"] = [question for question in questions if question]
        if len(checked["suggested_questions"]) > MAX_SUGGESTED_QUESTIONS:
            raise ValidationFailed.on(
                "suggested_questions", f"Up to {MAX_SUGGESTED_QUESTIONS} suggested questions."
            )
    if "allowed_origins" in checked:
        checked["allowed_origins"] = list(
            dict.fromkeys(normalise_origin(o) for o in checked["allowed_origins"])
        )
    if checked.get("daily_budget_usd") is not None and Decimal(checked["daily_budget_usd"]) < 0:
        raise ValidationFailed.on("daily_budget_usd", "A budget cannot be negative.")
    if "avatar" in checked:
        checked["avatar"] = str(checked["avatar"]).strip()[:8]
    if "widget_title" in checked:
        checked["widget_title"] = str(checked["widget_title"]).strip()[:80]
    if "widget_color" in checked:
        # Reaches a style attribute on other people's websites: exactly #rrggbb, nothing else.
        colour = str(checked["widget_color"]).strip().lower()
        if not HEX_COLOUR.fullmatch(colour):
            raise ValidationFailed.on("widget_color", "Give the colour as #rrggbb, for example #4f46e5.")
        checked["widget_color"] = colour
    if "widget_position" in checked and checked["widget_position"] not in WidgetPosition.values:
        raise ValidationFailed.on("widget_position", "Choose left or right.")
    if "widget_icon" in checked and checked["widget_icon"] not in WidgetIcon.values:
        raise ValidationFailed.on("widget_icon", f"Choose one of {', '.join(WidgetIcon.values)}.")
    return checked


def _unique_slug(tenant: Tenant, name: str) -> str:
    base = slugify(name)[:60] or "bot"
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", base):
        base = f"bot-{base[:8]}"  # a slug must never read as an id
    taken = set(Bot.objects.for_tenant(tenant).filter(slug__startswith=base).values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _set_knowledge_bases(bot: Bot, knowledge_base_ids: Sequence[uuid.UUID | str]) -> list[str]:
    bases = [
        knowledge_selectors.knowledge_base_get(tenant=bot.tenant, knowledge_base_id=identifier)
        for identifier in dict.fromkeys(str(identifier) for identifier in knowledge_base_ids)
    ]
    BotKnowledgeBase.objects.filter(bot=bot).delete()
    BotKnowledgeBase.objects.bulk_create(
        BotKnowledgeBase(tenant=bot.tenant, bot=bot, knowledge_base=base, position=position)
        for position, base in enumerate(bases)
    )
    return [base.name for base in bases]


# --- bots -------------------------------------------------------------------------------------------

BOT_FIELDS = (
    "name",
    "avatar",
    "description",
    "instructions",
    "greeting",
    "suggested_questions",
    "chat_model",
    "fallback_model",
    "temperature",
    "max_output_tokens",
    "retrieval_top_k",
    "retrieval_score_threshold",
    "retrieval_mode",
    "answer_policy",
    "handoff_message",
    "show_citations",
    "rewrite_follow_ups",
    "language",
    "status",
    "allowed_origins",
    "allow_any_origin",
    "daily_budget_usd",
    "widget_title",
    "widget_color",
    "widget_position",
    "widget_icon",
)


@runs_in_actor_tenant
def bot_create(
    *, actor: Actor, name: str, knowledge_base_ids: Sequence[uuid.UUID | str] = (), **settings: Any
) -> Bot:
    """A bot that works at once: the tenant's default chat model, strict answers with citations."""
    actor.require(Role.EDITOR, "create bots")
    unknown = set(settings) - set(BOT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown bot settings: {', '.join(sorted(unknown))}.")
    settings.setdefault(
        "chat_model", provider_selectors.model_settings(tenant=actor.tenant).default_chat_model
    )
    values = _check(actor.tenant, {"name": name, **settings})
    if not values.get("greeting"):
        values["greeting"] = f"Hi! I'm {values['name']}. What can I help you with?"
    bot = Bot(
        tenant=actor.tenant, slug=_unique_slug(actor.tenant, values["name"]), created_by=actor.user, **values
    )
    try:
        with transaction.atomic():
            bot.save()
    except IntegrityError:
        raise Conflict(
            f"There is already a bot named “{bot.name}”.", field_errors={"name": ["Already used."]}
        ) from None
    sources = _set_knowledge_bases(bot, knowledge_base_ids)
    audit(actor, action="bot.created", target=bot, changes={"name": bot.name, "knowledge_bases": sources})
    return bot


@runs_in_actor_tenant
def bot_update(
    *,
    actor: Actor,
    bot_id: uuid.UUID | str,
    knowledge_base_ids: Sequence[uuid.UUID | str] | None = None,
    **changes: Any,
) -> Bot:
    actor.require(Role.EDITOR, "change bots")
    unknown = set(changes) - set(BOT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown bot settings: {', '.join(sorted(unknown))}.")
    bot = _bot_for_update(actor.tenant, bot_id)
    to_check = dict(changes)
    if {"chat_model", "max_output_tokens", "fallback_model"} & set(changes):
        # These are checked together: the answer length against the model, the fallback against it.
        to_check.setdefault("chat_model", bot.chat_model)
        to_check.setdefault("max_output_tokens", bot.max_output_tokens)
    checked = _check(actor.tenant, to_check)
    diff = {
        name: {"from": getattr(bot, name), "to": checked[name]}
        for name in changes
        if getattr(bot, name) != checked[name]
    }
    for name in diff:
        setattr(bot, name, checked[name])
    # The slug stays what it was at creation: OpenAI-compatible clients name the bot by it.
    try:
        with transaction.atomic():
            bot.save()
    except IntegrityError:
        raise Conflict(
            f"There is already a bot named “{bot.name}”.", field_errors={"name": ["Already used."]}
        ) from None
    if knowledge_base_ids is not None:
        current = [str(base.pk) for base in selectors.bot_knowledge_bases(tenant=actor.tenant, bot=bot)]
        wanted = list(dict.fromkeys(str(identifier) for identifier in knowledge_base_ids))
        if wanted != current:  # the builder posts the list on every save: only a change is one
            diff["knowledge_bases"] = {"to": _set_knowledge_bases(bot, wanted)}
    if diff:
        audit(actor, action="bot.updated", target=bot, changes=_jsonable(diff))
    return bot


def _jsonable(diff: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {side: str(value) if isinstance(value, Decimal) else value for side, value in change.items()}
        for name, change in diff.items()
    }


def _bot_for_update(tenant: Tenant, bot_id: uuid.UUID | str) -> Bot:
    bot = selectors.bot_get(tenant=tenant, bot_id=bot_id)
    return Bot.objects.for_tenant(tenant).select_for_update().get(pk=bot.pk)


@runs_in_actor_tenant
def bot_delete(*, actor: Actor, bot_id: uuid.UUID | str) -> None:
    """Delete a bot with its conversations. Usage records stay (they are the bill)."""
    actor.require(Role.EDITOR, "delete bots")
    bot = _bot_for_update(actor.tenant, bot_id)
    audit(actor, action="bot.deleted", target=bot, changes={"name": bot.name})
    bot.delete()


@runs_in_actor_tenant
def bot_rotate_publishable_key(*, actor: Actor, bot_id: uuid.UUID | str) -> Bot:
    """A new widget key: pages still embedding the old one stop working (for a key copied elsewhere)."""
    actor.require(Role.EDITOR, "change bots")
    bot = _bot_for_update(actor.tenant, bot_id)
    bot.publishable_key = new_publishable_key()
    bot.save(update_fields=["publishable_key", "updated_at"])
    audit(actor, action="bot.publishable_key_rotated", target=bot)
    return bot


@runs_in_actor_tenant
def bot_rotate_identity_secret(*, actor: Actor, bot_id: uuid.UUID | str) -> str:
    """A new identity-verification secret, returned to be shown once; stored encrypted.

    Turning it on (or rotating it) makes the tenant's server sign its users' ids with the new secret:
    hashes made with the previous one stop verifying at once.
    """
    actor.require(Role.ADMIN, "manage identity verification")
    bot = _bot_for_update(actor.tenant, bot_id)
    secret = "gw_ivs_" + secrets.token_urlsafe(32)
    bot.identity_secret = crypto.encrypt(secret)
    bot.save(update_fields=["identity_secret", "updated_at"])
    audit(actor, action="bot.identity_secret_rotated", target=bot)
    return secret


@runs_in_actor_tenant
def bot_clear_identity_secret(*, actor: Actor, bot_id: uuid.UUID | str) -> Bot:
    """Identity verification off: every widget visitor is anonymous again."""
    actor.require(Role.ADMIN, "manage identity verification")
    bot = _bot_for_update(actor.tenant, bot_id)
    bot.identity_secret = ""
    bot.save(update_fields=["identity_secret", "updated_at"])
    audit(actor, action="bot.identity_secret_cleared", target=bot)
    return bot


def reencrypt_identity_secrets() -> int:
    """Re-encrypt every bot's identity secret under the current primary key (after a key rotation)."""
    count = 0
    with unscoped(reason="platform key rotation re-encrypts every tenant's identity secrets"):
        for bot in Bot.objects.exclude(identity_secret="").select_for_update():
            bot.identity_secret = crypto.reencrypt(bot.identity_secret)
            bot.save(update_fields=["identity_secret"])
            count += 1
    return count


# --- chat records -----------------------------------------------------------------------------------


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


def check_monthly_budget(*, tenant: Tenant) -> None:
    monthly = provider_selectors.model_settings(tenant=tenant).monthly_budget_usd
    if monthly is not None and selectors.spend_this_month(tenant=tenant) >= monthly:
        raise BudgetExhausted(
            f"Your organisation has used its monthly budget of ${monthly:,.2f}; raise it on the Usage page."
        )


def check_budgets(*, tenant: Tenant, bot: Bot) -> None:
    """Refuse before any provider is called when the tenant's month or the bot's day is spent."""
    check_monthly_budget(tenant=tenant)
    if (
        bot.daily_budget_usd is not None
        and selectors.bot_spend_today(tenant=tenant, bot=bot) >= bot.daily_budget_usd
    ):
        raise BudgetExhausted(
            f"{bot.name} has used its daily budget of ${bot.daily_budget_usd:,.2f}; "
            "it answers again tomorrow (UTC)."
        )


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
    One transaction; a refusal (``limits.RateLimited``, ``BudgetExhausted``) comes before any write.

    ``history`` is the conversation so far when the client keeps it (the OpenAI-compatible endpoint
    sends the whole exchange every time); otherwise it is read from the stored conversation.
    """
    if channel not in Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    with tenant_context(tenant_id):
        tenant = Tenant.objects.get(pk=tenant_id)
        bot = selectors.bot_get(tenant=tenant, bot_id=bot_id)
        bot.tenant = tenant  # loaded here: the engine reads it from async code, where lazy loads are refused
        limits.check_chat_rates(bot_id=str(bot.pk), visitor=visitor_id, ip=client_ip)
        check_budgets(tenant=tenant, bot=bot)
        if conversation_id:
            conversation = selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
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


# --- feedback ---------------------------------------------------------------------------------------


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
        tenant = Tenant.objects.get(pk=tenant_id)
        message = selectors.message_get(tenant=tenant, message_id=message_id)
        conversation = message.conversation
        if conversation.bot_id != bot_id or not visitor_id or conversation.visitor_id != visitor_id:
            raise NotFound("No such message.")
        return _rate(tenant, message_id, rating, comment)


def _rate(tenant: Tenant, message_id: uuid.UUID | str, rating: int, comment: str) -> Message:
    if rating not in (1, -1):
        raise ValidationFailed.on("rating", "Rate an answer 1 (helpful) or -1 (not helpful).")
    message = selectors.message_get(tenant=tenant, message_id=message_id)
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
    message = selectors.message_get(tenant=actor.tenant, message_id=message_id)
    if message.role != MessageRole.ASSISTANT:
        raise ValidationFailed.on("message", "Correct one of the bot's answers.")
    asked = question.strip() or selectors.question_for(tenant=actor.tenant, answer=message)
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
