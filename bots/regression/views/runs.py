"""Dashboard pages of regression runs: starting one (the live bot and up to three candidates), a run
with its progress and then its side-by-side report, acknowledging drift, and the builder's model-switch
gate that says what the bot's suites found for a model (and runs a suite with it)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from bots.models import (
    RunStatus,
)
from bots.presentation import avatar_tone, model_names
from bots.regression import selectors, services
from bots.regression.forms import (
    place_run_error,
)
from bots.regression.presentation import (
    present_changes,
    present_drift,
    present_gate,
    present_report,
    present_run,
    safe_next,
)
from bots.regression.views.suites import RegressionView, SuitePage
from core.errors import GroundworkError, ValidationFailed
from core.formatting import elapsed_label


class SuiteRunView(SuitePage):
    """Start a run: the live bot and up to three candidates, each changing any of the settings."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        run_form, candidate_forms = self.run_forms(suite.bot, request.POST)
        valid = run_form.is_valid() & all([form.is_valid() for form in candidate_forms])
        if valid:
            used = [form for form in candidate_forms if not form.is_empty()]
            candidates = [
                {"label": form.cleaned_data["label"], "overrides": form.overrides()} for form in used
            ]
            try:
                run = services.run_start(
                    actor=self.actor,
                    suite_id=suite.pk,
                    candidates=candidates,
                    include_live=run_form.cleaned_data["include_live"],
                )
            except ValidationFailed as error:
                place_run_error(error, run_form, used)
            except GroundworkError as error:
                run_form.add_error(None, error.message)
            else:
                messages.success(request, "Run started. This page follows its progress.")
                return redirect("dashboard:run", pk=run.pk)
        return self.render_page(suite, run_forms=(run_form, candidate_forms), status=400)


class RunView(RegressionView):
    template_name = "bots/regression/run.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        run = self.run(pk)
        names = model_names(self.tenant)
        configurations = selectors.run_configurations(tenant=self.tenant, run=run)
        summary = present_run(run, configurations, with_wait_reason=True)
        report = None
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED) and run.done:
            report = present_report(selectors.run_report(tenant=self.tenant, run=run), names)
        return render(
            request,
            self.template_name,
            {
                "run": run,
                "item": summary,
                "suite": run.suite,
                "bot": run.suite.bot,
                "tone": avatar_tone(run.suite.bot),
                "configurations": [
                    {"configuration": c, "changes": present_changes(c.overrides, names)}
                    for c in configurations
                ],
                "report": report,
                "drift": present_drift(run) if run.drift_detected else None,
                "duration": elapsed_label(run.started_at, run.finished_at),
                "can_write": self.can_write(),
            },
        )


class RunProgressView(RegressionView):
    """The progress card, polled every 2 s while the run is queued or running; once it is not, the page
    reloads to show the report."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        run = self.run(pk)
        configurations = selectors.run_configurations(tenant=self.tenant, run=run)
        item = present_run(run, configurations, with_wait_reason=True)
        response = render(request, "bots/regression/_run_progress.html", {"run": run, "item": item})
        if not item["is_pending"]:
            response["HX-Refresh"] = "true"
        return response


class RunAcknowledgeView(RegressionView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        run = self.run(pk)
        services.run_acknowledge_drift(actor=self.actor, run_id=run.pk)
        messages.success(request, f"Drift alert of “{run.suite.name}” acknowledged.")
        return redirect(safe_next(request, reverse("dashboard:run", args=[run.pk])))


class SuiteModelGateView(RegressionView):
    """GET ``?model=<ref>`` (or ``chat_model=``, as the builder's picker names it): what the bot's suites
    say about switching to that model. POST ``gate_suite`` + ``gate_model``: run that suite with the live
    bot and the model as a candidate (from the gate's "Run it now")."""

    template_name = "bots/regression/_model_gate.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        model = (request.GET.get("model") or request.GET.get("chat_model") or "").strip()[:200]
        context: dict[str, Any] = {"bot": bot, "can_write": self.can_write(), "gate": None}
        if model and model != bot.chat_model:
            gate = selectors.model_gate(tenant=self.tenant, bot=bot, candidate_model=model)
            suites = list(selectors.suite_list(tenant=self.tenant, bot=bot))
            context["gate"] = present_gate(self.tenant, bot, gate, model_names(self.tenant), suites)
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        model = request.POST.get("gate_model", "").strip()[:200]
        fallback = reverse("dashboard:suites", args=[bot.pk])
        suite = self.suite(request.POST.get("gate_suite", ""))  # another tenant's: 404
        try:
            if suite.bot_id != bot.pk:
                raise ValidationFailed("Choose a suite of this bot.")
            run = services.run_start(
                actor=self.actor, suite_id=suite.pk, candidates=[{"overrides": {"chat_model": model}}]
            )
        except GroundworkError as error:
            messages.error(request, error.message)
            target = fallback
        else:
            messages.success(request, "Run started: the live bot against the model you chose.")
            target = reverse("dashboard:run", args=[run.pk])
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)
