"""Writes of regression runs: starting one with up to three candidates, the runner's records (claim,
pause, results, finish, fail), acknowledging drift, and beat's schedule and sweep.

A run, by hand or on schedule, counts against the tenant's regression runs per day (``tenants.quotas``),
counted under a lock on the tenant's row so that runs started together cannot pass the quota."""

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
from bots.models import (
    Bot,
    CaseResult,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunConfiguration,
    RunStatus,
    RunTrigger,
    SuiteSchedule,
)
from bots.regression import selectors
from bots.regression.services.suites import SCHEDULE_PERIODS, suite_for_update
from core.errors import NotFound, ValidationFailed
from knowledge import services as knowledge_services
from providers import selectors as provider_selectors
from tenants import quotas
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context, unscoped
from tenants.models import Role, Tenant
from tenants.selectors import tenant_get
from tenants.services import audit

MAX_CANDIDATES = 3


MAX_RUN_ATTEMPTS = 5


# What a candidate may change: the bot settings declared as candidates, and the knowledge bases'
# embedding model. Everything else is the bot's, as it is when the run starts.
OVERRIDABLE = (*bot_settings.CANDIDATE_NAMES, "embedding_model")


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
    suite = suite_for_update(actor.tenant, suite_id)
    if len(candidates) > MAX_CANDIDATES:
        raise ValidationFailed.on("candidates", f"Compare up to {MAX_CANDIDATES} candidates at a time.")
    if not include_live and not candidates:
        raise ValidationFailed.on("candidates", "Run the live bot, a candidate, or both.")
    _check_daily_quota(actor.tenant)
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


def _check_daily_quota(tenant: Tenant) -> None:
    """Refuse a run past the tenant's regression runs of the day. The tenant's row stays locked until
    the transaction ends, so a run started at the same moment counts this one."""
    if quotas.limit(tenant, quotas.Quota.REGRESSION_RUNS_PER_DAY) is None:
        return
    quotas.lock_tenant(tenant)
    started_today = selectors.runs_started_since(tenant=tenant, since=quotas.start_of_today())
    quotas.check_regression_runs(tenant=tenant, started_today=started_today)


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
            if not RegressionCase.objects.filter(suite=suite).exists():
                continue
            try:
                _check_daily_quota(tenant_get(tenant_id=tenant_id))
            except quotas.QuotaExceeded as refused:
                # Kept as a failed run, so the suite's page says why no run happened this time.
                RegressionRun.objects.create(
                    tenant_id=tenant_id,
                    suite=suite,
                    trigger=RunTrigger.SCHEDULED,
                    status=RunStatus.FAILED,
                    error_message=refused.message[:500],
                    finished_at=timezone.now(),
                )
                continue
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
