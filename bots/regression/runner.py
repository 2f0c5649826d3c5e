"""Executing a regression run (the body of ``bots.regression.tasks.run_regression_suite``).

For each configuration, the bot's settings as they were when the run first started (kept in
``RunConfiguration.settings_used``, so a resumed run answers with the same settings) with the candidate's
overrides applied to an unsaved copy of the bot; for a candidate embedding model, a scratch copy of the
knowledge bases' index embedded with it. Then each case not yet answered by that configuration: answer
(``engine.evaluate``), score, store once. A run works for at most ``time_budget_seconds`` per task and
then hands the run back to be continued (at least one case per task), so no task runs for long and a
worker restart loses at most one case.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync

from bots import bot_settings
from bots import selectors as bot_selectors
from bots.chat import engine
from bots.chat import services as chat_services
from bots.models import Bot, CaseResult, MessageOutcome, RegressionCase, RegressionRun, RunConfiguration
from bots.regression import scoring, services
from knowledge import selectors as knowledge_selectors
from knowledge import services as knowledge_services
from knowledge.models import KnowledgeBase
from providers.models import UsageRecord
from tenants.context import tenant_context

# The bot's settings a run records and answers with.
SNAPSHOT_FIELDS = bot_settings.SNAPSHOT_NAMES

COMPLETED, CONTINUE, SKIPPED = "completed", "continue", "skipped"


@dataclass
class _Column:
    configuration: RunConfiguration
    bot: Bot
    knowledge_bases: list[KnowledgeBase]


def execute(*, tenant_id: uuid.UUID | str, run_id: uuid.UUID | str, time_budget_seconds: float) -> str:
    run = services.run_claim(tenant_id=tenant_id, run_id=run_id)
    if run is None:
        return SKIPPED
    try:
        with tenant_context(tenant_id):
            chat_services.check_monthly_budget(tenant=run.suite.bot.tenant)
    except chat_services.BudgetExhausted as error:
        services.run_fail(tenant_id=tenant_id, run_id=run.pk, reason=error.message)
        return SKIPPED
    deadline = time.monotonic() + time_budget_seconds
    with tenant_context(tenant_id):
        cases = list(RegressionCase.objects.filter(suite_id=run.suite_id).order_by("created_at", "pk"))
        configurations = list(RunConfiguration.objects.filter(run=run).order_by("position"))
        answered = set(CaseResult.objects.filter(run=run).values_list("configuration_id", "case_id"))
        required = {identifier for case in cases for identifier in case.required_document_ids}
        titles = knowledge_selectors.document_titles(tenant=run.suite.bot.tenant, document_ids=list(required))
    try:
        for configuration in configurations:
            pending = [case for case in cases if (configuration.pk, case.pk) not in answered]
            if not pending:
                continue
            column = _column(run, configuration)
            for case in pending:
                services.run_record_result(
                    tenant_id=tenant_id, run_id=run.pk, **_answer_and_score(run, column, case, titles)
                )
                answered.add((configuration.pk, case.pk))
                if time.monotonic() > deadline and len(answered) < len(cases) * len(configurations):
                    services.run_pause(tenant_id=tenant_id, run_id=run.pk)
                    return CONTINUE  # every task answers at least one case
    except chat_services.BudgetExhausted as error:
        # The gateway reserves each model call in the monthly budget: a run stops where it no longer fits.
        _drop_scratch_indexes(run, configurations)
        services.run_fail(tenant_id=tenant_id, run_id=run.pk, reason=error.message)
        return SKIPPED
    # Dropped before the run is marked complete: a worker dying in between leaves a run that a
    # redelivery finishes (and drops again), never a completed run with scratch chunks left behind.
    _drop_scratch_indexes(run, configurations)
    services.run_finish(tenant_id=tenant_id, run_id=run.pk)
    return COMPLETED


def _column(run: RegressionRun, configuration: RunConfiguration) -> _Column:
    """The bot as this configuration answers: an unsaved copy, never the live row."""
    tenant_id = run.tenant_id
    with tenant_context(tenant_id):
        live = Bot.objects.select_related("tenant").get(pk=run.suite.bot_id)
        bases = bot_selectors.bot_knowledge_bases(tenant=live.tenant, bot=live)
        if not configuration.settings_used:
            used: dict[str, Any] = {name: getattr(live, name) for name in SNAPSHOT_FIELDS}
            used["knowledge_base_ids"] = [str(base.pk) for base in bases]
            used.update(configuration.overrides)
            configuration.settings_used = used
            RunConfiguration.objects.filter(pk=configuration.pk).update(settings_used=used)
    bot = copy.copy(live)
    for name in SNAPSHOT_FIELDS:
        if name in configuration.settings_used:
            setattr(bot, name, configuration.settings_used[name])
    wanted = set(configuration.settings_used.get("knowledge_base_ids", []))
    bases = [base for base in bases if str(base.pk) in wanted]
    embedding_model = configuration.settings_used.get("embedding_model")
    if embedding_model:
        version = knowledge_services.scratch_index_version(configuration.pk)
        bases = [
            knowledge_services.scratch_index_build(
                tenant_id=tenant_id, knowledge_base_id=base.pk, model_ref=embedding_model, version=version
            )
            for base in bases
        ]
        services.run_configuration_scratch_index(
            tenant_id=tenant_id, configuration_id=configuration.pk, version=version, ready=True
        )
    return _Column(configuration=configuration, bot=bot, knowledge_bases=bases)


def _answer_and_score(
    run: RegressionRun, column: _Column, case: RegressionCase, titles: dict[str, str]
) -> dict[str, Any]:
    answer = async_to_sync(engine.evaluate)(
        tenant_id=run.tenant_id,
        bot=column.bot,
        knowledge_bases=column.knowledge_bases,
        question=case.question,
    )
    checks = scoring.deterministic_checks(
        case, answer, handoff_message=column.bot.handoff_message, document_titles=titles
    )
    judge_passed: bool | None = None
    judge_reasoning = ""
    suite = run.suite
    if suite.judge_model and answer.outcome != MessageOutcome.ERROR:
        usage: list[UsageRecord] = []
        verdict = async_to_sync(scoring.judge)(
            tenant_id=run.tenant_id,
            judge_model=suite.judge_model,
            rubric=suite.judge_rubric,
            case=case,
            answer=answer.content,
            usage=usage,
        )
        judge_passed, judge_reasoning = verdict.passed, verdict.reasoning
        checks.append(scoring.Check("judge", suite.judge_model, verdict.passed, verdict.reasoning[:300]))
    return {
        "configuration_id": column.configuration.pk,
        "case_id": case.pk,
        "question": case.question,
        "answer": answer.content,
        "outcome": answer.outcome,
        "citations": answer.citations or [],
        "model_version": answer.model_version[:200],
        "passed": all(check.passed for check in checks),
        "checks": [check.as_json() for check in checks],
        "judge_passed": judge_passed,
        "judge_reasoning": judge_reasoning,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
        "cost_usd": answer.cost_usd,
        "latency_ms": answer.latency_ms or 0,
        "error_message": answer.error_message[:500],
    }


def _drop_scratch_indexes(run: RegressionRun, configurations: list[RunConfiguration]) -> None:
    with tenant_context(run.tenant_id):
        base_ids = list(bot_selectors.bot_knowledge_bases(tenant=run.suite.bot.tenant, bot=run.suite.bot))
    for configuration in configurations:
        if configuration.settings_used.get("embedding_model"):
            version = knowledge_services.scratch_index_version(configuration.pk)
            for base in base_ids:
                knowledge_services.scratch_index_drop(
                    tenant_id=run.tenant_id, knowledge_base_id=base.pk, version=version
                )
