"""Regression suites, cases and runs, made through ``bots.regression.services`` as the tenant's owner;
runs whose results are recorded by hand (as a worker would record them), so reports and drift are
computed by the real services without a model."""

from __future__ import annotations

from typing import Any

from bots.models import Bot, RegressionCase, RegressionRun, RegressionSuite, RunConfiguration
from bots.regression import services
from knowledge.models import Chunk, KnowledgeBase
from tenants.context import tenant_context
from tests.bots.factories import make_bot
from tests.bots.regression.helpers import (
    CANDIDATE_MODEL,
    EXCHANGE_QUESTION,
    LIVE_MODEL,
    OFF_TOPIC_QUESTION,
    POLICY,
    REFUND_QUESTION,
    UNTESTED_MODEL,
)
from tests.knowledge.factories import add_text, ingest, make_knowledge_base
from tests.providers.factories import use_openai
from tests.tenants.factories import World


def make_suite(world: World, bot: Bot, name: str = "Policies", **values: Any) -> RegressionSuite:
    return services.suite_create(actor=world.actor(), bot_id=bot.pk, name=name, **values)


def make_case(
    world: World, suite: RegressionSuite, question: str = "Refunds?", **values: Any
) -> RegressionCase:
    return services.case_create(actor=world.actor(), suite_id=suite.pk, question=question, **values)


def shop(world: World) -> tuple[Bot, KnowledgeBase]:
    """A bot on OpenAI's gpt-4o-mini answering from a policy ingested in-process (the built-in embedder),
    with the models the tests compare enabled."""
    use_openai(
        world,
        LIVE_MODEL,
        CANDIDATE_MODEL,
        UNTESTED_MODEL,
        "local:no-llm",
        "local:all-MiniLM-L6-v2",
        "openai:text-embedding-3-small",
    )
    base = make_knowledge_base(world, "Policies")
    ingest(world, add_text(world, base, POLICY, title="Policy"))
    bot = make_bot(
        world, "Shop", chat_model=LIVE_MODEL, knowledge_base_ids=[base.pk], retrieval_score_threshold=0.35
    )
    return bot, base


def policy_document_id(world: World, base: KnowledgeBase) -> str:
    with tenant_context(world.tenant.pk):
        return str(Chunk.objects.filter(knowledge_base=base).values_list("document_id", flat=True).first())


def three_cases(world: World, bot: Bot, base: KnowledgeBase) -> RegressionSuite:
    """The shop's suite: the refund question (a fact and the policy required), the exchange question
    (two facts), and an off-topic question the bot must refuse."""
    suite = make_suite(world, bot)
    make_case(
        world,
        suite,
        REFUND_QUESTION,
        expected_facts=["five working days"],
        required_document_ids=[policy_document_id(world, base)],
    )
    make_case(world, suite, EXCHANGE_QUESTION, expected_facts=["free", "thirty days"])
    make_case(world, suite, OFF_TOPIC_QUESTION, must_refuse=True)
    return suite


def finished_run(world: World, suite: RegressionSuite, *passed: bool) -> RegressionRun:
    """A completed live-only run whose cases passed or failed as given (recorded by hand, as a worker
    would), so drift is computed from the real services without a model."""
    run = services.run_start(actor=world.actor(), suite_id=suite.pk)
    with tenant_context(world.tenant.pk):
        configuration = RunConfiguration.objects.get(run=run)
        cases = list(RegressionCase.objects.filter(suite=suite).order_by("created_at"))
    for case, verdict in zip(cases, passed, strict=True):
        services.run_record_result(
            tenant_id=world.tenant.pk,
            run_id=run.pk,
            configuration_id=configuration.pk,
            case_id=case.pk,
            question=case.question,
            answer="An answer.",
            passed=verdict,
        )
    return services.run_finish(tenant_id=world.tenant.pk, run_id=run.pk)


def recorded_run(
    world: World,
    suite: RegressionSuite,
    *,
    candidates: list[dict[str, Any]] | None = None,
    passes: dict[int, list[bool]],
    answers: dict[int, list[str]] | None = None,
) -> RegressionRun:
    """A finished run whose results are written directly: ``passes[position]`` per case, in case order,
    for each configuration (0 is the live bot, then ``candidates``), with a fact check on "free"."""
    run = services.run_start(actor=world.actor(), suite_id=suite.pk, candidates=candidates or [])
    with tenant_context(world.tenant.pk):
        configurations = list(RunConfiguration.objects.filter(run=run).order_by("position"))
        cases = list(RegressionCase.objects.filter(suite=suite).order_by("created_at", "pk"))
    for configuration in configurations:
        for index, case in enumerate(cases):
            passed = passes[configuration.position][index]
            answer = (answers or {}).get(configuration.position, [])
            services.run_record_result(
                tenant_id=world.tenant.pk,
                run_id=run.pk,
                configuration_id=configuration.pk,
                case_id=case.pk,
                question=case.question,
                answer=answer[index]
                if index < len(answer)
                else ("It is free." if passed else "It costs a fee."),
                outcome="answered",
                passed=passed,
                checks=[{"check": "fact", "expected": "free", "passed": passed, "detail": ""}],
                latency_ms=1200,
            )
    return services.run_finish(tenant_id=world.tenant.pk, run_id=run.pk)
