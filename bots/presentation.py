"""What bots look like on the dashboard: their avatar tone, the chat models offered, the builder's choices
and budget shares, as plain dictionaries the templates show (shared by the bots, chat, widget and
regression pages)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bots import bot_settings
from bots.models import (
    AnswerPolicy,
    Bot,
    BotStatus,
)
from knowledge.models import KnowledgeBase
from providers import selectors as provider_selectors
from providers.models import ModelKind
from providers.presentation import present_model

AVATAR_TONES = 6


# The answer policy and status as the builder offers them: (value, title, what it means, icon).
POLICY_CHOICES = (
    (
        AnswerPolicy.STRICT.value,
        "Strict",
        "Answers only from the knowledge bases. When they hold nothing relevant, it sends the hand-off "
        "message instead of guessing.",
        "shield-check",
    ),
    (
        AnswerPolicy.OPEN.value,
        "Open",
        "Prefers the knowledge bases, and answers from the model's general knowledge when they are silent.",
        "globe2",
    ),
)


STATUS_CHOICES = (
    (
        BotStatus.DRAFT.value,
        "Draft",
        "Only your team talks to it: in the playground, the widget's preview and test page, and the API.",
        "pencil",
    ),
    (
        BotStatus.PUBLISHED.value,
        "Published",
        "Ready for visitors: the website widget may answer with it on your allowed websites.",
        "broadcast",
    ),
)


def choice_rows(choices: tuple[tuple[str, str, str, str], ...], chosen: Any) -> list[dict[str, Any]]:
    return [
        {"value": value, "title": title, "text": text, "icon": icon, "checked": value == chosen}
        for value, title, text, icon in choices
    ]


def avatar_tone(bot: Bot) -> int:
    """One of a few avatar colours, the same for a bot every time."""
    return int(bot.pk.hex[:4], 16) % AVATAR_TONES


def chat_model_rows(tenant: Any, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chat models a bot may use (enabled for the organisation and not retired), plus ``keep`` (the
    bot's own models, whatever their state now, flagged), with context window and prices to read."""
    rows = []
    for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT):
        offered = bot_settings.offers_chat_model(row)
        if not offered and row["ref"] not in keep:
            continue
        presented = present_model(
            {**row, "typical_answer_cost_usd": provider_selectors.model_typical_answer_cost(row)}
        )
        presented["is_offered"] = offered
        rows.append(presented)
    listed = {row["ref"] for row in rows}
    for ref in keep:
        if ref and ref not in listed:  # a model gone from the catalog: still named, never offered
            rows.append(
                {"ref": ref, "display_name": ref, "provider": ref.partition(":")[0], "is_offered": False}
            )
    return rows


def model_names(tenant: Any) -> dict[str, str]:
    return {
        row["ref"]: row["display_name"]
        for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT)
    }


def present_bot(
    bot: Bot,
    names: dict[str, str],
    knowledge_bases: list[KnowledgeBase],
    readiness: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bot as its card and the builder's header show it; ``readiness`` is its chat model's
    (``providers.readiness.present_readiness``), when the page shows whether the bot can answer."""
    return {
        "bot": bot,
        "readiness": readiness,
        "tone": avatar_tone(bot),
        "model_name": names.get(bot.chat_model, bot.chat_model),
        "knowledge_bases": knowledge_bases,
        "conversations": getattr(bot, "conversation_total", None),
        "is_published": bot.status == BotStatus.PUBLISHED,
    }


def budget_share(spent: Decimal, budget: Decimal | None) -> int | None:
    """How much of a budget is spent, in percent (capped at 100), or None without a budget."""
    if budget is None:
        return None
    if budget <= 0:
        return 100
    return min(100, int(spent * 100 / budget))


def knowledge_base_rows(knowledge_bases: list[KnowledgeBase], form: Any) -> list[dict[str, Any]]:
    """The knowledge bases as ticked boxes, with their document counts, in the form's current state."""
    chosen = {str(value) for value in (form["knowledge_bases"].value() or [])}
    return [
        {
            "knowledge_base": knowledge_base,
            "checked": str(knowledge_base.pk) in chosen,
            "documents": getattr(knowledge_base, "document_total", 0) or 0,
            "ready": getattr(knowledge_base, "documents_ready", 0) or 0,
            "pending": getattr(knowledge_base, "documents_pending", 0) or 0,
        }
        for knowledge_base in knowledge_bases
    ]
