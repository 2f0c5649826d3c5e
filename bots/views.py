"""Dashboard pages for bots and their conversations: the bots, a new bot, the builder (every setting, in
sections, with a playground beside it that streams answers), the Install page (the widget's snippet and
key, the websites it may answer on, its look with the real widget previewed live, identity verification)
with its test page, and the conversations with their filters, export, answers in detail and corrections
into knowledge.

Views stay thin: they validate a form, call a service or selector, and render or redirect; what numbers
and sources look like for people is worked out here, in plain dictionaries the templates show.
Everything a visitor, a document or a model wrote is untrusted: templates rely on autoescaping and never
mark it safe, and ``static/js/bots.js`` inserts it with ``textContent``.

The playground is an async view, like the REST API's chat (``bots.chat_views``): an answer streams for
seconds and must not hold a worker thread or a database transaction. It is authenticated by the
session and protected by the CSRF middleware like every other dashboard form.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from bots import engine, limits, selectors, services, widget
from bots.chat_views import turn_result
from bots.engine import TurnFinished
from bots.forms import (
    BotCreateForm,
    BotForm,
    ConversationFilterForm,
    CorrectionForm,
    PlaygroundForm,
    RatingForm,
    WidgetForm,
    lines_initial,
)
from bots.models import (
    AnswerPolicy,
    Bot,
    BotStatus,
    Channel,
    Conversation,
    Message,
    MessageOutcome,
    WidgetIcon,
    WidgetPosition,
)
from bots.regression.views import add_to_suite_choices, drift_alert_rows
from bots.streaming import (
    EXPORT_FORMATS,
    TurnPresenter,
    event_stream,
    export_response,
    first_event,
    turn_events,
)
from core.errors import GroundworkError, NotFound
from core.formatting import duration_label
from core.problems import PROBLEM_CONTENT_TYPE, problem_body
from knowledge import selectors as knowledge_selectors
from knowledge.models import KnowledgeBase
from knowledge.views import MODE_SCORES, web_link
from providers import selectors as provider_selectors
from providers.models import ModelKind
from providers.presentation import compact_count, cost_label, present_model
from tenants.actors import Actor
from tenants.models import Role, User
from tenants.views_base import TenantView, form_with_errors, resolve_membership

CONVERSATIONS_PER_PAGE = 25
AVATAR_TONES = 6
SECTIONS = (
    ("identity", "Identity"),
    ("behaviour", "Behaviour"),
    ("model", "Model"),
    ("knowledge", "Knowledge"),
    ("publishing", "Publishing"),
    ("limits", "Limits"),
)
CHANNEL_ICONS: dict[str, str] = {
    Channel.PLAYGROUND: "joystick",
    Channel.API: "code-slash",
    Channel.OPENAI: "braces",
    Channel.WIDGET: "window-sidebar",
}
OUTCOME_TONES: dict[str, str] = {
    MessageOutcome.NO_ANSWER: "warning",
    MessageOutcome.CANCELLED: "neutral",
    MessageOutcome.ERROR: "danger",
    MessageOutcome.REFUSED: "danger",
}
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


# --- presentation -----------------------------------------------------------------------------------


def avatar_tone(bot: Bot) -> int:
    """One of a few avatar colours, the same for a bot every time."""
    return int(bot.pk.hex[:4], 16) % AVATAR_TONES


def present_citation(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation (or a retrieved passage) stored by the engine, with where it came from as a link only
    to an http(s) address or to the document's page in the dashboard."""
    source = str(citation.get("source") or "")
    anchor = str(citation.get("anchor") or "")
    link = web_link(anchor) or web_link(source)
    if link and anchor.startswith("#") and link == source:
        link += anchor
    page = citation.get("page_number")
    document_id = str(citation.get("document_id") or "")
    try:
        document_url = reverse("dashboard:knowledge_document", args=[uuid.UUID(document_id)])
    except ValueError:
        document_url = ""
    score = citation.get("score")
    return {
        "number": citation.get("number") or 0,
        "title": str(citation.get("title") or "Untitled"),
        "source": link or source,
        "link": link,
        "location": f"page {page}" if page else "",
        "snippet": str(citation.get("snippet") or ""),
        "text": str(citation.get("text") or citation.get("snippet") or ""),
        "heading_path": str(citation.get("heading_path") or ""),
        "score": round(float(score), 3) if isinstance(score, int | float) else None,
        "vector_rank": citation.get("vector_rank"),
        "text_rank": citation.get("text_rank"),
        "document_url": document_url,
    }


def chat_model_rows(tenant: Any, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chat models a bot may use (enabled for the organisation and not retired), plus ``keep`` (the
    bot's own models, whatever their state now, flagged), with context window and prices to read."""
    rows = []
    for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT):
        offered = (row["is_enabled"] or row["is_default"]) and not row["is_retired"]
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


def present_bot(bot: Bot, names: dict[str, str], knowledge_bases: list[KnowledgeBase]) -> dict[str, Any]:
    return {
        "bot": bot,
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


def widget_snippet(bot: Bot) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f'<script src="{base}/widget.js" data-bot="{bot.publishable_key}" defer></script>'


# --- bots ---------------------------------------------------------------------------------------------


class BotsView(TenantView):
    _knowledge_bases: list[KnowledgeBase] | None = None

    def can_write(self) -> bool:
        return self.actor.can(Role.EDITOR)

    def knowledge_bases(self) -> list[KnowledgeBase]:
        """The tenant's knowledge bases with their document counts (read once per request)."""
        if self._knowledge_bases is None:
            self._knowledge_bases = list(knowledge_selectors.knowledge_base_list(tenant=self.tenant))
        return self._knowledge_bases

    def bot(self, pk: uuid.UUID) -> Bot:
        return selectors.bot_get(tenant=self.tenant, bot_id=pk)


class BotListView(BotsView):
    template_name = "bots/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        names = model_names(self.tenant)
        bots = [
            present_bot(bot, names, selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot))
            for bot in selectors.bot_list(tenant=self.tenant)
        ]
        context = {
            "bots": bots,
            "can_write": self.can_write(),
            "drift_alerts": drift_alert_rows(tenant=self.tenant),
        }
        return render(request, self.template_name, context)


class BotCreateView(BotsView):
    read_role = Role.EDITOR  # the form is for people who may use it
    template_name = "bots/create.html"

    def render_form(self, form: BotCreateForm, status: int = 200) -> HttpResponse:
        knowledge_bases = self.knowledge_bases()
        return render(
            self.request,
            self.template_name,
            {"form": form, "knowledge_base_rows": knowledge_base_rows(knowledge_bases, form)},
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        knowledge_bases = self.knowledge_bases()
        # With one knowledge base there is nothing to choose: it is ticked.
        initial = {"knowledge_bases": [str(knowledge_bases[0].pk)]} if len(knowledge_bases) == 1 else {}
        return self.render_form(BotCreateForm(knowledge_bases=knowledge_bases, initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = BotCreateForm(request.POST, knowledge_bases=self.knowledge_bases())
        if form.is_valid():
            try:
                bot = services.bot_create(
                    actor=self.actor,
                    name=form.cleaned_data["name"],
                    knowledge_base_ids=form.knowledge_base_ids(),
                )
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, f"Created {bot.name}. Ask it something in the playground.")
                return redirect("dashboard:bot", pk=bot.pk)
        return self.render_form(form, status=400)


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


class BotPage(BotsView):
    """The builder: a bot's settings in sections and the playground; the forms posted from it render it
    again with their errors."""

    template_name = "bots/builder.html"
    _model_rows: list[dict[str, Any]] | None = None

    def model_rows(self, bot: Bot) -> list[dict[str, Any]]:
        """The chat models the picker offers (read once per request)."""
        if self._model_rows is None:
            self._model_rows = chat_model_rows(self.tenant, keep=(bot.chat_model, bot.fallback_model))
        return self._model_rows

    def settings_form(self, bot: Bot, data: Any = None) -> BotForm:
        rows = self.model_rows(bot)
        initial: dict[str, Any] = {name: getattr(bot, name) for name in services.BOT_FIELDS}
        initial["suggested_questions"] = lines_initial(bot.suggested_questions)
        initial["knowledge_bases"] = [
            str(base.pk) for base in selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        ]
        return BotForm(
            data,
            knowledge_bases=self.knowledge_bases(),
            model_choices=[(row["ref"], row["display_name"]) for row in rows],
            initial=initial,
        )

    def render_page(self, bot: Bot, *, form: BotForm | None = None, status: int = 200) -> HttpResponse:
        form = form or self.settings_form(bot)
        rows = self.model_rows(bot)
        chosen_model = form["chat_model"].value()
        spent_today = selectors.bot_spend_today(tenant=self.tenant, bot=bot)
        model_settings = provider_selectors.model_settings(tenant=self.tenant)
        spent_month = provider_selectors.spend_this_month(tenant=self.tenant)
        attached = selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        names = {row["ref"]: row["display_name"] for row in rows}
        context = {
            "bot": bot,
            "item": present_bot(bot, names, attached),
            "form": form,
            "sections": SECTIONS,
            "chat_models": rows,
            "chosen_model": chosen_model,
            "chosen_model_row": next((row for row in rows if row["ref"] == chosen_model), None),
            "knowledge_base_rows": knowledge_base_rows(self.knowledge_bases(), form),
            "policy_choices": choice_rows(POLICY_CHOICES, form["answer_policy"].value()),
            "status_choices": choice_rows(STATUS_CHOICES, form["status"].value()),
            "reach": origin_reach(bot),
            "spent_today": cost_label(spent_today),
            "daily_share": budget_share(spent_today, bot.daily_budget_usd),
            "daily_budget": cost_label(bot.daily_budget_usd) if bot.daily_budget_usd is not None else "",
            "monthly_budget": (
                cost_label(model_settings.monthly_budget_usd)
                if model_settings.monthly_budget_usd is not None
                else ""
            ),
            "spent_month": cost_label(spent_month),
            "monthly_share": budget_share(spent_month, model_settings.monthly_budget_usd),
            "can_write": self.can_write(),
            "max_question": settings.CHAT_MAX_MESSAGE_CHARACTERS,
            "has_errors": bool(form.errors),
            "drift_alerts": drift_alert_rows(tenant=self.tenant, bot=bot),
        }
        return render(self.request, self.template_name, context, status=status)


class BotView(BotPage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.bot(pk))


class BotUpdateView(BotPage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        form = self.settings_form(bot, request.POST)
        if form.is_valid():
            try:
                updated = services.bot_update(actor=self.actor, bot_id=bot.pk, **form.settings())
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, f"Saved {updated.name}. The playground uses the new settings now.")
                return redirect("dashboard:bot", pk=bot.pk)
        return self.render_page(bot, form=form, status=400)


class BotRotateKeyView(BotsView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        services.bot_rotate_publishable_key(actor=self.actor, bot_id=bot.pk)
        messages.success(request, "New publishable key made. Pages embedding the old one must be updated.")
        return redirect(reverse("dashboard:bot_install", args=[bot.pk]) + "#snippet")


class BotDeleteView(BotsView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        services.bot_delete(actor=self.actor, bot_id=bot.pk)
        messages.success(request, f"Deleted {bot.name} with its conversations.")
        return redirect("dashboard:bots")


# --- the Install page ---------------------------------------------------------------------------------

# (value, what the icon choice shows): Bootstrap Icons close to the widget's own glyphs.
WIDGET_ICON_GLYPHS: dict[str, str] = {
    WidgetIcon.CHAT: "chat-dots-fill",
    WidgetIcon.HELP: "question-circle-fill",
    WidgetIcon.SPARKLES: "stars",
    WidgetIcon.HEADSET: "headset",
}


# What the tenant's server runs for identity verification (bots.widget.identity_hash), shown on the page and
# run by the tests, so the examples cannot drift from what Groundwork checks.
IDENTITY_EXAMPLE_PYTHON = """import hashlib
import hmac
import os

# The secret from the Install page, in your server's settings.
SECRET = os.environ["GROUNDWORK_IDENTITY_SECRET"]


def groundwork_user_hash(user_id: str) -> str:
    \"\"\"Vouches for a signed-in user to the chat widget.\"\"\"
    return hmac.new(
        SECRET.encode(), user_id.encode(), hashlib.sha256
    ).hexdigest()


# For the signed-in user, where the page is rendered:
#   user_id = str(user.pk)
#   user_hash = groundwork_user_hash(user_id)
"""
IDENTITY_EXAMPLE_NODE = """const crypto = require("node:crypto");

// The secret from the Install page, in your server's settings.
const SECRET = process.env.GROUNDWORK_IDENTITY_SECRET;

// Vouches for a signed-in user to the chat widget.
function groundworkUserHash(userId) {
  return crypto
    .createHmac("sha256", SECRET)
    .update(String(userId))
    .digest("hex");
}

// For the signed-in user, where the page is rendered:
//   const userId = String(user.id);
//   const userHash = groundworkUserHash(userId);
"""
IDENTITY_EXAMPLE_PAGE = """{snippet}
<script>
  // Your server writes USER_ID and USER_HASH into the page
  // (never the secret).
  window.addEventListener("DOMContentLoaded", function () {{
    Groundwork.identify({{
      userId: "USER_ID",
      userHash: "USER_HASH",
    }});
  }});
</script>
"""


def preview_script_url() -> str:
    """The loader as the dashboard's own pages embed it: a preview token is accepted only from Groundwork's
    origin, so it is loaded from where the page is served (the snippet names PUBLIC_BASE_URL, for tenants'
    websites)."""
    return reverse("widget_script")


def origin_reach(bot: Bot) -> dict[str, str]:
    """Where the saved widget answers, as one line and a tone (deny by default)."""
    if bot.allow_any_origin:
        return {"tone": "warning", "icon": "globe2", "text": "Any website allowed"}
    count = len(bot.allowed_origins)
    if count == 0:
        return {"tone": "danger", "icon": "slash-circle", "text": "No website allowed yet"}
    return {
        "tone": "ok",
        "icon": "shield-check",
        "text": f"{count} allowed website{'s' if count != 1 else ''}",
    }


def widget_choice_rows(form: WidgetForm) -> dict[str, list[dict[str, Any]]]:
    """The position and icon choices as the Install page draws them, in the form's current state."""
    position = form["widget_position"].value()
    icon = form["widget_icon"].value()
    return {
        "positions": [
            {"value": value, "label": label, "checked": value == position}
            for value, label in WidgetPosition.choices
        ],
        "icons": [
            {"value": value, "label": label, "glyph": WIDGET_ICON_GLYPHS[value], "checked": value == icon}
            for value, label in WidgetIcon.choices
        ],
    }


class BotInstallPage(BotsView):
    """The Install page: the snippet, where the widget may answer, how it looks (with the real widget
    restyled live beside the form) and identity verification."""

    template_name = "bots/install.html"

    def widget_form(self, bot: Bot, data: Any = None) -> WidgetForm:
        initial = {name: getattr(bot, name) for name in WidgetForm.base_fields}
        return WidgetForm(data, bot_name=bot.name, initial=initial)

    def render_page(
        self, bot: Bot, *, form: WidgetForm | None = None, new_identity_secret: str = "", status: int = 200
    ) -> HttpResponse:
        form = form or self.widget_form(bot)
        origins = form["allowed_origins"].value() or []
        context = {
            "bot": bot,
            "tone": avatar_tone(bot),
            "form": form,
            "origin_rows": [
                {"value": origin, "invalid": origin in form.invalid_origins} for origin in origins
            ],
            "reach": origin_reach(bot),
            "is_published": bot.status == BotStatus.PUBLISHED,
            "snippet": widget_snippet(bot),
            "widget_script": preview_script_url(),
            "preview_token": widget.preview_token(bot),
            "preview_host": urlsplit(bot.allowed_origins[0]).netloc
            if bot.allowed_origins
            else "www.example.com",
            "preview_hours": max(1, settings.WIDGET_PREVIEW_SECONDS // 3600),
            "identity_on": bool(bot.identity_secret),
            "new_identity_secret": new_identity_secret,
            "user_id_length": widget.MAX_USER_ID_LENGTH,
            "identity_examples": [
                ("python", "Python", "filetype-py", IDENTITY_EXAMPLE_PYTHON),
                ("node", "Node.js", "filetype-js", IDENTITY_EXAMPLE_NODE),
                (
                    "page",
                    "Your page",
                    "filetype-html",
                    IDENTITY_EXAMPLE_PAGE.format(snippet=widget_snippet(bot)),
                ),
            ],
            "can_write": self.can_write(),
            "can_manage_identity": self.actor.can(Role.ADMIN),
            "has_errors": bool(form.errors),
            **widget_choice_rows(form),
        }
        return render(self.request, self.template_name, context, status=status)


class BotInstallView(BotInstallPage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.bot(pk))

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        form = self.widget_form(bot, request.POST)
        if form.is_valid():
            try:
                services.bot_update(actor=self.actor, bot_id=bot.pk, **form.settings())
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(
                    request, "Saved. Pages with the snippet use the new settings on their next load."
                )
                return redirect("dashboard:bot_install", pk=bot.pk)
        return self.render_page(bot, form=form, status=400)


class BotPublishView(BotsView):
    """Publish from the Install page (the builder's Publishing section also sets the status)."""

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = services.bot_update(actor=self.actor, bot_id=self.bot(pk).pk, status=BotStatus.PUBLISHED)
        if bot.allow_any_origin or bot.allowed_origins:
            messages.success(request, f"Published {bot.name}: it answers visitors on your allowed websites.")
        else:
            messages.warning(
                request,
                f"Published {bot.name}. Add the websites it may answer on: until then it answers nowhere.",
            )
        return redirect(reverse("dashboard:bot_install", args=[bot.pk]) + "#snippet")


class BotIdentitySecretView(BotInstallPage):
    """A new identity-verification secret, shown in this response only (like a new API key)."""

    write_role = Role.ADMIN

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        # Reloading the page that showed the secret: the Install page, without it.
        return redirect(reverse("dashboard:bot_install", args=[self.bot(pk).pk]) + "#identity")

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        secret = services.bot_rotate_identity_secret(actor=self.actor, bot_id=self.bot(pk).pk)
        return self.render_page(self.bot(pk), new_identity_secret=secret)


class BotIdentitySecretClearView(BotsView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        services.bot_clear_identity_secret(actor=self.actor, bot_id=bot.pk)
        messages.success(request, "Identity verification is off: every visitor chats anonymously.")
        return redirect(reverse("dashboard:bot_install", args=[bot.pk]) + "#identity")


class BotWidgetTestView(BotsView):
    """A plain page with the real widget on it, as a visitor meets it; a preview token lets a draft
    answer here (and only on Groundwork's own pages)."""

    template_name = "bots/widget_test_page.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        return render(
            request,
            self.template_name,
            {
                "bot": bot,
                "is_published": bot.status == BotStatus.PUBLISHED,
                "widget_script": preview_script_url(),
                "preview_token": widget.preview_token(bot),
            },
        )


# --- the playground -----------------------------------------------------------------------------------


def _problem(request: HttpRequest, status: int, detail: str, errors: Any = None) -> JsonResponse:
    return JsonResponse(
        problem_body(status, detail, instance=request.path, errors=errors),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _playground_bot(request: HttpRequest, pk: uuid.UUID) -> tuple[Actor, Bot] | None:
    """The signed-in member's tenant and the bot, in a short transaction of their own (the request has
    none: the engine makes its own); None for a bot that is not there or not theirs."""
    with transaction.atomic():
        membership = resolve_membership(request)
        if membership is None:
            return None
        actor = Actor(tenant=membership.tenant, role=Role(membership.role), user=membership.user)
        try:
            bot = selectors.bot_get(tenant=actor.tenant, bot_id=pk)
        except NotFound:
            return None
        return actor, bot


def _playground_turn(score_label: str) -> TurnPresenter:
    """The turn as the playground shows it: the API's events, plus every retrieved passage with its
    score (the builder's view of why the bot answered as it did) and links for the dashboard."""
    return TurnPresenter(
        face="playground",
        sources=lambda event: {
            "citations": [present_citation(citation) for citation in event.citations],
            "retrieved": [present_citation(passage) for passage in event.retrieved],
            "standalone_question": event.standalone_question,
            "score_label": score_label,
        },
        done=_done,
    )


def _done(finished: TurnFinished) -> dict[str, Any]:
    return {
        **turn_result(finished),
        "citations": [present_citation(citation) for citation in finished.citations],
        "cost_label": cost_label(finished.cost_usd),
        "latency_label": duration_label(finished.latency_ms),
        "first_token_label": duration_label(finished.time_to_first_token_ms),
        "conversation_url": reverse("dashboard:conversation", args=[finished.conversation_id]),
    }


async def playground(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """Ask the bot a question from the builder: the answer streams as server-sent events (start,
    sources, token…, done, or error). Refusals (no question, rate limits, budgets) are problem+json
    responses before any stream starts, for the page to show as they are."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await request.auser()
    if not isinstance(user, User):
        return redirect_to_login(request.get_full_path())
    target = await sync_to_async(_playground_bot)(request, pk)
    if target is None:
        return _problem(request, 404, "No such bot.")
    actor, bot = target
    form = PlaygroundForm(request.POST)
    if not form.is_valid():
        first = str(next(iter(form.errors.values()))[0])
        return _problem(request, 400, first, errors=form.errors.get_json_data())
    events = engine.converse(
        tenant_id=actor.tenant.pk,
        bot_id=bot.pk,
        question=form.cleaned_data["message"],
        channel=Channel.PLAYGROUND,
        conversation_id=form.cleaned_data["conversation_id"],
        user=user,
    )
    try:
        started = await first_event(events)
    except GroundworkError as error:
        response = _problem(request, error.status, error.message, errors=error.field_errors)
        if isinstance(error, limits.RateLimited):
            response["Retry-After"] = str(error.retry_after)
        return response
    score_label = MODE_SCORES.get(bot.retrieval_mode, "score")
    return await event_stream(request, turn_events(events, started, _playground_turn(score_label)))


# The engine keeps its database work in short transactions of its own: nothing is held while a model speaks.
playground_view = transaction.non_atomic_requests(playground)


class RateView(TenantView):
    """Thumbs up or down on an answer (the playground's buttons). Viewers may rate, as in the API."""

    write_role = Role.VIEWER

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        message = selectors.message_get(tenant=self.tenant, message_id=pk)  # 404 before the body
        form = RatingForm(request.POST)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if not form.is_valid():
            if wants_json:
                return _problem(request, 400, "Rate an answer 1 (helpful) or -1 (not helpful).")
            messages.error(request, "Rate an answer helpful or not helpful.")
        else:
            try:
                rated = services.message_rate(
                    actor=self.actor,
                    message_id=message.pk,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"],
                )
            except GroundworkError as error:
                if wants_json:
                    return _problem(request, error.status, error.message)
                messages.error(request, error.message)
            else:
                if wants_json:
                    return JsonResponse({"message_id": str(rated.pk), "rating": rated.rating})
                messages.success(request, "Rating saved.")
        return redirect(reverse("dashboard:conversation", args=[message.conversation_id]) + f"#message-{pk}")


# --- conversations ------------------------------------------------------------------------------------


def present_message(message: Message, names: dict[str, str]) -> dict[str, Any]:
    is_answer = message.role == "assistant"
    return {
        "message": message,
        "is_answer": is_answer,
        "citations": [present_citation(citation) for citation in message.citations] if is_answer else [],
        "model_name": names.get(message.model_ref, message.model_ref),
        "cost_label": cost_label(message.cost_usd),
        "latency_label": duration_label(message.latency_ms),
        "first_token_label": duration_label(message.time_to_first_token_ms),
        "tokens_label": (
            f"{compact_count(message.input_tokens)} in · {compact_count(message.output_tokens)} out"
        ),
        "outcome_tone": OUTCOME_TONES.get(message.outcome, ""),
        "outcome_label": message.get_outcome_display() if message.outcome else "",
    }


def present_conversation(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "tone": avatar_tone(conversation.bot),
        "channel_icon": CHANNEL_ICONS.get(conversation.channel, "chat"),
        "cost_label": cost_label(conversation.cost_usd),
        "title": conversation.title or "Untitled conversation",
    }


class ConversationsView(TenantView):
    def bot_choices(self) -> list[tuple[str, str]]:
        return [(str(bot.pk), bot.name) for bot in selectors.bot_list(tenant=self.tenant)]

    def filter_form(self, bots: list[tuple[str, str]] | None = None) -> ConversationFilterForm:
        """The filters from the query string; unbound (no filters) when none is set."""
        data = self.request.GET if any(self.request.GET.get(name) for name in FILTER_NAMES) else None
        return ConversationFilterForm(data, bots=self.bot_choices() if bots is None else bots)


FILTER_NAMES = ("bot", "since", "until", "rating", "channel", "unanswered")


class ConversationListView(ConversationsView):
    template_name = "bots/conversations.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        bots = self.bot_choices()
        form = self.filter_form(bots)
        valid = not form.is_bound or form.is_valid()
        filters = form.filters() if form.is_bound and valid else {}
        conversations = selectors.conversation_list(tenant=self.tenant, **filters)
        if not valid:
            conversations = conversations.none()
        page = Paginator(conversations, CONVERSATIONS_PER_PAGE).get_page(request.GET.get("page"))
        query = {name: request.GET[name] for name in FILTER_NAMES if request.GET.get(name)}
        export_url = reverse("dashboard:conversations_export")
        return render(
            request,
            self.template_name,
            {
                "form": form,
                "filtered": bool(filters),
                "page": page,
                "conversations": [present_conversation(conversation) for conversation in page],
                "query": urlencode(query),
                "export_links": [
                    (name.upper(), f"{export_url}?{urlencode({**query, 'format': name})}")
                    for name in EXPORT_FORMATS
                ],
                "has_bots": bool(bots),
                "has_any": valid and page.paginator.count > 0,
            },
            status=200 if valid else 400,
        )


class ConversationExportView(ConversationsView):
    """Every message of the conversations the filters select, streamed as CSV or JSON Lines."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        export_format = request.GET.get("format", "csv")
        form = self.filter_form()
        if export_format not in EXPORT_FORMATS or (form.is_bound and not form.is_valid()):
            messages.error(request, "Check the filters: the export was not made.")
            return redirect("dashboard:conversations")
        filters = form.filters() if form.is_bound else {}
        return export_response(
            request, tenant_id=self.tenant.pk, filters=filters, export_format=export_format
        )


class ConversationView(ConversationsView):
    template_name = "bots/conversation.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        conversation = selectors.conversation_get(tenant=self.tenant, conversation_id=pk)
        names = model_names(self.tenant)
        thread = [
            present_message(message, names)
            for message in selectors.conversation_messages(tenant=self.tenant, conversation=conversation)
        ]
        corrected = None
        if request.GET.get("corrected"):
            try:
                corrected = knowledge_selectors.document_get(
                    tenant=self.tenant, document_id=request.GET["corrected"]
                )
            except (NotFound, ValueError):
                corrected = None
        answers = [item["message"] for item in thread if item["is_answer"]]
        return render(
            request,
            self.template_name,
            {
                "item": present_conversation(conversation),
                "conversation": conversation,
                "suite_choices": add_to_suite_choices(tenant=self.tenant, bot=conversation.bot),
                "bot": conversation.bot,
                "thread": thread,
                "corrected": corrected,
                "answers": len(answers),
                "rated_up": sum(1 for message in answers if message.rating == 1),
                "rated_down": sum(1 for message in answers if message.rating == -1),
                "input_tokens": sum(message.input_tokens for message in answers),
                "output_tokens": sum(message.output_tokens for message in answers),
                "can_write": self.actor.can(Role.EDITOR),
            },
        )


class CorrectionView(ConversationsView):
    """Correct an answer: a question-and-answer entry added to a knowledge base, so that the bots
    answering from it answer better next time."""

    read_role = Role.EDITOR
    template_name = "bots/correct.html"

    def answer(self, pk: uuid.UUID) -> Message:
        message = selectors.message_get(tenant=self.tenant, message_id=pk)
        if message.role != "assistant":
            raise Http404("Only the bot's answers can be corrected.")
        return message

    def render_form(self, message: Message, form: CorrectionForm, status: int = 200) -> HttpResponse:
        conversation = selectors.conversation_get(tenant=self.tenant, conversation_id=message.conversation_id)
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "message": message,
                "conversation": conversation,
                "item": present_message(message, model_names(self.tenant)),
                "has_knowledge_bases": bool(form.knowledge_base_count),
            },
            status=status,
        )

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        message = self.answer(pk)
        conversation = selectors.conversation_get(tenant=self.tenant, conversation_id=message.conversation_id)
        attached = selectors.bot_knowledge_bases(tenant=self.tenant, bot=conversation.bot)
        form = CorrectionForm(
            knowledge_bases=list(knowledge_selectors.knowledge_base_list(tenant=self.tenant)),
            initial={
                "question": selectors.question_for(tenant=self.tenant, answer=message),
                "knowledge_base": str(attached[0].pk) if attached else None,
            },
        )
        return self.render_form(message, form)

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        message = self.answer(pk)
        form = CorrectionForm(
            request.POST, knowledge_bases=list(knowledge_selectors.knowledge_base_list(tenant=self.tenant))
        )
        if form.is_valid():
            try:
                document = services.message_correct_into_knowledge(
                    actor=self.actor,
                    message_id=message.pk,
                    knowledge_base_id=form.cleaned_data["knowledge_base"],
                    question=form.cleaned_data["question"],
                    answer=form.cleaned_data["answer"],
                )
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                url = reverse("dashboard:conversation", args=[message.conversation_id])
                return redirect(f"{url}?{urlencode({'corrected': document.pk})}#message-{message.pk}")
        return self.render_form(message, form, status=400)
