"""Writes about bots themselves: creating, updating and deleting them, and rotating their publishable key.

Bot settings are checked here once for every face (dashboard, API): the chat model must be one the
tenant enabled, the knowledge bases the tenant's own, the numbers within what the model allows. What a
chat turn records lives in ``bots.chat.services``; the widget's identity secret in ``bots.widget.services``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from bots import selectors
from bots.models import (
    AnswerPolicy,
    Bot,
    BotKnowledgeBase,
    BotStatus,
    WidgetIcon,
    WidgetPosition,
    new_publishable_key,
)
from core.errors import Conflict, NotFound, ValidationFailed
from knowledge import selectors as knowledge_selectors
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from providers import selectors as provider_selectors
from providers.models import FoundationModel, ModelKind
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

MAX_SUGGESTED_QUESTIONS = 6
HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")
MAX_TEMPERATURE = 2.0


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
    bot = bot_for_update(actor.tenant, bot_id)
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


def bot_for_update(tenant: Tenant, bot_id: uuid.UUID | str) -> Bot:
    bot = selectors.bot_get(tenant=tenant, bot_id=bot_id)
    return Bot.objects.for_tenant(tenant).select_for_update().get(pk=bot.pk)


@runs_in_actor_tenant
def bot_delete(*, actor: Actor, bot_id: uuid.UUID | str) -> None:
    """Delete a bot with its conversations. Usage records stay (they are the bill)."""
    actor.require(Role.EDITOR, "delete bots")
    bot = bot_for_update(actor.tenant, bot_id)
    audit(actor, action="bot.deleted", target=bot, changes={"name": bot.name})
    bot.delete()


@runs_in_actor_tenant
def bot_rotate_publishable_key(*, actor: Actor, bot_id: uuid.UUID | str) -> Bot:
    """A new widget key: pages still embedding the old one stop working (for a key copied elsewhere)."""
    actor.require(Role.EDITOR, "change bots")
    bot = bot_for_update(actor.tenant, bot_id)
    bot.publishable_key = new_publishable_key()
    bot.save(update_fields=["publishable_key", "updated_at"])
    audit(actor, action="bot.publishable_key_rotated", target=bot)
    return bot


# --- chat records -----------------------------------------------------------------------------------


# --- feedback ---------------------------------------------------------------------------------------
