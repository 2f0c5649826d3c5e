"""Reads about regression suites: lists, the side-by-side report, the switching gate, drift alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from bots.models import (
    Bot,
    CaseResult,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunConfiguration,
    RunStatus,
)
from core.identifiers import one_by_id
from core.workers import live_worker_count
from tenants.models import Tenant


def _columns() -> Prefetch:
    """A run's configurations in their order, as ``columns``: one query for a whole list of runs."""
    return Prefetch(
        "configurations", queryset=RunConfiguration.objects.order_by("position"), to_attr="columns"
    )


def suite_list(*, tenant: Tenant, bot: Bot | None = None) -> QuerySet[RegressionSuite]:
    """With ``case_count`` and ``recent_runs`` (the latest run, or none, with its ``columns``): a page of
    suites costs the same few queries whatever its length."""
    latest = Prefetch(
        "runs",
        queryset=RegressionRun.objects.order_by("-created_at").prefetch_related(_columns())[:1],
        to_attr="recent_runs",
    )
    suites = (
        RegressionSuite.objects.for_tenant(tenant)
        .select_related("bot")
        .annotate(case_count=Count("cases"))
        .prefetch_related(latest)
    )
    if bot is not None:
        suites = suites.filter(bot=bot)
    return suites.order_by("bot__name", "name")


def latest_run(*, suite: RegressionSuite) -> RegressionRun | None:
    """The suite's latest run (prefetched when the suite came from suite_list), or None."""
    recent: list[RegressionRun] | None = getattr(suite, "recent_runs", None)
    if recent is None:
        return suite.runs.order_by("-created_at").first()
    return recent[0] if recent else None


def suite_get(*, tenant: Tenant, suite_id: uuid.UUID | str) -> RegressionSuite:
    return one_by_id(suite_list(tenant=tenant), suite_id, missing="No such regression suite.")


def case_list(*, tenant: Tenant, suite: RegressionSuite) -> QuerySet[RegressionCase]:
    return RegressionCase.objects.for_tenant(tenant).filter(suite=suite).order_by("created_at", "pk")


def case_get(*, tenant: Tenant, case_id: uuid.UUID | str) -> RegressionCase:
    cases = RegressionCase.objects.for_tenant(tenant).select_related("suite__bot")
    return one_by_id(cases, case_id, missing="No such case.")


def run_list(*, tenant: Tenant, suite: RegressionSuite | None = None) -> QuerySet[RegressionRun]:
    """Newest first, each with its ``columns`` (configurations in order) prefetched."""
    runs = RegressionRun.objects.for_tenant(tenant).select_related("suite__bot").prefetch_related(_columns())
    if suite is not None:
        runs = runs.filter(suite=suite)
    return runs.order_by("-created_at")


def run_get(*, tenant: Tenant, run_id: uuid.UUID | str) -> RegressionRun:
    return one_by_id(run_list(tenant=tenant), run_id, missing="No such run.")


# A run queued for less than this is simply next in line: only an older one is worth asking the
# workers about (a ping waits its whole timeout).
ASK_WORKERS_AFTER = timedelta(seconds=5)


def run_wait_reason(*, run: RegressionRun) -> str:
    """Why a queued run has not started, as far as can be known: no worker running, the
    organisation's other runs in progress ahead of it (they share the same workers), or simply the
    queue. "" for a run that is not queued."""
    if run.status != RunStatus.QUEUED:
        return ""
    if timezone.now() - run.created_at >= ASK_WORKERS_AFTER and live_worker_count() == 0:
        return "Waiting for a worker: none is running right now"
    ahead = (
        RegressionRun.objects.filter(tenant_id=run.tenant_id, status=RunStatus.RUNNING)
        .exclude(pk=run.pk)
        .count()
    )
    if ahead == 1:
        return "Waiting: 1 other run of your organisation is in progress"
    if ahead:
        return f"Waiting: {ahead} other runs of your organisation are in progress"
    return "Waiting for a worker"


def run_configurations(*, tenant: Tenant, run: RegressionRun) -> list[RunConfiguration]:
    """The run's configurations in order: prefetched when the run came from run_list or suite_list."""
    prefetched: list[RunConfiguration] | None = getattr(run, "columns", None)
    if prefetched is not None:
        return prefetched
    return list(RunConfiguration.objects.for_tenant(tenant).filter(run=run).order_by("position"))


def live_drift(*, run: RegressionRun) -> tuple[float, float] | None:
    """The live configuration's pass rate in the suite's previous completed run and in ``run``, both on
    the cases the two runs share (a case added since, or removed, says nothing about drift); ``None``
    without a previous run or a shared case."""
    previous = (
        RunConfiguration.objects.filter(
            run__suite_id=run.suite_id,
            run__status=RunStatus.COMPLETED,
            run__created_at__lt=run.created_at,
            is_live=True,
        )
        .order_by("-run__created_at")
        .first()
    )
    current = RunConfiguration.objects.filter(run=run, is_live=True).first()
    if previous is None or current is None:
        return None
    before = dict(
        CaseResult.objects.filter(configuration=previous, case__isnull=False).values_list("case_id", "passed")
    )
    now = dict(
        CaseResult.objects.filter(configuration=current, case__isnull=False).values_list("case_id", "passed")
    )
    shared = before.keys() & now.keys()
    if not shared:
        return None
    return (
        sum(1 for case in shared if before[case]) / len(shared),
        sum(1 for case in shared if now[case]) / len(shared),
    )


# --- the report -----------------------------------------------------------------------------------------

REGRESSION, FAILING, IMPROVEMENT, PASSING = "regression", "failing", "improvement", "passing"
ROW_ORDER = {REGRESSION: 0, FAILING: 1, IMPROVEMENT: 2, PASSING: 3}


@dataclass
class ReportRow:
    case_id: uuid.UUID | None
    question: str
    cells: list[CaseResult | None]  # one per configuration, in order
    kind: str  # against the baseline: regression, failing, improvement, passing
    answers_differ: bool
    regressed_in: list[int] = field(default_factory=list)  # the configurations' positions


@dataclass
class ColumnSummary:
    configuration: RunConfiguration
    regressions: int
    improvements: int


@dataclass
class Report:
    run: RegressionRun
    configurations: list[RunConfiguration]
    columns: list[ColumnSummary]
    rows: list[ReportRow]  # regressions first

    @property
    def regressions(self) -> list[ReportRow]:
        return [row for row in self.rows if row.kind == REGRESSION]


def run_report(*, tenant: Tenant, run: RegressionRun) -> Report:
    """Side by side per case. The baseline is the live configuration (else the first); a case that passes
    there and fails in a candidate is a regression of that candidate, listed first."""
    configurations = run_configurations(tenant=tenant, run=run)
    position = {configuration.pk: index for index, configuration in enumerate(configurations)}
    baseline = next((index for index, c in enumerate(configurations) if c.is_live), 0)
    by_case: dict[Any, list[CaseResult | None]] = {}
    questions: dict[Any, str] = {}
    order: list[Any] = []
    results = CaseResult.objects.for_tenant(tenant).filter(run=run).order_by("case__created_at", "created_at")
    for result in results:
        key = result.case_id or f"gone-{result.pk}"
        if key not in by_case:
            by_case[key] = [None] * len(configurations)
            questions[key] = result.question
            order.append(key)
        by_case[key][position[result.configuration_id]] = result
    regressions = [0] * len(configurations)
    improvements = [0] * len(configurations)
    rows = []
    for key in order:
        cells = by_case[key]
        base = cells[baseline]
        regressed_in = [
            index
            for index, cell in enumerate(cells)
            if index != baseline and base is not None and base.passed and cell is not None and not cell.passed
        ]
        improved_in = [
            index
            for index, cell in enumerate(cells)
            if index != baseline and base is not None and not base.passed and cell is not None and cell.passed
        ]
        for index in regressed_in:
            regressions[index] += 1
        for index in improved_in:
            improvements[index] += 1
        if regressed_in:
            kind = REGRESSION
        elif improved_in:
            kind = IMPROVEMENT
        elif base is not None and base.passed:
            kind = PASSING
        else:
            kind = FAILING
        answers = {" ".join(cell.answer.split()) for cell in cells if cell is not None}
        rows.append(
            ReportRow(
                case_id=key if isinstance(key, uuid.UUID) else None,
                question=questions[key],
                cells=cells,
                kind=kind,
                answers_differ=len(answers) > 1,
                regressed_in=regressed_in,
            )
        )
    rows.sort(key=lambda row: ROW_ORDER[row.kind])  # stable: the suite's order within each kind
    columns = [
        ColumnSummary(
            configuration=configuration, regressions=regressions[index], improvements=improvements[index]
        )
        for index, configuration in enumerate(configurations)
    ]
    return Report(run=run, configurations=configurations, columns=columns, rows=rows)


# --- the switching gate -------------------------------------------------------------------------------

UNTESTED, REGRESSED, PASSED = "untested", "regressed", "passed"


@dataclass
class FailingCase:
    question: str
    checks: list[dict[str, Any]]
    regressed: bool  # passed with the live settings, failed with the candidate


@dataclass
class Gate:
    status: str  # untested, regressed, passed
    candidate_model: str
    run: RegressionRun | None = None
    suite_name: str = ""
    live_pass_rate: float | None = None
    candidate_pass_rate: float | None = None
    compared_with_model: str = ""  # the live model of that comparison
    failing: list[FailingCase] = field(default_factory=list)


def model_gate(*, tenant: Tenant, bot: Bot, candidate_model: str) -> Gate:
    """The latest completed comparison of the live bot with a candidate that changes only the chat model to
    ``candidate_model``: regressed (with the cases it fails), passed, or never tested."""
    candidates = (
        RunConfiguration.objects.for_tenant(tenant)
        .filter(
            run__suite__bot=bot,
            run__status=RunStatus.COMPLETED,
            is_live=False,
            overrides={"chat_model": candidate_model},
        )
        .select_related("run__suite")
        .order_by("-run__created_at")
    )
    for candidate in candidates:
        live = RunConfiguration.objects.for_tenant(tenant).filter(run=candidate.run, is_live=True).first()
        if live is None:
            continue
        live_results = {
            r.case_id: r for r in CaseResult.objects.for_tenant(tenant).filter(configuration=live)
        }
        failing = [
            FailingCase(
                question=result.question,
                checks=[check for check in result.checks if not check.get("passed")],
                regressed=bool(live_results.get(result.case_id) and live_results[result.case_id].passed),
            )
            for result in CaseResult.objects.for_tenant(tenant)
            .filter(configuration=candidate, passed=False)
            .order_by("created_at")
        ]
        failing.sort(key=lambda case: not case.regressed)
        regressed = any(case.regressed for case in failing) or (
            (candidate.pass_rate or 0.0) < (live.pass_rate or 0.0)
        )
        return Gate(
            status=REGRESSED if regressed else PASSED,
            candidate_model=candidate_model,
            run=candidate.run,
            suite_name=candidate.run.suite.name,
            live_pass_rate=live.pass_rate,
            candidate_pass_rate=candidate.pass_rate,
            compared_with_model=str(live.settings_used.get("chat_model", "")),
            failing=failing,
        )
    return Gate(status=UNTESTED, candidate_model=candidate_model)


# --- drift ----------------------------------------------------------------------------------------------


def drift_alerts(*, tenant: Tenant, bot: Bot | None = None) -> QuerySet[RegressionRun]:
    """Completed runs whose live pass rate fell past the suite's tolerance, not yet acknowledged."""
    runs = run_list(tenant=tenant).filter(
        status=RunStatus.COMPLETED, drift_detected=True, drift_acknowledged=False
    )
    if bot is not None:
        runs = runs.filter(suite__bot=bot)
    return runs


def runs_started_since(*, tenant: Tenant, since: datetime) -> int:
    """Regression runs the tenant started (by hand or on schedule) since ``since``: its daily quota."""
    return RegressionRun.objects.for_tenant(tenant).filter(created_at__gte=since).count()
