"""The home page's reads: the getting-started checklist, the tenant's bots with their state, and the
latest conversations.

The home page gathers every app, so this module reads across them through their selectors (and
``providers.readiness`` for "can this bot's model answer?"); the few existence checks the checklist
needs are one query of ``EXISTS`` subqueries, so the checklist costs a fixed number of queries however
much the tenant has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, Q, QuerySet
from django.urls import reverse

from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
from bots.models import Bot, BotStatus, Conversation
from bots.presentation import avatar_tone
from bots.widget import installation
from knowledge.models import Document, DocumentStatus
from providers import selectors as provider_selectors
from providers.models import CustomModel, ModelKind, ProviderCredential
from providers.readiness import ModelReadiness, fix_href, readiness_by_ref
from tenants.models import Invitation, Membership, Role, Tenant

HOME_BOTS = 6
HOME_CONVERSATIONS = 5


@dataclass(frozen=True)
class ChecklistItem:
    """One step of getting started: ``key`` is the page's stable hook (``data-checklist-item``)."""

    key: str
    title: str
    text: str  # what to do, or what was done
    done: bool
    url: str
    action: str  # the link's words


@dataclass(frozen=True)
class Checklist:
    items: list[ChecklistItem]

    @property
    def done_count(self) -> int:
        return sum(item.done for item in self.items)

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.items)


@dataclass(frozen=True)
class HomeBot:
    bot: Bot
    readiness: ModelReadiness
    fix_href: str  # the readiness fix, coming back to the home page; empty when there is none

    @property
    def is_published(self) -> bool:
        return self.bot.status == BotStatus.PUBLISHED

    @property
    def tone(self) -> int:
        return avatar_tone(self.bot)


def _tenant_facts(tenant: Tenant) -> dict[str, Any]:
    """Whether each thing the checklist looks for exists, in one query."""
    facts = (
        Tenant.objects.filter(pk=tenant.pk)
        .values("pk")
        .annotate(
            has_credential=Exists(ProviderCredential.objects.for_tenant(tenant)),
            has_own_chat_model=Exists(CustomModel.objects.for_tenant(tenant).filter(kind=ModelKind.CHAT)),
            has_ready_document=Exists(
                Document.objects.for_tenant(tenant).filter(status=DocumentStatus.READY)
            ),
            has_bot=Exists(Bot.objects.for_tenant(tenant)),
            has_tried_bot=Exists(Conversation.objects.for_tenant(tenant)),
            has_invitation=Exists(Invitation.objects.for_tenant(tenant)),
            has_second_member=Exists(Membership.objects.for_tenant(tenant).filter(~Q(role=Role.OWNER))),
        )
        .get()
    )
    return dict(facts)


def widget_installed(tenant: Tenant) -> bool:
    """Has the widget of one of the tenant's bots loaded on one of its websites? The Install page's
    "installation detected" record (``bots.widget.installation``), not a widget conversation: the
    owner's preview on the Install page starts those too. One query and one Redis round trip."""
    keys = list(bot_selectors.bot_list(tenant=tenant).values_list("publishable_key", flat=True))
    return installation.any_installed(publishable_keys=keys)


def getting_started(*, tenant: Tenant) -> Checklist:
    """The five steps of a first run, each done or not from the tenant's data: six queries, seven when
    the tenant has its own models, whatever the number of its bots, documents or conversations."""
    facts = _tenant_facts(tenant)
    model_settings = provider_selectors.model_settings(tenant=tenant)
    # Each bot's id, model and status, by name: the models in use, and the bots the links open.
    bots = list(bot_selectors.bot_list(tenant=tenant).values_list("pk", "chat_model", "status"))
    chosen = {*model_settings.enabled_models, model_settings.default_chat_model, *(bot[1] for bot in bots)}
    readiness = readiness_by_ref(tenant=tenant, refs=chosen)
    model_connected = (
        facts["has_credential"]
        or facts["has_own_chat_model"]
        or any(model.can_answer for model in readiness.values())
    )
    first_bot = bots[0][0] if bots else None
    # The widget goes on a site once a bot is published: its Install page, else the first bot's.
    to_install = next((bot[0] for bot in bots if bot[2] == BotStatus.PUBLISHED), first_bot)
    installed = widget_installed(tenant)  # the one place that decides it
    models_url = reverse("dashboard:models") + "#providers"
    return Checklist(
        items=[
            ChecklistItem(
                key="connect-model",
                title="Connect a model",
                text="A language model writes your bots' answers."
                if model_connected
                else "Add an OpenAI or Anthropic key, or your own model server, so bots write answers.",
                done=model_connected,
                url=models_url,
                action="Models",
            ),
            ChecklistItem(
                key="add-knowledge",
                title="Add knowledge",
                text="Your help content is ready to answer from."
                if facts["has_ready_document"]
                else "Upload files, add web pages or paste your FAQ into a knowledge base.",
                done=facts["has_ready_document"],
                url=reverse("dashboard:knowledge"),
                action="Knowledge",
            ),
            ChecklistItem(
                key="build-bot",
                title="Build and try a bot",
                text="A bot has answered its first questions."
                if facts["has_bot"] and facts["has_tried_bot"]
                else "Create a bot that answers from your knowledge, then try it in the playground.",
                done=facts["has_bot"] and facts["has_tried_bot"],
                url=reverse("dashboard:bot", args=[first_bot])
                if first_bot
                else reverse("dashboard:bot_create"),
                action="Open the bot" if first_bot else "Create a bot",
            ),
            ChecklistItem(
                key="install-widget",
                title="Install the widget",
                text="The widget has loaded on one of your websites."
                if installed
                else "Paste one script tag into your website to put the chat widget on it.",
                done=installed,
                url=reverse("dashboard:bot_install", args=[to_install])
                if to_install
                else reverse("dashboard:bots"),
                action="Install" if to_install else "Bots",
            ),
            ChecklistItem(
                key="invite-team",
                title="Invite your team",
                text="Your colleagues are invited."
                if facts["has_invitation"] or facts["has_second_member"]
                else "Bring in the colleagues who write knowledge and review answers.",
                done=facts["has_invitation"] or facts["has_second_member"],
                url=reverse("dashboard:team"),
                action="Team",
            ),
        ]
    )


def home_bots(*, tenant: Tenant, next_path: str) -> list[HomeBot]:
    """The first bots by name, each with whether its model can answer and the fix that comes back to
    ``next_path`` (four queries)."""
    bots = list(bot_selectors.bot_list(tenant=tenant)[:HOME_BOTS])
    readiness = readiness_by_ref(tenant=tenant, refs={bot.chat_model for bot in bots}) if bots else {}
    return [
        HomeBot(
            bot=bot,
            readiness=readiness[bot.chat_model],
            fix_href=fix_href(readiness[bot.chat_model], next_path=next_path),
        )
        for bot in bots
    ]


def recent_conversations(*, tenant: Tenant) -> QuerySet[Conversation]:
    """The latest conversations of every bot and channel, with their bot."""
    return chat_selectors.conversation_list(tenant=tenant)[:HOME_CONVERSATIONS]
