"""What suites, runs, reports and the model gate look like on the dashboard, as plain dictionaries the
templates show."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from bots import bot_settings
from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
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
)
from bots.regression import selectors
from bots.regression.forms import (
    FROM_CONVERSATIONS,
    NEW_SUITE,
)
from core.formatting import duration_label, percent
from knowledge import selectors as knowledge_selectors
from knowledge.forms import MODE_CHOICES
from providers import selectors as provider_selectors
from providers.models import ModelKind
from providers.presentation import is_built_in_model, spend_label
from providers.readiness import readiness_by_ref
from tenants.models import Tenant

SETTING_LABELS = {
    "chat_model": "Chat model",
    "instructions": "Instructions",
    "retrieval_top_k": "Passages",
    "retrieval_score_threshold": "Min. similarity",
    "retrieval_mode": "Search",
    "embedding_model": "Embeddings",
}

RECENT_CONVERSATIONS = 8


MODE_LABELS = dict(MODE_CHOICES)


def chat_model_choices(tenant: Any) -> list[tuple[str, str]]:
    """The chat models a candidate or a judge may use: enabled for the organisation and not retired."""
    return [
        (row["ref"], row["display_name"] + (" (deprecated)" if row["is_deprecated"] else ""))
        for row in provider_selectors.available_models(tenant=tenant, kind=ModelKind.CHAT)
        if bot_settings.offers_chat_model(row)
    ]


def judge_model_choices(tenant: Any, current: str = "") -> list[tuple[str, str]]:
    """The chat models that can judge: ones that write answers (never the no-LLM model, which only
    quotes passages) and can answer now (their provider connected), as ``providers.readiness`` says.
    A suite's ``current`` judge stays listed, marked, so that editing the suite does not drop it."""
    choices = chat_model_choices(tenant)
    readiness = readiness_by_ref(tenant=tenant, refs=[ref for ref, _ in choices])
    offered = [(ref, name) for ref, name in choices if readiness[ref].can_answer]
    if current and current not in {ref for ref, _ in offered}:
        name = dict(choices).get(current, current)
        offered.append((current, f"{name} (cannot judge now)"))
    return offered


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


def present_run(
    run: RegressionRun, configurations: list[RunConfiguration], *, with_wait_reason: bool = False
) -> dict[str, Any]:
    """A run in a list: its status, progress and each column's pass rate; with ``with_wait_reason``
    (the run's own page, one run), why a queued run waits (a query, so not for every row of a list)."""
    return {
        "run": run,
        "url": reverse("dashboard:run", args=[run.pk]),
        "status_label": run.get_status_display(),
        "is_pending": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "wait_reason": selectors.run_wait_reason(run=run) if with_wait_reason else "",
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


def present_report(report: selectors.Report, names: dict[str, str]) -> dict[str, Any]:
    """The side-by-side report: a summary per configuration, then the cases, regressions first."""
    configurations = report.configurations
    baseline = next((index for index, c in enumerate(configurations) if c.is_live), 0)
    columns: list[dict[str, Any]] = []
    built_in: list[bool] = []
    for position, summary in enumerate(report.columns):
        configuration = summary.configuration
        total = configuration.passed + configuration.failed
        chat_model = str(configuration.settings_used.get("chat_model", ""))
        built_in.append(is_built_in_model(chat_model))
        # What a configuration that cost nothing used instead: the tokens of its answers.
        tokens = sum(
            cell.input_tokens + cell.output_tokens
            for row in report.rows
            if position < len(row.cells) and (cell := row.cells[position]) is not None
        )
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
                "cost_label": spend_label(configuration.cost_usd, tokens=tokens, built_in=built_in[-1]),
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
                        built_in=index < len(built_in) and built_in[index],
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
    cell: CaseResult | None,
    *,
    label: str,
    differs: bool,
    regressed: bool,
    improved: bool,
    built_in: bool = False,
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
        "cost_label": spend_label(
            cell.cost_usd, tokens=cell.input_tokens + cell.output_tokens, built_in=built_in
        ),
        "latency_label": duration_label(cell.latency_ms or None),
        "differs": differs,
        "regressed": regressed,
        "improved": improved,
    }


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


def document_choices(tenant: Tenant, bot: Bot) -> list[tuple[str, str]]:
    """The documents of the bot's knowledge bases, as (id, label) choices."""
    bases = bot_selectors.bot_knowledge_bases(tenant=tenant, bot=bot)
    choices = []
    for base in bases:
        for document in knowledge_selectors.document_list(tenant=tenant, knowledge_base=base):
            label = document.title or "Untitled"
            choices.append((str(document.pk), f"{label} · {base.name}" if len(bases) > 1 else label))
    return choices


def live_settings(tenant: Tenant, bot: Bot, names: dict[str, str]) -> dict[str, str]:
    """The live bot's settings a candidate may change, in words (the run form's placeholders)."""
    bases = bot_selectors.bot_knowledge_bases(tenant=tenant, bot=bot)
    embedding = sorted({base.embedding_model for base in bases})
    embedding_names = {row["ref"]: row["display_name"] for row in embedding_model_rows(tenant)}
    return {
        "chat_model": names.get(bot.chat_model, bot.chat_model),
        "retrieval_mode": MODE_LABELS.get(bot.retrieval_mode, bot.retrieval_mode),
        "retrieval_top_k": str(bot.retrieval_top_k),
        "retrieval_score_threshold": f"{bot.retrieval_score_threshold:g}",
        "embedding_model": ", ".join(embedding_names.get(ref, ref) for ref in embedding) or "no knowledge",
    }


def recent_answers(tenant: Tenant, bot: Bot, suite: RegressionSuite) -> list[dict[str, Any]]:
    """The bot's latest answers with the question each replied to, for one-click cases."""
    added = {
        case.source_message_id
        for case in selectors.case_list(tenant=tenant, suite=suite)
        if case.source_message_id
    }
    answers: list[dict[str, Any]] = []
    conversations = chat_selectors.conversation_list(tenant=tenant, bot_id=bot.pk)
    for conversation in conversations[:RECENT_CONVERSATIONS]:
        question = ""
        thread = chat_selectors.conversation_messages(tenant=tenant, conversation=conversation)
        for message in thread:
            if message.role == MessageRole.USER:
                question = message.content
            elif message.outcome in (MessageOutcome.ANSWERED, MessageOutcome.NO_ANSWER) and question:
                answers.append(present_answer(message, question, conversation.get_channel_display(), added))
    answers.sort(key=lambda item: item["message"].created_at, reverse=True)
    return answers[:RECENT_CONVERSATIONS]
