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

from django.conf import settings as django_settings
from django.utils.text import slugify

from bots import bot_settings, selectors
from bots.models import (
    Bot,
    BotKnowledgeBase,
    BotStatus,
    new_publishable_key,
)
from core.database import save_or_conflict
from core.errors import ValidationFailed
from knowledge import selectors as knowledge_selectors
from providers import selectors as provider_selectors
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit


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

# What bot_create and bot_update accept besides the knowledge bases: every declared setting.
BOT_FIELDS = bot_settings.NAMES


@runs_in_actor_tenant
def bot_create(
    *, actor: Actor, name: str, knowledge_base_ids: Sequence[uuid.UUID | str] = (), **settings: Any
) -> Bot:
    """A bot that works at once: the tenant's default chat model, strict answers with citations, and the
    operator's default daily budget (``DEFAULT_BOT_DAILY_BUDGET_USD``) unless ``daily_budget_usd`` is
    given — ``None`` given on purpose is a bot without a daily cap."""
    actor.require(Role.EDITOR, "create bots")
    unknown = set(settings) - set(BOT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown bot settings: {', '.join(sorted(unknown))}.")
    settings.setdefault(
        "chat_model", provider_selectors.model_settings(tenant=actor.tenant).default_chat_model
    )
    settings.setdefault("daily_budget_usd", django_settings.DEFAULT_BOT_DAILY_BUDGET_USD)
    values = bot_settings.check_settings(actor.tenant, {"name": name, **settings})
    _require_verified_email_to_publish(
        actor, was=BotStatus.DRAFT, becomes=values.get("status", BotStatus.DRAFT)
    )
    if not values.get("greeting"):
        values["greeting"] = f"Hi! I'm {values['name']}. What can I help you with?"
    bot = Bot(
        tenant=actor.tenant, slug=_unique_slug(actor.tenant, values["name"]), created_by=actor.user, **values
    )
    save_or_conflict(bot, message=f"There is already a bot named “{bot.name}”.")
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
    checked = bot_settings.check_settings(actor.tenant, to_check)
    _require_verified_email_to_publish(actor, was=bot.status, becomes=checked.get("status", bot.status))
    diff = {
        name: {"from": getattr(bot, name), "to": checked[name]}
        for name in changes
        if getattr(bot, name) != checked[name]
    }
    for name in diff:
        setattr(bot, name, checked[name])
    # The slug stays what it was at creation: OpenAI-compatible clients name the bot by it.
    save_or_conflict(bot, message=f"There is already a bot named “{bot.name}”.")
    if knowledge_base_ids is not None:
        current = [str(base.pk) for base in selectors.bot_knowledge_bases(tenant=actor.tenant, bot=bot)]
        wanted = list(dict.fromkeys(str(identifier) for identifier in knowledge_base_ids))
        if wanted != current:  # the builder posts the list on every save: only a change is one
            diff["knowledge_bases"] = {"to": _set_knowledge_bases(bot, wanted)}
    if diff:
        audit(actor, action="bot.updated", target=bot, changes=_jsonable(diff))
    return bot


def _require_verified_email_to_publish(actor: Actor, *, was: str, becomes: str) -> None:
    """Publishing puts a bot before the public: only a person who proved their email address may."""
    if becomes == BotStatus.PUBLISHED and was != BotStatus.PUBLISHED:
        actor.require_verified_email("publish a bot")


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
