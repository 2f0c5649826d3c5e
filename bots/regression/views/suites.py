"""Dashboard pages for regression suites: a bot's suites and a new one, a suite with its cases (by hand,
imported, exported, from recent answers), its settings and the run form, and "add to a regression suite"
beside a conversation's answer. Runs are ``bots.regression.views.runs``.

Views stay thin: they validate a form, call a service or selector of ``bots.regression``, and render or
redirect; what numbers, checks and verdicts look like for people is worked out in
``bots.regression.presentation``. Questions, answers, facts, notes and titles are untrusted text (a
visitor, a document or a model wrote them): templates rely on autoescaping and never mark them safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify

from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
from bots.chat.exports import EXPORT_FORMATS
from bots.models import (
    Bot,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    SuiteSchedule,
)
from bots.presentation import avatar_tone, model_names
from bots.regression import case_files, selectors, services
from bots.regression.forms import (
    CANDIDATE_SLOTS,
    FROM_CONVERSATIONS,
    NEW_SUITE,
    AddToSuiteForm,
    CandidateForm,
    CaseForm,
    ImportForm,
    RunForm,
    SuiteForm,
    candidate_prefix,
    case_initial,
    suite_initial,
)
from bots.regression.presentation import (
    chat_model_choices,
    document_choices,
    drift_alert_rows,
    embedding_model_rows,
    judge_model_choices,
    live_settings,
    present_case,
    present_run,
    recent_answers,
    safe_next,
)
from core.errors import GroundworkError
from core.formatting import percent
from knowledge.forms import embedding_choices
from tenants.models import Role
from tenants.views_base import TenantFormView, TenantView

RECENT_RUNS = 10


# --- the base view ----------------------------------------------------------------------------------


class RegressionView(TenantView):
    def can_write(self) -> bool:
        return self.actor.can(Role.EDITOR)

    def read_once(self, key: str, read: Callable[[], Any]) -> Any:
        """What ``read`` returns, read once per request (the form views ask for their object in several
        of their hooks)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_read_once", {})
        if key not in cache:
            cache[key] = read()
        return cache[key]

    def bot(self, pk: uuid.UUID | str) -> Bot:
        return self.read_once(f"bot:{pk}", lambda: bot_selectors.bot_get(tenant=self.tenant, bot_id=pk))

    def suite(self, pk: uuid.UUID | str) -> RegressionSuite:
        return self.read_once(f"suite:{pk}", lambda: selectors.suite_get(tenant=self.tenant, suite_id=pk))

    def run(self, pk: uuid.UUID | str) -> RegressionRun:
        return selectors.run_get(tenant=self.tenant, run_id=pk)

    def suite_form(self, data: Any = None, *, current_judge: str = "", **kwargs: Any) -> SuiteForm:
        # Only models that can judge are offered; a suite's current judge stays, marked.
        choices = judge_model_choices(self.tenant, current_judge)
        return SuiteForm(data, model_choices=choices, **kwargs)


# --- a bot's suites ---------------------------------------------------------------------------------


class SuitesView(RegressionView, TenantFormView):
    """A bot's suites with their latest runs, and a new suite."""

    template_name = "bots/regression/suites.html"

    def render_page(self, bot: Bot, form: SuiteForm | None = None, status: int = 200) -> HttpResponse:
        drifting = {alert.suite_id for alert in selectors.drift_alerts(tenant=self.tenant, bot=bot)}
        rows = []
        for suite in selectors.suite_list(tenant=self.tenant, bot=bot):
            latest = selectors.latest_run(suite=suite)
            rows.append(
                {
                    "suite": suite,
                    "latest": (
                        present_run(latest, selectors.run_configurations(tenant=self.tenant, run=latest))
                        if latest
                        else None
                    ),
                    "drifting": suite.pk in drifting,
                    "scheduled": suite.schedule != SuiteSchedule.OFF,
                }
            )
        return render(
            self.request,
            self.template_name,
            {
                "bot": bot,
                "tone": avatar_tone(bot),
                "suites": rows,
                "form": form or self.suite_form(initial={"schedule": SuiteSchedule.OFF}),
                "can_write": self.can_write(),
                "drift_alerts": drift_alert_rows(tenant=self.tenant, bot=bot),
                "has_errors": bool(form and form.errors),
            },
            status=status,
        )

    def make_form(self, data: Any = None) -> SuiteForm:
        return self.suite_form(data, initial={"schedule": SuiteSchedule.OFF})

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, SuiteForm)
        return self.render_page(self.bot(self.kwargs["pk"]), form if form.is_bound else None, status)

    def perform(self, form: Form) -> RegressionSuite:
        assert isinstance(form, SuiteForm)
        bot = self.bot(self.kwargs["pk"])
        return services.suite_create(actor=self.actor, bot_id=bot.pk, **form.settings())

    def success_url(self, result: RegressionSuite) -> str:
        return reverse("dashboard:suite", args=[result.pk])

    def success_message(self, result: RegressionSuite) -> str:
        return f"Created the suite “{result.name}”. Add the questions it checks."


# --- one suite --------------------------------------------------------------------------------------


class SuitePage(RegressionView):
    template_name = "bots/regression/suite.html"

    def run_forms(
        self, bot: Bot, data: Any = None, initial_model: str = ""
    ) -> tuple[RunForm, list[CandidateForm]]:
        names = model_names(self.tenant)
        live = live_settings(self.tenant, bot, names)
        chat_choices = chat_model_choices(self.tenant)
        embedding = embedding_choices(embedding_model_rows(self.tenant))
        candidates = [
            CandidateForm(
                data,
                prefix=candidate_prefix(index),
                chat_choices=chat_choices,
                embedding_choices=embedding,
                live=live,
                initial={"chat_model": initial_model} if index == 0 and initial_model else None,
            )
            for index in CANDIDATE_SLOTS
        ]
        return RunForm(data, initial={"include_live": True}), candidates

    def render_page(
        self,
        suite: RegressionSuite,
        *,
        case_form: CaseForm | None = None,
        import_form: ImportForm | None = None,
        settings_form: SuiteForm | None = None,
        run_forms: tuple[RunForm, list[CandidateForm]] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        bot = suite.bot
        documents = document_choices(self.tenant, bot)
        titles = dict(documents)
        names = model_names(self.tenant)
        cases = [present_case(case, titles) for case in selectors.case_list(tenant=self.tenant, suite=suite)]
        runs = [
            present_run(run, selectors.run_configurations(tenant=self.tenant, run=run))
            for run in selectors.run_list(tenant=self.tenant, suite=suite)[:RECENT_RUNS]
        ]
        run_form, candidate_forms = run_forms or self.run_forms(
            bot, initial_model=self.request.GET.get("candidate", "")
        )
        export_url = reverse("dashboard:suite_export", args=[suite.pk])
        return render(
            self.request,
            self.template_name,
            {
                "suite": suite,
                "bot": bot,
                "tone": avatar_tone(bot),
                "cases": cases,
                "runs": runs,
                "case_form": case_form or CaseForm(document_choices=documents),
                "import_form": import_form or ImportForm(),
                "settings_form": settings_form
                or self.suite_form(initial=suite_initial(suite), current_judge=suite.judge_model),
                "run_form": run_form,
                "candidate_forms": [
                    {"form": form, "number": index + 1, "open": index == 0 or form.in_use()}
                    for index, form in enumerate(candidate_forms)
                ],
                "run_errors": bool(run_form.errors or any(form.errors for form in candidate_forms)),
                "recent_answers": recent_answers(self.tenant, bot, suite) if self.can_write() else [],
                "export_links": [(kind.upper(), f"{export_url}?format={kind}") for kind in EXPORT_FORMATS],
                "judge_name": names.get(suite.judge_model, suite.judge_model),
                "drift_alerts": drift_alert_rows(tenant=self.tenant, suite=suite),
                "can_write": self.can_write(),
                "has_documents": bool(documents),
                "max_cases": services.MAX_CASES_PER_SUITE,
                "tolerance": percent(suite.drift_tolerance),
            },
            status=status,
        )


class SuiteView(SuitePage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.suite(pk))


class SuiteUpdateView(SuitePage, TenantFormView):
    http_method_names = ["post"]

    def make_form(self, data: Any = None) -> SuiteForm:
        return self.suite_form(data, current_judge=self.suite(self.kwargs["pk"]).judge_model)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, SuiteForm)
        return self.render_page(self.suite(self.kwargs["pk"]), settings_form=form, status=status)

    def perform(self, form: Form) -> RegressionSuite:
        assert isinstance(form, SuiteForm)
        suite = self.suite(self.kwargs["pk"])
        return services.suite_update(actor=self.actor, suite_id=suite.pk, **form.settings())

    def success_url(self, result: RegressionSuite) -> str:
        return reverse("dashboard:suite", args=[result.pk]) + "#settings"

    def success_message(self, result: RegressionSuite) -> str:
        return "Saved the suite's settings."


class SuiteDeleteView(RegressionView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        services.suite_delete(actor=self.actor, suite_id=suite.pk)
        messages.success(request, f"Deleted the suite “{suite.name}” with its runs.")
        return redirect("dashboard:suites", pk=suite.bot_id)


class SuiteCaseCreateView(SuitePage, TenantFormView):
    http_method_names = ["post"]

    def make_form(self, data: Any = None) -> CaseForm:
        return CaseForm(
            data, document_choices=document_choices(self.tenant, self.suite(self.kwargs["pk"]).bot)
        )

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, CaseForm)
        return self.render_page(self.suite(self.kwargs["pk"]), case_form=form, status=status)

    def perform(self, form: Form) -> RegressionCase:
        assert isinstance(form, CaseForm)
        return services.case_create(actor=self.actor, suite_id=self.kwargs["pk"], **form.values())

    def success_url(self, result: RegressionCase) -> str:
        return reverse("dashboard:suite", args=[result.suite_id]) + "#cases"

    def success_message(self, result: RegressionCase) -> str:
        return "Added the case."


class SuiteCaseView(RegressionView, TenantFormView):
    """Edit a case (editors only: the page is a form)."""

    read_role = Role.EDITOR
    template_name = "bots/regression/case.html"

    def case(self) -> RegressionCase:
        pk = self.kwargs["pk"]
        return self.read_once(f"case:{pk}", lambda: selectors.case_get(tenant=self.tenant, case_id=pk))

    def make_form(self, data: Any = None) -> CaseForm:
        case = self.case()
        documents = document_choices(self.tenant, case.suite.bot)
        return CaseForm(data, document_choices=documents, initial=None if data else case_initial(case))

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        case = self.case()
        context = {"case": case, "suite": case.suite, "bot": case.suite.bot, "form": form}
        return render(self.request, self.template_name, context, status=status)

    def perform(self, form: Form) -> RegressionCase:
        assert isinstance(form, CaseForm)
        return services.case_update(actor=self.actor, case_id=self.case().pk, **form.values())

    def success_url(self, result: RegressionCase) -> str:
        return reverse("dashboard:suite", args=[result.suite_id]) + f"#case-{result.pk}"

    def success_message(self, result: RegressionCase) -> str:
        return "Saved the case."


class SuiteCaseDeleteView(RegressionView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        case = selectors.case_get(tenant=self.tenant, case_id=pk)
        services.case_delete(actor=self.actor, case_id=case.pk)
        messages.success(request, "Deleted the case. Past runs keep its results.")
        return redirect(reverse("dashboard:suite", args=[case.suite_id]) + "#cases")


class SuiteImportView(SuitePage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                cases = services.cases_import(
                    actor=self.actor,
                    suite_id=suite.pk,
                    content=upload.read(),
                    file_format=form.cleaned_data["file_format"],
                )
            except GroundworkError as error:
                # The service names the line; it is said once, above the form.
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Imported {len(cases)} case{'s' if len(cases) != 1 else ''}.")
                return redirect(reverse("dashboard:suite", args=[suite.pk]) + "#cases")
        return self.render_page(suite, import_form=form, status=400)


class SuiteExportView(RegressionView):
    """The cases as CSV (lists joined by "|") or JSON Lines: the formats the import reads."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        export_format = request.GET.get("format", "csv")
        if export_format not in EXPORT_FORMATS:
            messages.error(request, "Export as CSV or JSONL.")
            return redirect("dashboard:suite", pk=suite.pk)
        response = HttpResponse(
            case_files.cases_export(tenant=self.tenant, suite=suite, export_format=export_format),
            content_type=EXPORT_FORMATS[export_format],
        )
        name = slugify(suite.name) or "suite"
        response["Content-Disposition"] = f'attachment; filename="{name}-cases.{export_format}"'
        return response


# --- add to a suite from a conversation ---------------------------------------------------------------


class SuiteAddMessageView(RegressionView):
    """One click beside an answer: its question becomes a case of one of the bot's suites (or of a new
    "From conversations" suite), then back to where the click was made."""

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AddToSuiteForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a suite for this answer.")
            return redirect(safe_next(request, reverse("dashboard:conversations")))
        message = chat_selectors.message_get(tenant=self.tenant, message_id=form.cleaned_data["message"])
        conversation = chat_selectors.conversation_get(
            tenant=self.tenant, conversation_id=message.conversation_id
        )
        back = safe_next(
            request, reverse("dashboard:conversation", args=[conversation.pk]) + f"#message-{message.pk}"
        )
        choice = form.cleaned_data["suite"]
        chosen = None if choice == NEW_SUITE else self.suite(choice)  # another tenant's: 404
        try:
            suite = chosen or self.suite_from_conversations(conversation.bot)
            case = services.case_from_message(actor=self.actor, suite_id=suite.pk, message_id=message.pk)
        except GroundworkError as error:
            messages.error(request, error.message)
            return redirect(back)
        shown = case.question if len(case.question) <= 60 else case.question[:57] + "…"
        messages.success(request, f"Added “{shown}” to the suite “{suite.name}”.")
        return redirect(back)

    def suite_from_conversations(self, bot: Bot) -> RegressionSuite:
        """The bot's "From conversations" suite, made on first use."""
        existing = selectors.suite_list(tenant=self.tenant, bot=bot).filter(name=FROM_CONVERSATIONS).first()
        if existing is not None:
            return existing
        return services.suite_create(
            actor=self.actor,
            bot_id=bot.pk,
            name=FROM_CONVERSATIONS,
            description="Questions visitors asked, added from their conversations.",
        )
