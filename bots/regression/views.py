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
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django_htmx.http import HttpResponseClientRedirect

from bots import selectors as bot_selectors
from bots.models import (
    Bot,
    CaseResult,
    Message,
    MessageOutcome,
    MessageRole,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunConfiguration,
    RunStatus,
    SuiteSchedule,
)
from bots.regression import selectors, services
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
from bots.streaming import EXPORT_FORMATS
from core.errors import GroundworkError, ValidationFailed
from core.formatting import duration_label, elapsed_label, percent
from knowledge import selectors as knowledge_selectors
from knowledge.forms import MODE_CHOICES, embedding_choices
from providers import selectors as provider_selectors
from providers.models import ModelKind
from providers.presentation import cost_label
from tenants.models import Role
from tenants.views_base import TenantView, form_with_errors

RECENT_RUNS = 10
RECENT_CONVERSATIONS = 8
SETTING_LABELS = {
    "chat_model": "Chat model",
    "instructions": "Instructions",
    "retrieval_top_k": "Passages",
    "retrieval_score_threshold": "Min. similarity",
    "retrieval_mode": "Search",
    "embedding_model": "Embeddings",
}
MODE_LABELS = dict(MODE_CHOICES)
# Spreadsheet programs run a cell that starts with one of these as a formula; visitors wrote the questions.


# --- presentation -----------------------------------------------------------------------------------


def avatar_tone(bot: Bot) -> int:
    """The bot's avatar colour, as the bots pages pick it."""
    return int(bot.pk.hex[:4], 16) % 6


def chat_model_names(tenant: Any) -> dict[str, str]:
    return {
        row["ref"]: row["display_name"]
        for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT)
    }


def chat_model_choices(tenant: Any) -> list[tuple[str, str]]:
    """The chat models a candidate or a judge may use: enabled for the organisation and not retired."""
    return [
        (row["ref"], row["display_name"] + (" (deprecated)" if row["is_deprecated"] else ""))
        for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT)
        if row["is_enabled"] and not row["is_retired"]
    ]


def embedding_model_rows(tenant: Any) -> list[dict[str, Any]]:
    return provider_selectors.available_models(tenant=tenant, kind=ModelKind.EMBEDDING)


def check_label(check: dict[str, Any]) -> str:
    """A failed check as a sentence."""
    kind, expected, detail = (
        check.get("check"),
        str(check.get("expected") or ""),
        str(check.get("detail") or ""),
    )
    if kind == "fact":
        return f"Missing fact “{expected}”"
    if kind == "citation":
        return f"Did not cite “{expected}”"
    if kind == "refusal":
        return "Answered a question it must decline"
    if kind == "answered":
        return "Declined to answer"
    if kind == "error":
        return f"No answer: {detail}" if detail else "No answer: the model call failed"
    if kind == "judge":
        return "Failed by the judge"
    return f"{kind}: {detail or expected}"


def present_changes(overrides: dict[str, Any], names: dict[str, str]) -> list[dict[str, str]]:
    """What a candidate changes, as short label/value pairs."""
    changes = []
    for name, value in overrides.items():
        if name in ("chat_model", "embedding_model"):
            shown = names.get(str(value), str(value))
        elif name == "retrieval_mode":
            shown = MODE_LABELS.get(str(value), str(value))
        elif name == "instructions":
            shown = str(value)[:80] + ("…" if len(str(value)) > 80 else "")
        else:
            shown = str(value)
        changes.append({"label": SETTING_LABELS.get(name, name), "value": shown, "full": str(value)})
    return changes


def present_run(run: RegressionRun, configurations: list[RunConfiguration]) -> dict[str, Any]:
    """A run in a list: its status, progress and each column's pass rate."""
    return {
        "run": run,
        "url": reverse("dashboard:run", args=[run.pk]),
        "status_label": run.get_status_display(),
        "is_pending": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "percent_done": int(run.done * 100 / run.total) if run.total else 0,
        "columns": [
            {
                "label": configuration.label,
                "is_live": configuration.is_live,
                "percent": percent(configuration.pass_rate),
                "passed": configuration.passed,
                "total": configuration.passed + configuration.failed,
            }
            for configuration in configurations
        ],
    }


def present_drift(run: RegressionRun) -> dict[str, Any]:
    return {
        "run": run,
        "suite": run.suite,
        "bot": run.suite.bot,
        "before": percent(run.previous_pass_rate),
        "now": percent(run.live_pass_rate),
        "url": reverse("dashboard:run", args=[run.pk]),
        "acknowledge_url": reverse("dashboard:run_acknowledge", args=[run.pk]),
    }


def drift_alert_rows(
    *, tenant: Any, bot: Bot | None = None, suite: RegressionSuite | None = None
) -> list[dict[str, Any]]:
    """The unacknowledged drift alerts (of a bot, or of one suite), as ``_drift_alerts.html`` shows them.
    Other pages call this for the ``drift_alerts`` variable of that include."""
    alerts = selectors.drift_alerts(tenant=tenant, bot=bot)
    if suite is not None:
        alerts = alerts.filter(suite=suite)
    return [present_drift(run) for run in alerts[:10]]


def add_to_suite_choices(*, tenant: Any, bot: Bot) -> list[tuple[str, str]]:
    """What ``_add_to_suite.html`` offers for a bot's answers (its ``suite_choices`` variable): the bot's
    suites, and a new "From conversations" suite unless it has one."""
    suites = list(selectors.suite_list(tenant=tenant, bot=bot))
    choices = [(str(suite.pk), suite.name) for suite in suites]
    if not any(suite.name == FROM_CONVERSATIONS for suite in suites):
        choices.append((NEW_SUITE, f"New suite “{FROM_CONVERSATIONS}”"))
    return choices


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where a form posted from another page goes back to: a path on this site only."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else fallback


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
        names = chat_model_names(self.tenant)
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
        conversations = bot_selectors.conversation_list(tenant=self.tenant, bot_id=bot.pk)
        for conversation in conversations[:RECENT_CONVERSATIONS]:
            question = ""
            thread = bot_selectors.conversation_messages(tenant=self.tenant, conversation=conversation)
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
        names = chat_model_names(self.tenant)
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


def present_case(case: RegressionCase, titles: dict[str, str]) -> dict[str, Any]:
    return {
        "case": case,
        "documents": [
            {
                "title": titles.get(str(identifier), "A document no longer in the knowledge bases"),
                "missing": str(identifier) not in titles,
            }
            for identifier in case.required_document_ids
        ],
    }


def present_answer(message: Message, question: str, channel: str, added: set[Any]) -> dict[str, Any]:
    return {
        "message": message,
        "question": question,
        "channel": channel,
        "declined": message.outcome == MessageOutcome.NO_ANSWER,
        "added": message.pk in added,
    }


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
            selectors.cases_export(tenant=self.tenant, suite=suite, export_format=export_format),
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


def present_report(report: selectors.Report, names: dict[str, str]) -> dict[str, Any]:
    """The side-by-side report: a summary per configuration, then the cases, regressions first."""
    configurations = report.configurations
    baseline = next((index for index, c in enumerate(configurations) if c.is_live), 0)
    columns: list[dict[str, Any]] = []
    for summary in report.columns:
        configuration = summary.configuration
        total = configuration.passed + configuration.failed
        columns.append(
            {
                "configuration": configuration,
                "label": configuration.label,
                "is_live": configuration.is_live,
                "is_baseline": len(columns) == baseline,
                "percent": percent(configuration.pass_rate),
                "passed": configuration.passed,
                "failed": configuration.failed,
                "total": total,
                "cost_label": cost_label(configuration.cost_usd),
                "latency_label": duration_label(configuration.latency_ms_median or None),
                "regressions": summary.regressions,
                "improvements": summary.improvements,
                "model_name": names.get(
                    str(configuration.settings_used.get("chat_model", "")),
                    str(configuration.settings_used.get("chat_model", "")),
                ),
                "changes": present_changes(configuration.overrides, names),
            }
        )
    labels = [configuration.label for configuration in configurations]
    rows = []
    for row in report.rows:
        base = row.cells[baseline] if baseline < len(row.cells) else None
        base_answer = " ".join(base.answer.split()) if base is not None else None
        improved_in = [
            index
            for index, cell in enumerate(row.cells)
            if index != baseline and base is not None and not base.passed and cell is not None and cell.passed
        ]
        rows.append(
            {
                "row": row,
                "kind": row.kind,
                "question": row.question,
                "answers_differ": row.answers_differ,
                "regressed_labels": [labels[index] for index in row.regressed_in],
                "improved_labels": [labels[index] for index in improved_in],
                "cells": [
                    present_cell(
                        cell,
                        label=labels[index],
                        differs=cell is not None
                        and index != baseline
                        and base_answer is not None
                        and " ".join(cell.answer.split()) != base_answer,
                        regressed=index in row.regressed_in,
                        improved=index in improved_in,
                    )
                    for index, cell in enumerate(row.cells)
                ],
            }
        )
    return {
        "columns": columns,
        "rows": rows,
        "regressions": len(report.regressions),
        "differing": sum(1 for row in report.rows if row.answers_differ),
        "has_candidates": any(not c.is_live for c in configurations) and len(configurations) > 1,
    }


def present_cell(
    cell: CaseResult | None, *, label: str, differs: bool, regressed: bool, improved: bool
) -> dict[str, Any]:
    if cell is None:
        return {"missing": True, "label": label}
    failed = [check for check in cell.checks if not check.get("passed")]
    return {
        "missing": False,
        "result": cell,
        "label": label,
        "passed": cell.passed,
        "failed_checks": [check_label(check) for check in failed],
        "checks_passed": len(cell.checks) - len(failed),
        "checks_total": len(cell.checks),
        "judged": cell.judge_passed is not None,
        "cited": list(
            dict.fromkeys(str(citation.get("title") or "Untitled") for citation in cell.citations or [])
        )[:5],
        "declined": cell.outcome == MessageOutcome.NO_ANSWER,
        "cost_label": cost_label(cell.cost_usd),
        "latency_label": duration_label(cell.latency_ms or None),
        "differs": differs,
        "regressed": regressed,
        "improved": improved,
    }


class RunView(RegressionView):
    template_name = "bots/regression/run.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        run = self.run(pk)
        names = chat_model_names(self.tenant)
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
        message = bot_selectors.message_get(tenant=self.tenant, message_id=form.cleaned_data["message"])
        conversation = bot_selectors.conversation_get(
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


def present_gate(
    tenant: Any, bot: Bot, gate: selectors.Gate, names: dict[str, str], suites: list[RegressionSuite]
) -> dict[str, Any]:
    model_name = names.get(gate.candidate_model, gate.candidate_model)
    presented: dict[str, Any] = {
        "status": gate.status,
        "model": gate.candidate_model,
        "model_name": model_name,
        "live_model_name": names.get(gate.compared_with_model or bot.chat_model, gate.compared_with_model),
        "suite_name": gate.suite_name,
        "suites": [suite for suite in suites if getattr(suite, "case_count", 0)],
        "suites_url": reverse("dashboard:suites", args=[bot.pk]),
        "start_url": reverse("dashboard:suite_model_gate", args=[bot.pk]),
        "failing": [
            {
                "question": case.question,
                "regressed": case.regressed,
                "checks": [check_label(check) for check in case.checks],
            }
            for case in gate.failing
        ],
    }
    if gate.run is not None:
        configurations = selectors.run_configurations(tenant=tenant, run=gate.run)
        live = next((c for c in configurations if c.is_live), None)
        candidate = next(
            (
                c
                for c in configurations
                if not c.is_live and c.overrides == {"chat_model": gate.candidate_model}
            ),
            None,
        )
        presented.update(
            run=gate.run,
            run_url=reverse("dashboard:run", args=[gate.run.pk]),
            tested_on=gate.run.finished_at or gate.run.created_at,
            candidate_passed=candidate.passed if candidate else None,
            candidate_total=(candidate.passed + candidate.failed) if candidate else None,
            live_passed=live.passed if live else None,
            live_total=(live.passed + live.failed) if live else None,
            live_percent=percent(gate.live_pass_rate),
            candidate_percent=percent(gate.candidate_pass_rate),
        )
    return presented


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
            context["gate"] = present_gate(self.tenant, bot, gate, chat_model_names(self.tenant), suites)
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
