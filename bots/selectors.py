"""Reads about bots: lists, one bot by id or slug or publishable key, and its knowledge bases."""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet

from bots.models import Bot, BotKnowledgeBase, BotStatus
from core.errors import NotFound
from core.identifiers import parse_uuid
from knowledge.models import KnowledgeBase
from providers.readiness import ModelReadiness, chat_model_readiness
from tenants.models import Tenant


def bot_list(*, tenant: Tenant) -> QuerySet[Bot]:
    return (
        Bot.objects.for_tenant(tenant)
        .annotate(conversation_total=Count("conversations", distinct=True))
        .order_by("name")
    )


def bot_get(*, tenant: Tenant, bot_id: uuid.UUID | str) -> Bot:
    """A bot by id or by slug (the OpenAI-compatible endpoint names bots either way)."""
    identifier = parse_uuid(bot_id)
    lookup = Q(pk=identifier) if identifier else Q(slug=str(bot_id))
    found = Bot.objects.for_tenant(tenant).filter(lookup).first()
    if found is None:
        raise NotFound("No such bot.")
    return found


def bot_by_publishable_key(*, publishable_key: str) -> Bot | None:
    """The bot a widget key names. Runs where the caller decides the scope (the widget, unscoped)."""
    return Bot.objects.filter(publishable_key=publishable_key).select_related("tenant").first()


def knowledge_bases_of_bots(*, tenant: Tenant, bots: list[Bot]) -> dict[uuid.UUID, list[KnowledgeBase]]:
    """Each bot's knowledge bases in search order, for a list of bots in one query."""
    links = (
        BotKnowledgeBase.objects.for_tenant(tenant)
        .filter(bot__in=bots)
        .select_related("knowledge_base")
        .order_by("position")
    )
    by_bot: dict[uuid.UUID, list[KnowledgeBase]] = {bot.pk: [] for bot in bots}
    for link in links:
        by_bot[link.bot_id].append(link.knowledge_base)
    return by_bot


def bot_knowledge_bases(*, tenant: Tenant, bot: Bot) -> list[KnowledgeBase]:
    links = (
        BotKnowledgeBase.objects.for_tenant(tenant)
        .filter(bot=bot)
        .select_related("knowledge_base")
        .order_by("position")
    )
    return [link.knowledge_base for link in links]


def publish_needs_confirmation(
    *, tenant: Tenant, bot: Bot, status: str, chat_model: str
) -> ModelReadiness | None:
    """The readiness to confirm before saving ``bot`` as ``status`` with ``chat_model``: when the save
    would put in front of visitors a model that cannot write answers (no key connected, or the no-LLM
    answerer) — on publishing, or on switching a published bot to such a model. None when nothing needs
    confirming."""
    if status != BotStatus.PUBLISHED:
        return None
    if bot.status == BotStatus.PUBLISHED and bot.chat_model == chat_model:
        return None  # already in front of visitors as it is: saving other settings changes nothing there
    readiness = chat_model_readiness(tenant=tenant, ref=chat_model)
    return None if readiness.can_answer else readiness
