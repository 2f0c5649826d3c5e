"""Dashboard pages for regression suites: a bot's suites, a suite with its cases, imports, exports and the
form that starts a run, a run with its progress and then its side-by-side report, and three pieces other
pages include — "add to a regression suite" beside a conversation's answer, the drift alerts banner, and
the builder's model-switch gate.

Views stay thin: they validate a form, call a service or selector of ``bots.regression``, and render or
redirect; what numbers, checks and verdicts look like for people is worked out here, in plain dictionaries
the templates show. Questions, answers, facts, notes, judge reasoning and titles are untrusted text (a
visitor, a document or a model wrote them): templates rely on autoescaping and never mark them safe.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django_htmx.http import HttpResponseClientRedirect

from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
from bots.chat.exports import EXPORT_FORMATS
from bots.models import (
    Bot,
    MessageOutcome,
    MessageRole,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunStatus,
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
    MODE_LABELS,
    chat_model_choices,
    drift_alert_rows,
    embedding_model_rows,
    present_answer,
    present_case,
    present_changes,
    present_drift,
    present_gate,
    present_report,
    present_run,
    safe_next,
)
from core.errors import GroundworkError, ValidationFailed
from core.formatting import elapsed_label, percent
from knowledge import selectors as knowledge_selectors
from knowledge.forms import embedding_choices
from tenants.models import Role
from tenants.views_base import TenantView, form_with_errors

RECENT_RUNS = 10
RECENT_CONVERSATIONS = 8
# Spreadsheet programs run a cell that starts with one of these as a formula; visitors wrote the questions.


# --- presentation -----------------------------------------------------------------------------------


# --- the base view ----------------------------------------------------------------------------------


class RegressionView(TenantView):
    def can_write(self) -> bool:
        return self.actor.can(Role.EDITOR)

    def bot(self, pk: uuid.UUID | str) -> Bot:
        return bot_selectors.bot_get(tenant=self.tenant, bot_id=pk)

    def suite(self, pk: uuid.UUID | str) -> RegressionSuite:
        return selectors.suite_get(tenant=self.tenant, suite_id=pk)

    def run(self, pk: uuid.UUID | str) -> RegressionRun:
        return selectors.run_get(tenant=self.tenant, run_id=pk)

    def documents(self, bot: Bot) -> list[tuple[str, str]]:
        """The documents of the bot's knowledge bases, as (id, label) choices."""
        bases = bot_selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        choices = []
        for base in bases:
            for document in knowledge_selectors.document_list(tenant=self.tenant, knowledge_base=base):
                label = document.title or "Untitled"
                choices.append((str(document.pk), f"{label} · {base.name}" if len(bases) > 1 else label))
        return choices

    def suite_form(self, data: Any = None, **kwargs: Any) -> SuiteForm:
        return SuiteForm(data, model_choices=chat_model_choices(self.tenant), **kwargs)


# --- a bot's suites ---------------------------------------------------------------------------------


class SuitesView(RegressionView):
    """A bot's suites with their latest runs, and a new suite."""

    template_name = "bots/regression/suites.html"

    def render_page(self, bot: Bot, form: SuiteForm | None = None, status: int = 200) -> HttpResponse:
        drifting = {alert.suite_id for alert in selectors.drift_alerts(tenant=self.tenant, bot=bot)}
        rows = []
        for suite in selectors.suite_list(tenant=self.tenant, bot=bot):
            latest = selectors.run_list(tenant=self.tenant, suite=suite).first()
            rows.append(
                {
                    "suite": suite,
                    "latest": present_run(
                        latest, selectors.run_configurations(tenant=self.tenant, run=latest)
                    )
                    if latest
                    else None,
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

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.bot(pk))

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        bot = self.bot(pk)
        form = self.suite_form(request.POST)
        if form.is_valid():
            settings = form.settings()
            try:
                suite = services.suite_create(actor=self.actor, bot_id=bot.pk, **settings)
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, f"Created the suite “{suite.name}”. Add the questions it checks.")
                return redirect("dashboard:suite", pk=suite.pk)
        return self.render_page(bot, form, status=400)


# --- one suite --------------------------------------------------------------------------------------


class SuitePage(RegressionView):
    template_name = "bots/regression/suite.html"

    def live_settings(self, bot: Bot, names: dict[str, str]) -> dict[str, str]:
        bases = bot_selectors.bot_knowledge_bases(tenant=self.tenant, bot=bot)
        embedding = sorted({base.embedding_model for base in bases})
        embedding_names = {row["ref"]: row["display_name"] for row in embedding_model_rows(self.tenant)}
        return {
            "chat_model": names.get(bot.chat_model, bot.chat_model),
            "retrieval_mode": MODE_LABELS.get(bot.retrieval_mode, bot.retrieval_mode),
            "retrieval_top_k": str(bot.retrieval_top_k),
            "retrieval_score_threshold": f"{bot.retrieval_score_threshold:g}",
            "embedding_model": ", ".join(embedding_names.get(ref, ref) for ref in embedding)
            or "no knowledge",
        }

    def run_forms(
        self, bot: Bot, data: Any = None, initial_model: str = ""
    ) -> tuple[RunForm, list[CandidateForm]]:
        names = model_names(self.tenant)
        live = self.live_settings(bot, names)
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

    def recent_answers(self, bot: Bot, suite: RegressionSuite) -> list[dict[str, Any]]:
        """The bot's latest answers with the question each replied to, for one-click cases."""
        added = {
            case.source_message_id
            for case in selectors.case_list(tenant=self.tenant, suite=suite)
            if case.source_message_id
        }
        answers: list[dict[str, Any]] = []
        conversations = chat_selectors.conversation_list(tenant=self.tenant, bot_id=bot.pk)
        for conversation in conversations[:RECENT_CONVERSATIONS]:
            question = ""
            thread = chat_selectors.conversation_messages(tenant=self.tenant, conversation=conversation)
            for message in thread:
                if message.role == MessageRole.USER:
                    question = message.content
                elif message.outcome in (MessageOutcome.ANSWERED, MessageOutcome.NO_ANSWER) and question:
                    answers.append(
                        present_answer(message, question, conversation.get_channel_display(), added)
                    )
        answers.sort(key=lambda item: item["message"].created_at, reverse=True)
        return answers[:RECENT_CONVERSATIONS]

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
        documents = self.documents(bot)
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
                "settings_form": settings_form or self.suite_form(initial=suite_initial(suite)),
                "run_form": run_form,
                "candidate_forms": [
                    {"form": form, "number": index + 1, "open": index == 0 or candidate_in_use(form)}
                    for index, form in enumerate(candidate_forms)
                ],
                "run_errors": bool(run_form.errors or any(form.errors for form in candidate_forms)),
                "recent_answers": self.recent_answers(bot, suite) if self.can_write() else [],
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


def candidate_in_use(form: CandidateForm) -> bool:
    """A candidate slot to show open: the one with errors or anything filled in."""
    if not form.is_bound:
        return False
    return bool(form.errors) or any(form.data.get(form.add_prefix(name)) for name in form.fields)


class SuiteView(SuitePage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.suite(pk))


class SuiteUpdateView(SuitePage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        form = self.suite_form(request.POST)
        if form.is_valid():
            try:
                services.suite_update(actor=self.actor, suite_id=suite.pk, **form.settings())
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, "Saved the suite's settings.")
                return redirect(reverse("dashboard:suite", args=[suite.pk]) + "#settings")
        return self.render_page(suite, settings_form=form, status=400)


class SuiteDeleteView(RegressionView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        services.suite_delete(actor=self.actor, suite_id=suite.pk)
        messages.success(request, f"Deleted the suite “{suite.name}” with its runs.")
        return redirect("dashboard:suites", pk=suite.bot_id)


class SuiteCaseCreateView(SuitePage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        suite = self.suite(pk)
        form = CaseForm(request.POST, document_choices=self.documents(suite.bot))
        if form.is_valid():
            try:
                services.case_create(actor=self.actor, suite_id=suite.pk, **form.values())
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, "Added the case.")
                return redirect(reverse("dashboard:suite", args=[suite.pk]) + "#cases")
        return self.render_page(suite, case_form=form, status=400)


class SuiteCaseView(RegressionView):
    """Edit a case (editors only: the page is a form)."""

    read_role = Role.EDITOR
    template_name = "bots/regression/case.html"

    def render_form(self, case: RegressionCase, form: CaseForm, status: int = 200) -> HttpResponse:
        return render(
            self.request,
            self.template_name,
            {"case": case, "suite": case.suite, "bot": case.suite.bot, "form": form},
            status=status,
        )

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        case = selectors.case_get(tenant=self.tenant, case_id=pk)
        form = CaseForm(document_choices=self.documents(case.suite.bot), initial=case_initial(case))
        return self.render_form(case, form)

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        case = selectors.case_get(tenant=self.tenant, case_id=pk)
        form = CaseForm(request.POST, document_choices=self.documents(case.suite.bot))
        if form.is_valid():
            try:
                services.case_update(actor=self.actor, case_id=case.pk, **form.values())
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, "Saved the case.")
                return redirect(reverse("dashboard:suite", args=[case.suite_id]) + f"#case-{case.pk}")
        return self.render_form(case, form, status=400)


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


def place_run_error(error: ValidationFailed, run_form: RunForm, used: list[CandidateForm]) -> None:
    """The service names a candidate by its position among those sent (``candidates[1]``)."""
    placed = False
    for field, problems in error.field_errors.items():
        if field.startswith("candidates[") and field.endswith("]"):
            index = int(field[len("candidates[") : -1])
            if 0 <= index < len(used):
                for problem in problems:
                    used[index].add_error(None, problem)
                placed = True
    if not placed:
        run_form.add_error(None, error.message)


# --- runs -------------------------------------------------------------------------------------------


class RunView(RegressionView):
    template_name = "bots/regression/run.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        run = self.run(pk)
        names = model_names(self.tenant)
        configurations = selectors.run_configurations(tenant=self.tenant, run=run)
        summary = present_run(run, configurations)
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
        item = present_run(run, selectors.run_configurations(tenant=self.tenant, run=run))
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


# --- the model-switch gate ----------------------------------------------------------------------------


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
