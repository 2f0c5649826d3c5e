"""Dashboard pages for bots: the list, a new bot and the builder (every setting, in sections, with the
playground of ``bots.chat.views`` beside it). The Install page is ``bots.widget.views``; conversations are
``bots.chat.views``.

Views stay thin: they validate a form, call a service or selector, and render or redirect; what bots
look like for people is worked out in ``bots.presentation``, in plain dictionaries the templates show.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.forms import Form
from django.http import (
    HttpRequest,
    HttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from bots import selectors, services
from bots.chat import selectors as chat_selectors
from bots.forms import BotCreateForm, BotForm, lines_initial
from bots.models import Bot, BotStatus
from bots.presentation import (
    POLICY_CHOICES,
    STATUS_CHOICES,
    budget_share,
    chat_model_rows,
    choice_rows,
    knowledge_base_rows,
    model_names,
    present_bot,
)
from bots.regression.presentation import drift_alert_rows
from bots.widget.presentation import origin_reach
from knowledge import selectors as knowledge_selectors
from knowledge.models import KnowledgeBase
from providers import selectors as provider_selectors
from providers.presentation import cost_label
from providers.readiness import (
    NO_LLM_MODEL,
    ModelReadiness,
    fix_href,
    present_readiness,
    readiness_by_ref,
)
from tenants.models import Role
from tenants.views_base import TenantFormView, TenantView

# The confirmation's submit button: its name, posted with the settings, says "publish all the same".
PUBLISH_ANYWAY = "publish_anyway"
# Its other answer, which comes first so that Enter in a field (the form's default button) never publishes.
SAVE_AS_DRAFT = "save_as_draft"

SECTIONS = (
    ("identity", "Identity"),
    ("behaviour", "Behaviour"),
    ("model", "Model"),
    ("knowledge", "Knowledge"),
    ("publishing", "Publishing"),
    ("limits", "Limits"),
)


def visitors_get_instead(readiness: ModelReadiness) -> str:
    """What visitors get from a published bot whose model cannot write answers, said before publishing."""
    if readiness.connected and not readiness.writes_answers:
        # The problem itself already says what they get instead (passages with their sources).
        return "That is what visitors of your website will see."
    return "Visitors will be told “The assistant can't answer right now” until this is fixed."


# --- bots ---------------------------------------------------------------------------------------------


class BotsView(TenantView):
    _knowledge_bases: list[KnowledgeBase] | None = None
    _bot: Bot | None = None

    def can_write(self) -> bool:
        return self.actor.can(Role.EDITOR)

    def knowledge_bases(self) -> list[KnowledgeBase]:
        """The tenant's knowledge bases with their document counts (read once per request)."""
        if self._knowledge_bases is None:
            self._knowledge_bases = list(knowledge_selectors.knowledge_base_list(tenant=self.tenant))
        return self._knowledge_bases

    def bot(self, pk: uuid.UUID) -> Bot:
        """The URL's bot, read once per request."""
        if self._bot is None or self._bot.pk != pk:
            self._bot = selectors.bot_get(tenant=self.tenant, bot_id=pk)
        return self._bot


class BotListView(BotsView):
    template_name = "bots/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        names = model_names(self.tenant)
        bots = list(selectors.bot_list(tenant=self.tenant))
        knowledge_bases = selectors.knowledge_bases_of_bots(tenant=self.tenant, bots=bots)
        readiness = readiness_by_ref(tenant=self.tenant, refs={bot.chat_model for bot in bots})
        here = reverse("dashboard:bots")
        rows = [
            present_bot(
                bot,
                names,
                knowledge_bases[bot.pk],
                present_readiness(readiness[bot.chat_model], next_path=here),
            )
            for bot in bots
        ]
        context = {
            "bots": rows,
            "can_write": self.can_write(),
            "drift_alerts": drift_alert_rows(tenant=self.tenant),
        }
        return render(request, self.template_name, context)


class BotCreateView(BotsView, TenantFormView):
    read_role = Role.EDITOR  # the form is for people who may use it
    template_name = "bots/create.html"

    def make_form(self, data: Any = None) -> BotCreateForm:
        knowledge_bases = self.knowledge_bases()
        # With one knowledge base there is nothing to choose: it is ticked.
        initial = {"knowledge_bases": [str(knowledge_bases[0].pk)]} if len(knowledge_bases) == 1 else {}
        return BotCreateForm(data, knowledge_bases=knowledge_bases, initial=initial)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        rows = knowledge_base_rows(self.knowledge_bases(), form)
        return render(
            self.request, self.template_name, {"form": form, "knowledge_base_rows": rows}, status=status
        )

    def perform(self, form: Form) -> Bot:
        assert isinstance(form, BotCreateForm)
        return services.bot_create(
            actor=self.actor, name=form.cleaned_data["name"], knowledge_base_ids=form.knowledge_base_ids()
        )

    def success_url(self, result: Bot) -> str:
        return reverse("dashboard:bot", args=[result.pk])

    def success_message(self, result: Bot) -> str:
        return f"Created {result.name}. Ask it something in the playground."


class BotPage(BotsView):
    """The builder: a bot's settings in sections and the playground; the forms posted from it render it
    again with their errors."""

    template_name = "bots/builder.html"
    _model_rows: list[dict[str, Any]] | None = None

    def model_rows(self, bot: Bot) -> list[dict[str, Any]]:
        """The chat models the picker offers (read once per request), each with its readiness: the builder
        shows the chosen one's problem, and models.js the one of any model picked before saving."""
        if self._model_rows is None:
            rows = chat_model_rows(self.tenant, keep=(bot.chat_model, bot.fallback_model))
            readiness = readiness_by_ref(tenant=self.tenant, refs=[row["ref"] for row in rows])
            back = reverse("dashboard:bot", args=[bot.pk]) + "#model"
            for row in rows:
                row["readiness"] = present_readiness(readiness[row["ref"]], next_path=back)
            self._model_rows = rows
        return self._model_rows

    def settings_form(self, bot: Bot, data: Any = None) -> BotForm:
        rows = self.model_rows(bot)
        initial: dict[str, Any] = {name: getattr(bot, name) for name in services.BOT_FIELDS}
        initial["suggested_questions"] = lines_initial(bot.suggested_questions)
        initial["no_daily_budget"] = bot.daily_budget_usd is None
        initial["knowledge_bases"] = [
            str(base.pk) for base in selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        ]
        return BotForm(
            data,
            knowledge_bases=self.knowledge_bases(),
            model_choices=[(row["ref"], row["display_name"]) for row in rows],
            initial=initial,
        )

    def render_page(
        self,
        bot: Bot,
        *,
        form: BotForm | None = None,
        status: int = 200,
        publish_confirm: ModelReadiness | None = None,
    ) -> HttpResponse:
        form = form or self.settings_form(bot)
        rows = self.model_rows(bot)
        chosen_model = form["chat_model"].value()
        spent_today = chat_selectors.bot_spend_today(tenant=self.tenant, bot=bot)
        model_settings = provider_selectors.model_settings(tenant=self.tenant)
        spent_month = provider_selectors.spend_this_month(tenant=self.tenant)
        attached = selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        names = {row["ref"]: row["display_name"] for row in rows}
        chosen_row = next((row for row in rows if row["ref"] == chosen_model), None)
        saved_row = next((row for row in rows if row["ref"] == bot.chat_model), None)
        context = {
            "bot": bot,
            "item": present_bot(bot, names, attached, saved_row["readiness"] if saved_row else None),
            "form": form,
            "sections": SECTIONS,
            "chat_models": rows,
            "chosen_model": chosen_model,
            "chosen_model_row": chosen_row,
            "chosen_readiness": chosen_row["readiness"] if chosen_row else None,
            "no_llm_chosen": chosen_model == NO_LLM_MODEL,
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
            "publish_confirm": publish_confirm,
            "publish_fix_href": (
                fix_href(publish_confirm, next_path=reverse("dashboard:bot", args=[bot.pk]))
                if publish_confirm
                else ""
            ),
            "publish_instead": visitors_get_instead(publish_confirm) if publish_confirm else "",
        }
        return render(self.request, self.template_name, context, status=status)


class BotView(BotPage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.bot(pk))


class BotUpdateView(BotPage, TenantFormView):
    http_method_names = ["post"]

    def make_form(self, data: Any = None) -> BotForm:
        if data is not None and data.get(SAVE_AS_DRAFT):
            data = data.copy()  # the confirmation's other answer: the same settings, as a draft
            data["status"] = BotStatus.DRAFT
        return self.settings_form(self.bot(self.kwargs["pk"]), data)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Putting a bot that cannot write answers in front of visitors is confirmed first: the page comes
        # back with the posted settings, nothing saved, and a "Publish anyway" button that posts them again.
        form = self.make_form(request.POST)
        if form.is_valid() and not request.POST.get(PUBLISH_ANYWAY):
            bot = self.bot(self.kwargs["pk"])
            readiness = selectors.publish_needs_confirmation(
                tenant=self.tenant,
                bot=bot,
                status=form.cleaned_data["status"],
                chat_model=form.cleaned_data["chat_model"],
            )
            if readiness is not None:
                return self.render_page(bot, form=form, publish_confirm=readiness)
        return super().post(request, *args, **kwargs)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, BotForm)
        return self.render_page(self.bot(self.kwargs["pk"]), form=form, status=status)

    def perform(self, form: Form) -> Bot:
        assert isinstance(form, BotForm)
        return services.bot_update(actor=self.actor, bot_id=self.kwargs["pk"], **form.settings())

    def success_url(self, result: Bot) -> str:
        return reverse("dashboard:bot", args=[result.pk])

    def success_message(self, result: Bot) -> str:
        return f"Saved {result.name}. The playground uses the new settings now."


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
