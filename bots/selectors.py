"""Reads about bots: lists, one bot by id or slug or publishable key, and its knowledge bases."""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet

from bots.models import Bot, BotKnowledgeBase
from core.errors import NotFound
from core.identifiers import parse_uuid
from knowledge.models import KnowledgeBase
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
