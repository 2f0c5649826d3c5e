"""Writes about regression suites: suites and cases, starting runs, and the records a run leaves.

A run never changes the live bot: each configuration is the bot's settings at the start of the run with a
candidate's overrides applied to an unsaved copy (``bots.regression.runner``). Results are stored once
per (configuration, case) — a unique constraint — so a run that restarts after its worker died carries on
where it was and never stores a case twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots import bot_settings
from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
from bots.models import (
    Bot,
    CaseResult,
    MessageRole,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunConfiguration,
    RunStatus,
    RunTrigger,
    SuiteSchedule,
)
from bots.regression import selectors
from bots.regression.case_files import CASE_FIELDS, file_refusal, line_number, parse_cases
from core.errors import Conflict, NotFound, ValidationFailed
from knowledge import services as knowledge_services
from knowledge.models import Document
from providers import selectors as provider_selectors
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context, unscoped
from tenants.models import Role, Tenant
from tenants.services import audit

MAX_CASES_PER_SUITE = 500
MAX_CANDIDATES = 3
MAX_RUN_ATTEMPTS = 5
SCHEDULE_PERIODS = {SuiteSchedule.DAILY: timedelta(days=1), SuiteSchedule.WEEKLY: timedelta(days=7)}
# What a candidate may change: the bot settings declared as candidates, and the knowledge bases'
# embedding model. Everything else is the bot's, as it is when the run starts.
OVERRIDABLE = (*bot_settings.CANDIDATE_NAMES, "embedding_model")


# --- suites ---------------------------------------------------------------------------------------------


def _check_suite(tenant: Tenant, values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    if "name" in checked:
        checked["name"] = str(checked["name"]).strip()[:120]
        if not checked["name"]:
            raise ValidationFailed.on("name", "Give the suite a name.")
    if checked.get("judge_model"):
        bot_settings.check_chat_model(tenant, checked["judge_model"], "judge_model")
    if "schedule" in checked and checked["schedule"] not in SuiteSchedule.values:
        raise ValidationFailed.on("schedule", "Choose off, daily or weekly.")
    if "drift_tolerance" in checked and not 0.0 <= float(checked["drift_tolerance"]) <= 1.0:
        raise ValidationFailed.on(
            "drift_tolerance", "The tolerance is a share of the cases, between 0 and 1."
        )
    if "judge_rubric" in checked:
        checked["judge_rubric"] = str(checked["judge_rubric"]).strip()[:4000]
    return checked


def _next_run(schedule: str) -> Any:
    period = SCHEDULE_PERIODS.get(SuiteSchedule(schedule))
    return timezone.now() + period if period else None


@runs_in_actor_tenant
def suite_create(*, actor: Actor, bot_id: uuid.UUID | str, name: str, **values: Any) -> RegressionSuite:
    actor.require(Role.EDITOR, "create regression suites")
    unknown = set(values) - {"description", "judge_model", "judge_rubric", "schedule", "drift_tolerance"}
    if unknown:
        raise ValidationFailed(f"Unknown suite settings: {', '.join(sorted(unknown))}.")
    bot = bot_selectors.bot_get(tenant=actor.tenant, bot_id=bot_id)
    checked = _check_suite(actor.tenant, {"name": name, **values})
    suite = RegressionSuite(tenant=actor.tenant, bot=bot, created_by=actor.user, **checked)
    suite.next_run_at = _next_run(suite.schedule)
    try:
        with transaction.atomic():
            suite.save()
    except IntegrityError:
        raise Conflict(
            f"{bot.name} already has a suite named “{suite.name}”.", field_errors={"name": ["Already used."]}
        ) from None
    audit(
        actor, action="regression_suite.created", target=suite, changes={"name": suite.name, "bot": bot.name}
    )
    return suite


@runs_in_actor_tenant
def suite_update(*, actor: Actor, suite_id: uuid.UUID | str, **changes: Any) -> RegressionSuite:
    actor.require(Role.EDITOR, "change regression suites")
    unknown = set(changes) - {
        "name",
        "description",
        "judge_model",
        "judge_rubric",
        "schedule",
        "drift_tolerance",
    }
    if unknown:
        raise ValidationFailed(f"Unknown suite settings: {', '.join(sorted(unknown))}.")
    suite = _suite_for_update(actor.tenant, suite_id)
    checked = _check_suite(actor.tenant, changes)
    if "schedule" in checked and checked["schedule"] != suite.schedule:
        suite.next_run_at = _next_run(checked["schedule"])
    for name, value in checked.items():
        setattr(suite, name, value)
    try:
        with transaction.atomic():
            suite.save()
    except IntegrityError:
        raise Conflict(
            "Another suite of this bot has that name.", field_errors={"name": ["Already used."]}
        ) from None
    audit(actor, action="regression_suite.updated", target=suite, changes={"fields": sorted(checked)})
    return suite


@runs_in_actor_tenant
def suite_delete(*, actor: Actor, suite_id: uuid.UUID | str) -> None:
    actor.require(Role.EDITOR, "delete regression suites")
    suite = _suite_for_update(actor.tenant, suite_id)
    audit(actor, action="regression_suite.deleted", target=suite, changes={"name": suite.name})
    suite.delete()


def _suite_for_update(tenant: Tenant, suite_id: uuid.UUID | str) -> RegressionSuite:
    suite = selectors.suite_get(tenant=tenant, suite_id=suite_id)
    return (
        RegressionSuite.objects.for_tenant(tenant).select_for_update().select_related("bot").get(pk=suite.pk)
    )


# --- cases ----------------------------------------------------------------------------------------------


def _check_case(
    tenant: Tenant, suite: RegressionSuite, values: dict[str, Any], where: str = ""
) -> dict[str, Any]:
    """A case's fields checked and normalised; ``where`` prefixes messages (an import's line)."""
    checked = dict(values)
    if "question" in checked:
        checked["question"] = str(checked["question"] or "").strip()
        if not checked["question"]:
            raise ValidationFailed.on("question", f"{where}Write the question.")
        if len(checked["question"]) > 4000:
            raise ValidationFailed.on("question", f"{where}Questions are limited to 4,000 characters.")
    if "expected_facts" in checked:
        facts = [str(fact).strip()[:500] for fact in checked["expected_facts"] or []]
        checked["expected_facts"] = [fact for fact in facts if fact][:20]
    if "required_document_ids" in checked:
        identifiers = []
        for raw in checked["required_document_ids"] or []:
            try:
                identifiers.append(uuid.UUID(str(raw).strip()))
            except ValueError:
                raise ValidationFailed.on(
                    "required_document_ids", f"{where}“{str(raw)[:60]}” is not a document id."
                ) from None
        known = set(
            Document.objects.for_tenant(tenant)
            .filter(
                pk__in=identifiers,
                knowledge_base__in=bot_selectors.bot_knowledge_bases(tenant=tenant, bot=suite.bot),
            )
            .values_list("pk", flat=True)
        )
        missing = [str(identifier) for identifier in identifiers if identifier not in known]
        if missing:
            raise ValidationFailed.on(
                "required_document_ids",
                f"{where}Not a document of {suite.bot.name}'s knowledge bases: {', '.join(missing[:3])}.",
            )
        checked["required_document_ids"] = list(dict.fromkeys(identifiers))
    if "must_refuse" in checked:
        checked["must_refuse"] = bool(checked["must_refuse"])
    if "notes" in checked:
        checked["notes"] = str(checked["notes"] or "").strip()[:4000]
    return checked


def _room_for(suite: RegressionSuite, count: int) -> None:
    if RegressionCase.objects.filter(suite=suite).count() + count > MAX_CASES_PER_SUITE:
        raise ValidationFailed(f"A suite holds up to {MAX_CASES_PER_SUITE} cases.")


@runs_in_actor_tenant
def case_create(*, actor: Actor, suite_id: uuid.UUID | str, question: str, **values: Any) -> RegressionCase:
    actor.require(Role.EDITOR, "write regression cases")
    unknown = set(values) - set(CASE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown case fields: {', '.join(sorted(unknown))}.")
    suite = _suite_for_update(actor.tenant, suite_id)
    _room_for(suite, 1)
    checked = _check_case(actor.tenant, suite, {"question": question, **values})
    return RegressionCase.objects.create(tenant=actor.tenant, suite=suite, **checked)


@runs_in_actor_tenant
def case_update(*, actor: Actor, case_id: uuid.UUID | str, **changes: Any) -> RegressionCase:
    actor.require(Role.EDITOR, "write regression cases")
    unknown = set(changes) - set(CASE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown case fields: {', '.join(sorted(unknown))}.")
    case = selectors.case_get(tenant=actor.tenant, case_id=case_id)
    checked = _check_case(actor.tenant, case.suite, changes)
    for name, value in checked.items():
        setattr(case, name, value)
    case.save()
    return case


@runs_in_actor_tenant
def case_delete(*, actor: Actor, case_id: uuid.UUID | str) -> None:
    actor.require(Role.EDITOR, "write regression cases")
    selectors.case_get(tenant=actor.tenant, case_id=case_id).delete()


@runs_in_actor_tenant
def case_from_message(
    *, actor: Actor, suite_id: uuid.UUID | str, message_id: uuid.UUID | str
) -> RegressionCase:
    """A case from a real conversation, in one click: the visitor's question; for a good answer, the
    documents it cited become required citations; a question the bot declined becomes one it must
    decline. The answer of the day is kept in the notes, to write expected facts from."""
    actor.require(Role.EDITOR, "write regression cases")
    suite = _suite_for_update(actor.tenant, suite_id)
    message = chat_selectors.message_get(tenant=actor.tenant, message_id=message_id)
    if message.conversation.bot_id != suite.bot_id:
        raise ValidationFailed.on(
            "message", f"That message is from a conversation with another bot than {suite.bot.name}."
        )
    _room_for(suite, 1)
    values: dict[str, Any] = {"notes": f"From a {message.conversation.get_channel_display()} conversation."}
    if message.role == MessageRole.USER:
        values["question"] = message.content
    else:
        values["question"] = chat_selectors.question_for(tenant=actor.tenant, answer=message)
        values["must_refuse"] = message.outcome == "no_answer"
        if message.rating != -1 and message.outcome == "answered":
            documents = {
                str(citation.get("document_id"))
                for citation in message.citations
                if citation.get("document_id")
            }
            values["required_document_ids"] = sorted(
                str(pk)
                for pk in Document.objects.for_tenant(actor.tenant)
                .filter(
                    pk__in=documents,
                    knowledge_base__in=bot_selectors.bot_knowledge_bases(tenant=actor.tenant, bot=suite.bot),
                )
                .values_list("pk", flat=True)
            )
        verdict = {1: "rated helpful", -1: "rated not helpful"}.get(message.rating or 0, "not rated")
        values["notes"] += f" The answer then ({verdict}):\n{message.content[:3000]}"
    checked = _check_case(actor.tenant, suite, values)
    case = RegressionCase.objects.create(tenant=actor.tenant, suite=suite, source_message=message, **checked)
    audit(
        actor,
        action="regression_case.created_from_message",
        target=case,
        changes={"message": str(message.pk)},
    )
    return case


@runs_in_actor_tenant
def cases_import(
    *, actor: Actor, suite_id: uuid.UUID | str, content: bytes, file_format: str
) -> list[RegressionCase]:
    """Every row checked first; bad rows refuse the whole file (naming each line, up to ten), so nothing
    is half-imported."""
    actor.require(Role.EDITOR, "import regression cases")
    suite = _suite_for_update(actor.tenant, suite_id)
    rows, problems = parse_cases(content, file_format)
    _room_for(suite, len(rows))
    checked: list[dict[str, Any]] = []
    for row in rows:
        line = row.pop("_line")
        values = {name: row[name] for name in CASE_FIELDS if name in row}
        values.setdefault("question", "")
        try:
            checked.append(_check_case(actor.tenant, suite, values, where=f"Line {line}: "))
        except ValidationFailed as error:
            problems.append((next(iter(error.field_errors or {"file": []})), error.message))
    if problems:
        problems.sort(key=lambda problem: line_number(problem[1]))
        raise file_refusal(problems)
    cases = RegressionCase.objects.bulk_create(
        [RegressionCase(tenant=actor.tenant, suite=suite, **values) for values in checked]
    )
    audit(actor, action="regression_cases.imported", target=suite, changes={"count": len(cases)})
    return cases


# --- runs -----------------------------------------------------------------------------------------------


def _check_overrides(tenant: Tenant, bot: Bot, overrides: dict[str, Any], index: int) -> dict[str, Any]:
    field = f"candidates[{index}]"
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise ValidationFailed.on(
            field, f"A candidate may change {', '.join(OVERRIDABLE)}; not {', '.join(sorted(unknown))}."
        )
    checked = {name: value for name, value in overrides.items() if value not in (None, "")}
    if not checked:
        raise ValidationFailed.on(field, "A candidate must change at least one setting.")
    if "chat_model" in checked:
        bot_settings.check_chat_model(tenant, checked["chat_model"], field)
    if "instructions" in checked:
        checked["instructions"] = str(checked["instructions"])[:20000]
    if "retrieval_top_k" in checked or "retrieval_score_threshold" in checked or "retrieval_mode" in checked:
        retrieval = {name: checked[name] for name in checked if name.startswith("retrieval_")}
        try:
            checked.update(bot_settings.check_settings(tenant, retrieval))
        except ValidationFailed as error:
            raise ValidationFailed.on(field, error.message) from None
    if "embedding_model" in checked:
        try:
            knowledge_services.embedding_choice(tenant=tenant, ref=checked["embedding_model"])
        except ValidationFailed as error:
            raise ValidationFailed.on(field, error.message) from None
        if not bot_selectors.bot_knowledge_bases(tenant=tenant, bot=bot):
            raise ValidationFailed.on(field, f"{bot.name} has no knowledge bases to re-embed.")
    return checked


SEARCH_MODES = {"vector": "vector search", "full_text": "full-text search", "hybrid": "hybrid search"}


def describe(overrides: dict[str, Any], tenant: Tenant) -> str:
    """A candidate's default label: what it changes, in words ("GPT-4.1 mini, 3 passages")."""
    parts = []
    for name, value in overrides.items():
        if name in ("chat_model", "embedding_model"):
            try:
                parts.append(provider_selectors.model_get(tenant=tenant, ref=value).display_name)
            except NotFound:
                parts.append(str(value))
        elif name == "instructions":
            parts.append("new instructions")
        elif name == "retrieval_top_k":
            parts.append(f"{value} passage{'' if int(value) == 1 else 's'}")
        elif name == "retrieval_score_threshold":
            parts.append(f"similarity ≥ {float(value):g}")
        elif name == "retrieval_mode":
            parts.append(SEARCH_MODES.get(str(value), str(value)))
    return ", ".join(parts)[:120]


@runs_in_actor_tenant
def run_start(
    *,
    actor: Actor,
    suite_id: uuid.UUID | str,
    candidates: Sequence[dict[str, Any]] = (),
    include_live: bool = True,
) -> RegressionRun:
    """Queue a run of the suite: the live bot (unless left out) and each candidate
    (``{"label"?: str, "overrides": {...}}``) side by side."""
    actor.require(Role.EDITOR, "run regression suites")
    suite = _suite_for_update(actor.tenant, suite_id)
    if len(candidates) > MAX_CANDIDATES:
        raise ValidationFailed.on("candidates", f"Compare up to {MAX_CANDIDATES} candidates at a time.")
    if not include_live and not candidates:
        raise ValidationFailed.on("candidates", "Run the live bot, a candidate, or both.")
    columns: list[tuple[str, bool, dict[str, Any]]] = []
    if include_live:
        columns.append(("Live", True, {}))
    for index, candidate in enumerate(candidates):
        overrides = _check_overrides(actor.tenant, suite.bot, dict(candidate.get("overrides") or {}), index)
        label = str(candidate.get("label") or "").strip()[:120] or describe(overrides, actor.tenant)
        columns.append((label, False, overrides))
    run = _create_run(suite, columns, trigger=RunTrigger.MANUAL, user=actor.user)
    audit(
        actor,
        action="regression_run.started",
        target=run,
        changes={"suite": suite.name, "columns": len(columns)},
    )
    return run


def _create_run(
    suite: RegressionSuite, columns: list[tuple[str, bool, dict[str, Any]]], *, trigger: str, user: Any
) -> RegressionRun:
    cases = RegressionCase.objects.filter(suite=suite).count()
    if not cases:
        raise ValidationFailed("Add cases to the suite before running it.")
    run = RegressionRun.objects.create(
        tenant_id=suite.tenant_id, suite=suite, trigger=trigger, total=cases * len(columns), created_by=user
    )
    RunConfiguration.objects.bulk_create(
        [
            RunConfiguration(
                tenant_id=suite.tenant_id,
                run=run,
                position=position,
                label=label,
                is_live=is_live,
                overrides=overrides,
            )
            for position, (label, is_live, overrides) in enumerate(columns)
        ]
    )
    _enqueue(run)
    return run


def _enqueue(run: RegressionRun) -> None:
    from bots.regression import tasks  # the tasks import the runner, which imports this module

    tenant_id, run_id = str(run.tenant_id), str(run.pk)
    transaction.on_commit(lambda: tasks.run_regression_suite.delay(tenant_id, run_id))


def run_claim(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID | str) -> RegressionRun | None:
    """Start (or resume) a run; ``None`` when there is nothing to do: it is gone or finished, or it died
    ``MAX_RUN_ATTEMPTS`` times (it is then failed).

    ``attempts`` counts the first start and every restart after a death — a claim that finds the run
    still ``running`` — but not the planned continuations, which hand the run back as ``queued``
    (:func:`run_pause`): a long run takes many tasks and is not a run that keeps dying.
    """
    with tenant_context(tenant_id):
        run = (
            RegressionRun.objects.select_for_update()
            .select_related("suite__bot__tenant")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return None
        died = run.status == RunStatus.RUNNING
        if died and run.attempts >= MAX_RUN_ATTEMPTS:
            _fail(run, f"The run stopped unexpectedly {run.attempts} times.")
            return None
        if died or run.started_at is None:
            run.attempts += 1
        run.status = RunStatus.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
        return run


def run_pause(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID) -> None:
    """Hand a run back between two of its tasks (the next one continues it)."""
    with tenant_context(tenant_id):
        RegressionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.QUEUED, heartbeat_at=timezone.now()
        )


def run_configuration_scratch_index(
    *, tenant_id: uuid.UUID | str, configuration_id: uuid.UUID, version: int, ready: bool
) -> None:
    with tenant_context(tenant_id):
        RunConfiguration.objects.filter(pk=configuration_id).update(
            scratch_index_version=version, scratch_index_ready=ready
        )


def run_record_result(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID, **values: Any) -> bool:
    """Store one case's result; ``False`` if it was already stored (a redelivered run raced this one)."""
    with tenant_context(tenant_id):
        try:
            with transaction.atomic():
                CaseResult.objects.create(tenant_id=tenant_id, run_id=run_id, **values)
        except IntegrityError:
            return False
        RegressionRun.objects.filter(pk=run_id).update(
            done=CaseResult.objects.filter(run_id=run_id).count(), heartbeat_at=timezone.now()
        )
        return True


def run_finish(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID) -> RegressionRun:
    """Totals per configuration; for the live configuration, drift against the previous completed run
    (on the cases both runs asked: ``previous_pass_rate`` is the earlier run's rate on those)."""
    with tenant_context(tenant_id):
        run = RegressionRun.objects.select_for_update().select_related("suite").get(pk=run_id)
        if run.status == RunStatus.COMPLETED:
            return run
        for configuration in RunConfiguration.objects.filter(run=run):
            results = list(CaseResult.objects.filter(configuration=configuration))
            configuration.passed = sum(1 for result in results if result.passed)
            configuration.failed = len(results) - configuration.passed
            configuration.cost_usd = sum((result.cost_usd for result in results), Decimal(0))
            latencies = [result.latency_ms for result in results if result.latency_ms]
            configuration.latency_ms_median = round(median(latencies)) if latencies else None
            configuration.save(update_fields=["passed", "failed", "cost_usd", "latency_ms_median"])
            if configuration.is_live:
                run.live_pass_rate = configuration.pass_rate
        drift = selectors.live_drift(run=run)
        if drift is not None:
            run.previous_pass_rate, shared_now = drift
            run.drift_detected = run.previous_pass_rate - shared_now > run.suite.drift_tolerance + 1e-9
        run.status = RunStatus.COMPLETED
        run.finished_at = timezone.now()
        run.done = CaseResult.objects.filter(run=run).count()
        run.save()
        return run


def _fail(run: RegressionRun, reason: str) -> None:
    run.status = RunStatus.FAILED
    run.error_message = reason[:500]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error_message", "finished_at"])


def run_fail(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID | str, reason: str) -> None:
    with tenant_context(tenant_id):
        run = RegressionRun.objects.select_for_update().filter(pk=run_id).first()
        if run is not None and run.status not in (RunStatus.COMPLETED, RunStatus.FAILED):
            _fail(run, reason)


@runs_in_actor_tenant
def run_acknowledge_drift(*, actor: Actor, run_id: uuid.UUID | str) -> RegressionRun:
    """Dismiss a drift alert (the tenant has seen it); the run keeps its finding."""
    actor.require(Role.EDITOR, "acknowledge drift alerts")
    run = selectors.run_get(tenant=actor.tenant, run_id=run_id)
    RegressionRun.objects.filter(pk=run.pk).update(drift_acknowledged=True)
    run.drift_acknowledged = True
    audit(actor, action="regression_run.drift_acknowledged", target=run)
    return run


# --- the schedule and the sweep (beat) ---------------------------------------------------------------


def start_scheduled_runs(*, now: Any = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Queue a live-only run of every suite whose time has come, and set its next time. Suites without
    cases are moved on without a run."""
    now = now or timezone.now()
    started = []
    with unscoped(reason="beat: scheduled regression runs across tenants"):
        due = list(
            RegressionSuite.objects.select_for_update(skip_locked=True)
            .exclude(schedule=SuiteSchedule.OFF)
            .filter(next_run_at__lte=now)
            .values_list("tenant_id", "pk")
        )
    for tenant_id, suite_id in due:
        with tenant_context(tenant_id):
            suite = (
                RegressionSuite.objects.select_for_update().filter(pk=suite_id, next_run_at__lte=now).first()
            )
            if suite is None:
                continue
            suite.next_run_at = now + SCHEDULE_PERIODS[SuiteSchedule(suite.schedule)]
            suite.save(update_fields=["next_run_at"])
            if RegressionCase.objects.filter(suite=suite).exists():
                run = _create_run(suite, [("Live", True, {})], trigger=RunTrigger.SCHEDULED, user=None)
                started.append((tenant_id, run.pk))
    return started


def runs_recover_stalled(*, stalled_after: timedelta, now: Any = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Re-queue runs that show no sign of life (their worker died and the broker has not redelivered)."""
    cutoff = (now or timezone.now()) - stalled_after
    with unscoped(reason="beat: stalled regression runs across tenants"):
        stalled = list(
            RegressionRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
            .filter(heartbeat_at__lt=cutoff)
            .values_list("tenant_id", "pk")
        )
        queued_never_started = list(
            RegressionRun.objects.filter(
                status=RunStatus.QUEUED, heartbeat_at__isnull=True, created_at__lt=cutoff
            ).values_list("tenant_id", "pk")
        )
    found = stalled + queued_never_started
    for tenant_id, run_id in found:
        with tenant_context(tenant_id):
            RegressionRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
            run = RegressionRun.objects.get(pk=run_id)
            _enqueue(run)
    return found
