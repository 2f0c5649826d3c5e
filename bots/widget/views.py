"""The Install page of a bot: the snippet and its publishable key, the websites the widget may answer on,
its look with the real widget previewed live, identity verification and a test page."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.forms import Form
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from bots import services
from bots.models import (
    Bot,
    BotStatus,
)
from bots.presentation import avatar_tone
from bots.views import BotsView
from bots.widget import installation, rules
from bots.widget import services as widget_services
from bots.widget.forms import WidgetForm
from bots.widget.presentation import (
    install_where,
    origin_reach,
    preview_script_url,
    snippet_parts,
    widget_choice_rows,
    widget_snippet,
)
from tenants.actors import Actor
from tenants.models import Role
from tenants.views_base import TenantFormView

# What the tenant's server runs for identity verification (bots.widget.rules.identity_hash), shown on the
# page as these files are and run by the tests, so the examples cannot drift from what Groundwork checks.
IDENTITY_EXAMPLES = Path(__file__).resolve().parent / "identity_examples"
IDENTITY_EXAMPLE_PYTHON = (IDENTITY_EXAMPLES / "groundwork_identity.py").read_text()
IDENTITY_EXAMPLE_NODE = (IDENTITY_EXAMPLES / "groundwork_identity.js").read_text()
# The page example starts with the bot's own snippet, written in where "{snippet}" stands.
IDENTITY_EXAMPLE_PAGE = (IDENTITY_EXAMPLES / "page.html").read_text()


def member_preview_token(actor: Actor, bot: Bot) -> str:
    # Dashboard pages are always a signed-in member's (API keys never reach them).
    assert actor.user is not None, "a dashboard page without a signed-in member"
    return rules.preview_token(bot, user=actor.user)


class BotInstallPage(BotsView):
    """The Install page: the snippet, where the widget may answer, how it looks (with the real widget
    restyled live beside the form) and identity verification."""

    template_name = "bots/widget/install.html"

    def widget_form(self, bot: Bot, data: Any = None) -> WidgetForm:
        initial = {name: getattr(bot, name) for name in WidgetForm.base_fields}
        return WidgetForm(data, bot_name=bot.name, initial=initial)

    def render_page(
        self, bot: Bot, *, form: WidgetForm | None = None, new_identity_secret: str = "", status: int = 200
    ) -> HttpResponse:
        form = form or self.widget_form(bot)
        origins = form["allowed_origins"].value() or []
        snippet = widget_snippet(bot, self.request)
        context = {
            "bot": bot,
            "tone": avatar_tone(bot),
            "form": form,
            "origin_rows": [
                {"value": origin, "invalid": origin in form.invalid_origins} for origin in origins
            ],
            "reach": origin_reach(bot),
            "is_published": bot.status == BotStatus.PUBLISHED,
            "snippet": snippet,
            "snippet_parts": snippet_parts(snippet),
            **installation_context(bot),
            "widget_script": preview_script_url(),
            "preview_token": member_preview_token(self.actor, bot),
            "preview_seconds": settings.WIDGET_PREVIEW_SECONDS,
            "preview_host": urlsplit(bot.allowed_origins[0]).netloc
            if bot.allowed_origins
            else "www.example.com",
            "identity_on": bool(bot.identity_secret),
            "new_identity_secret": new_identity_secret,
            "user_id_length": rules.MAX_USER_ID_LENGTH,
            "identity_examples": [
                ("python", "Python", "filetype-py", IDENTITY_EXAMPLE_PYTHON),
                ("node", "Node.js", "filetype-js", IDENTITY_EXAMPLE_NODE),
                (
                    "page",
                    "Your page",
                    "filetype-html",
                    IDENTITY_EXAMPLE_PAGE.replace("{snippet}", snippet),
                ),
            ],
            "can_write": self.can_write(),
            "can_manage_identity": self.actor.can(Role.ADMIN),
            "has_errors": bool(form.errors),
            **widget_choice_rows(form),
        }
        return render(self.request, self.template_name, context, status=status)


def installation_context(bot: Bot) -> dict[str, Any]:
    """What ``_installation_status.html`` shows: the last page load seen on a website, or where to paste."""
    return {
        "installation": installation.widget_installation(publishable_key=bot.publishable_key),
        "installation_where": install_where(bot),
    }


class BotInstallationStatusView(BotsView):
    """The Install page's "installation detected" line, polled (htmx) while the widget was never seen."""

    template_name = "bots/widget/_installation_status.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        response = render(request, self.template_name, {"bot": bot, **installation_context(bot)})
        response["Cache-Control"] = "no-store"
        return response


class BotInstallView(BotInstallPage, TenantFormView):
    def make_form(self, data: Any = None) -> WidgetForm:
        return self.widget_form(self.bot(self.kwargs["pk"]), data)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, WidgetForm)
        return self.render_page(self.bot(self.kwargs["pk"]), form=form, status=status)

    def perform(self, form: Form) -> Bot:
        assert isinstance(form, WidgetForm)
        return services.bot_update(actor=self.actor, bot_id=self.kwargs["pk"], **form.settings())

    def success_url(self, result: Bot) -> str:
        return reverse("dashboard:bot_install", args=[result.pk])

    def success_message(self, result: Bot) -> str:
        return "Saved. Pages with the snippet use the new settings on their next load."


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
        secret = widget_services.bot_rotate_identity_secret(actor=self.actor, bot_id=self.bot(pk).pk)
        return self.render_page(self.bot(pk), new_identity_secret=secret)


class BotIdentitySecretClearView(BotsView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        widget_services.bot_clear_identity_secret(actor=self.actor, bot_id=bot.pk)
        messages.success(request, "Identity verification is off: every visitor chats anonymously.")
        return redirect(reverse("dashboard:bot_install", args=[bot.pk]) + "#identity")


class BotWidgetTestView(BotsView):
    """A plain page with the real widget on it, as a visitor meets it; a preview token lets a draft
    answer here (and only on Groundwork's own pages)."""

    template_name = "bots/widget/test_page.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        return render(
            request,
            self.template_name,
            {
                "bot": bot,
                "is_published": bot.status == BotStatus.PUBLISHED,
                "widget_script": preview_script_url(),
                "preview_token": member_preview_token(self.actor, bot),
                "preview_seconds": settings.WIDGET_PREVIEW_SECONDS,
            },
        )


class BotPreviewTokenView(BotsView):
    """A fresh preview token for the page the member has open (app.js fetches one before the page's
    token ends: preview tokens live 15 minutes), for whoever may see the Install page."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> JsonResponse:
        bot = self.bot(pk)
        response = JsonResponse(
            {
                "token": member_preview_token(self.actor, bot),
                "expires_in": settings.WIDGET_PREVIEW_SECONDS,
            }
        )
        response["Cache-Control"] = "no-store"
        return response
