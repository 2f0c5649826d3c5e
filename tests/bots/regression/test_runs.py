"""Regression suites: cases by hand, from a conversation and imported; runs through a real Celery worker
against the OpenAI wire stub scripted to answer differently per model and question; the report names
exactly the cases that regressed; the model gate warns; scheduled runs notice drift; a run survives its
worker being killed; a candidate embedding model is tried on a scratch index that is dropped after.

Runs go to a worker of this module's own, on a queue of its own, started with the stub's address (the
session's shared worker knows nothing of this stub).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from bots import services as bot_services
from bots.chat import services as chat_services
from bots.models import Bot, CaseResult, RegressionRun, RegressionSuite, RunConfiguration
from bots.regression import case_files as regression_case_files
from bots.regression import runner, scoring, selectors, services
from core.errors import ValidationFailed
from knowledge.models import Chunk, KnowledgeBase
from providers import services as provider_services
from providers.models import UsageRecord
from tenants.context import tenant_context
from tests.bots.regression.factories import policy_document_id, shop, three_cases
from tests.bots.regression.helpers import (
    CANDIDATE_MODEL,
    EXCHANGE_QUESTION,
    LIVE_MODEL,
    OFF_TOPIC_QUESTION,
    REFUND_QUESTION,
    UNTESTED_MODEL,
    enqueue_to,
    script_good_answers,
)
from tests.processes import WorkerProcess, start_worker, stop_worker
from tests.stubs import Fault
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def queue() -> str:
    return f"groundwork-test-regression-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def worker(
    stub_server: OpenAIStub, queue: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[WorkerProcess]:
    process = start_worker(
        queue=queue,
        log_name="celery-worker-regression.log",
        OPENAI_BASE_URL=stub_server.base_url,
        OPENAI_API_KEY="",
    )
    yield process
    stop_worker(process)


@pytest.fixture(autouse=True)
def runs_go_to_the_modules_worker(stub: OpenAIStub, queue: str) -> Iterator[None]:
    with enqueue_to(queue):
        yield


def wait_for_run(world: World, run_id: uuid.UUID) -> RegressionRun:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with tenant_context(world.tenant.pk):
            run = RegressionRun.objects.get(pk=run_id)
        if run.status in ("completed", "failed"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run.status} {run.done}/{run.total}; see test-artifacts/celery-worker-regression.log"
            )
        time.sleep(0.25)


def report_for(world: World, run: RegressionRun) -> selectors.Report:
    with tenant_context(world.tenant.pk):
        return selectors.run_report(tenant=world.tenant, run=run)


# --- comparing a candidate model -----------------------------------------------------------------------


def test_the_report_names_exactly_the_cases_a_candidate_model_regressed_and_the_gate_warns(
    stub: OpenAIStub, worker: WorkerProcess
) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    stub.script("gpt-4.1-mini", REFUND_QUESTION, "Card refunds take five working days [1].")
    stub.script("gpt-4.1-mini", EXCHANGE_QUESTION, "Exchanges cost a small fee.")  # the regression

    run = services.run_start(
        actor=world.actor(), suite_id=suite.pk, candidates=[{"overrides": {"chat_model": CANDIDATE_MODEL}}]
    )
    finished = wait_for_run(world, run.pk)

    assert finished.status == "completed", finished.error_message
    assert (finished.done, finished.total) == (6, 6)
    report = report_for(world, finished)
    live, candidate = report.configurations
    assert (live.is_live, live.label, candidate.label) == (True, "Live", "GPT-4.1 mini")
    assert (live.passed, live.failed, candidate.passed, candidate.failed) == (3, 0, 2, 1)
    assert [row.question for row in report.regressions] == [EXCHANGE_QUESTION]
    assert report.rows[0].question == EXCHANGE_QUESTION  # regressions first
    assert report.rows[0].answers_differ and report.rows[0].regressed_in == [1]
    failed_checks = [check for check in report.rows[0].cells[1].checks if not check["passed"]]  # type: ignore[union-attr]
    assert [(check["check"], check["expected"]) for check in failed_checks] == [
        ("fact", "free"),
        ("fact", "thirty days"),
    ]
    assert report.columns[1].regressions == 1
    assert (
        candidate.settings_used["chat_model"] == CANDIDATE_MODEL
        and live.settings_used["chat_model"] == LIVE_MODEL
    )
    off_topic = next(row for row in report.rows if row.question == OFF_TOPIC_QUESTION)
    assert all(cell is not None and cell.outcome == "no_answer" and cell.passed for cell in off_topic.cells)
    assert all(
        cell.cost_usd > 0
        for row in report.rows
        if row.question != OFF_TOPIC_QUESTION
        for cell in row.cells
        if cell
    )

    with tenant_context(world.tenant.pk):
        live_bot = Bot.objects.get(pk=bot.pk)
        gate = selectors.model_gate(tenant=world.tenant, bot=live_bot, candidate_model=CANDIDATE_MODEL)
        untested = selectors.model_gate(tenant=world.tenant, bot=live_bot, candidate_model=UNTESTED_MODEL)
    assert live_bot.chat_model == LIVE_MODEL  # the run changed nothing on the live bot
    assert gate.status == "regressed" and gate.run is not None and gate.run.pk == run.pk
    assert [(case.question, case.regressed) for case in gate.failing] == [(EXCHANGE_QUESTION, True)]
    assert (gate.live_pass_rate, gate.candidate_pass_rate) == (1.0, 2 / 3)
    assert untested.status == "untested"


def test_a_candidate_that_keeps_every_case_passes_the_gate(stub: OpenAIStub, worker: WorkerProcess) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    script_good_answers(stub, "gpt-4.1-mini")

    run = services.run_start(
        actor=world.actor(),
        suite_id=suite.pk,
        candidates=[{"label": "Cheaper", "overrides": {"chat_model": CANDIDATE_MODEL}}],
    )
    wait_for_run(world, run.pk)

    with tenant_context(world.tenant.pk):
        gate = selectors.model_gate(tenant=world.tenant, bot=bot, candidate_model=CANDIDATE_MODEL)
    assert (gate.status, gate.failing, gate.candidate_pass_rate) == ("passed", [], 1.0)


# --- drift ----------------------------------------------------------------------------------------------


def test_a_scheduled_run_alerts_when_the_same_models_answers_drift(
    stub: OpenAIStub, worker: WorkerProcess
) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    services.suite_update(actor=world.actor(), suite_id=suite.pk, schedule="daily")
    script_good_answers(stub, "gpt-4o-mini")

    def run_when_due() -> RegressionRun:
        with tenant_context(world.tenant.pk):
            RegressionSuite.objects.filter(pk=suite.pk).update(
                next_run_at=timezone.now() - timedelta(minutes=1)
            )
        started = [
            run_id for tenant_id, run_id in services.start_scheduled_runs() if tenant_id == world.tenant.pk
        ]
        assert len(started) == 1
        return wait_for_run(world, started[0])

    first = run_when_due()
    # The provider updates the model behind the same name: one answer loses a fact.
    stub.script("gpt-4o-mini", EXCHANGE_QUESTION, "Exchanges are possible; ask our team about fees.")
    second = run_when_due()

    assert (first.trigger, first.live_pass_rate, first.drift_detected) == ("scheduled", 1.0, False)
    assert (second.previous_pass_rate, second.live_pass_rate, second.drift_detected) == (1.0, 2 / 3, True)
    with tenant_context(world.tenant.pk):
        alerts = list(selectors.drift_alerts(tenant=world.tenant))
        suite_after = RegressionSuite.objects.get(pk=suite.pk)
    assert [alert.pk for alert in alerts] == [second.pk]
    assert suite_after.next_run_at is not None and suite_after.next_run_at > timezone.now() + timedelta(
        hours=23
    )
    services.run_acknowledge_drift(actor=world.actor(), run_id=second.pk)
    with tenant_context(world.tenant.pk):
        assert not selectors.drift_alerts(tenant=world.tenant).exists()


# --- a worker killed mid-run ----------------------------------------------------------------------------


def test_a_run_survives_its_worker_being_killed_and_stores_each_case_once(
    stub: OpenAIStub, queue: str
) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    for number in range(5):
        services.case_create(
            actor=world.actor(),
            suite_id=suite.pk,
            question=f"{REFUND_QUESTION} (variant {number})",
            expected_facts=["five working days"],
        )
    script_good_answers(stub, "gpt-4o-mini")
    for _ in range(30):
        stub.faults.append(Fault.delay(0.6))  # slow answers: the kill lands mid-run
    kill_queue = f"{queue}-kill"
    environment = {"OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "", "CELERY_VISIBILITY_TIMEOUT": "3"}
    first = start_worker(queue=kill_queue, log_name="celery-worker-regression-killed.log", **environment)
    try:
        with enqueue_to(kill_queue):
            run = services.run_start(actor=world.actor(), suite_id=suite.pk)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with tenant_context(world.tenant.pk):
                done = RegressionRun.objects.get(pk=run.pk).done
            if done >= 2:
                break
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.1)
    finally:
        first.process.kill()  # SIGKILL: no acknowledgement, no clean-up
        first.process.wait()
    with tenant_context(world.tenant.pk):
        interrupted = RegressionRun.objects.get(pk=run.pk)
    assert interrupted.status == "running" and 2 <= interrupted.done < interrupted.total == 8

    time.sleep(4)  # the unacknowledged task becomes visible again
    second = start_worker(queue=kill_queue, log_name="celery-worker-regression-restarted.log", **environment)
    try:
        finished = wait_for_run(world, run.pk)
    finally:
        stop_worker(second)

    assert (finished.status, finished.done, finished.total, finished.attempts) == ("completed", 8, 8, 2)
    with tenant_context(world.tenant.pk):
        pairs = list(CaseResult.objects.filter(run=run).values_list("configuration_id", "case_id"))
    assert len(pairs) == len(set(pairs)) == 8
    assert finished.live_pass_rate == 1.0


# --- in process: settings, embeddings, cases --------------------------------------------------------------


def test_candidates_change_instructions_and_retrieval_without_touching_the_live_bot(stub: OpenAIStub) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    with enqueue_to(None):
        run = services.run_start(
            actor=world.actor(),
            suite_id=suite.pk,
            candidates=[
                {"overrides": {"instructions": "Always answer in one word."}},
                {"overrides": {"retrieval_mode": "full_text", "retrieval_top_k": 1}},
            ],
        )

    assert runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "completed"

    report = report_for(world, _run(world, run.pk))
    assert [c.label for c in report.configurations] == [
        "Live",
        "new instructions",
        "full-text search, 1 passage",
    ]
    instructions_prompts = [
        json.dumps(request.body)
        for request in stub.requests_to("/v1/chat/completions")
        if "Always answer in one word." in json.dumps(request.body)
    ]
    assert len(instructions_prompts) == 2  # the two questions the candidate sent to the model
    with tenant_context(world.tenant.pk):
        assert Bot.objects.get(pk=bot.pk).instructions == ""
    assert report.configurations[2].settings_used["retrieval_mode"] == "full_text"


def _run(world: World, run_id: uuid.UUID) -> RegressionRun:
    with tenant_context(world.tenant.pk):
        return RegressionRun.objects.get(pk=run_id)


def test_a_candidate_embedding_model_is_tried_on_a_scratch_index_dropped_after_the_run(
    stub: OpenAIStub,
) -> None:
    stub.embedding_size = 1536
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    with tenant_context(world.tenant.pk):
        real_chunks = Chunk.objects.filter(knowledge_base=base).count()
    with enqueue_to(None):
        run = services.run_start(
            actor=world.actor(),
            suite_id=suite.pk,
            candidates=[{"overrides": {"embedding_model": "openai:text-embedding-3-small"}}],
        )

    try:
        assert (
            runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "completed"
        )
    finally:
        stub.embedding_size = None

    embedded = [request.body["input"] for request in stub.requests_to("/v1/embeddings")]
    assert sum(len(batch) for batch in embedded) == real_chunks + 3  # every chunk once, then each question
    report = report_for(world, _run(world, run.pk))
    assert report.configurations[1].scratch_index_ready
    assert report.configurations[1].settings_used["embedding_model"] == "openai:text-embedding-3-small"
    with tenant_context(world.tenant.pk):
        assert Chunk.objects.filter(knowledge_base=base).count() == real_chunks  # the scratch copy is gone
        assert KnowledgeBase.objects.get(pk=base.pk).embedding_model == "local:all-MiniLM-L6-v2"
    refund = next(row for row in report.rows if row.question == REFUND_QUESTION)
    assert refund.cells[1] is not None and refund.cells[1].citations  # answered from the scratch index


def test_a_case_from_a_conversation_answer_keeps_its_question_citations_and_answer() -> None:
    world = make_world()
    bot, base = shop(world)
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name="From chats")
    document_id = policy_document_id(world, base)
    start = chat_services.chat_start(
        tenant_id=world.tenant.pk, bot_id=bot.pk, question="Refund time?", channel="widget"
    )
    answer = chat_services.chat_record_answer(
        tenant_id=world.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(
            content="Five working days [1].",
            outcome="answered",
            citations=[{"number": 1, "document_id": document_id}],
        ),
    )
    other_bot = bot_services.bot_create(actor=world.actor(), name="Other")

    case = services.case_from_message(actor=world.actor(), suite_id=suite.pk, message_id=answer.pk)

    assert case.question == "Refund time?"
    assert [str(identifier) for identifier in case.required_document_ids] == [document_id]
    assert case.must_refuse is False and "Five working days [1]." in case.notes
    other_suite = services.suite_create(actor=world.actor(), bot_id=other_bot.pk, name="Other")
    with pytest.raises(ValidationFailed):
        services.case_from_message(actor=world.actor(), suite_id=other_suite.pk, message_id=answer.pk)


def test_cases_import_from_csv_and_jsonl_all_or_nothing_and_export_round_trips() -> None:
    world = make_world()
    bot = bot_services.bot_create(actor=world.actor(), name="Shop")
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name="Imported")
    csv_file = (
        b"question,expected_facts,must_refuse,notes\n"
        b'"How long do refunds take?","five working days|card",false,From the FAQ\n'
        b"What is the weather?,,yes,\n"
    )
    jsonl_file = (
        b'{"question": "Are exchanges free?", "expected_facts": ["free"]}\n\n{"question": "Shipping?"}\n'
    )

    services.cases_import(actor=world.actor(), suite_id=suite.pk, content=csv_file, file_format="csv")
    services.cases_import(actor=world.actor(), suite_id=suite.pk, content=jsonl_file, file_format="jsonl")

    with tenant_context(world.tenant.pk):
        rows = list(regression_case_files.case_export_rows(tenant=world.tenant, suite=suite))
    assert rows == [
        {
            "question": "How long do refunds take?",
            "expected_facts": ["five working days", "card"],
            "required_document_ids": [],
            "must_refuse": False,
            "notes": "From the FAQ",
        },
        {
            "question": "What is the weather?",
            "expected_facts": [],
            "required_document_ids": [],
            "must_refuse": True,
            "notes": "",
        },
        {
            "question": "Are exchanges free?",
            "expected_facts": ["free"],
            "required_document_ids": [],
            "must_refuse": False,
            "notes": "",
        },
        {
            "question": "Shipping?",
            "expected_facts": [],
            "required_document_ids": [],
            "must_refuse": False,
            "notes": "",
        },
    ]
    bad_files = [
        (b'{"question": "Fine"}\n{"question": ""}\n', "jsonl", "Line 2"),
        (b'{"question": "Fine"}\nnot json\n', "jsonl", "Line 2"),
        (b'{"question": "Fine", "expected_answer": "x"}\n', "jsonl", "unknown fields"),
        (b"question,must_refuse\nFine,perhaps\n", "csv", "Line 2"),
        (b"prompt\nFine\n", "csv", "question"),
        (b"question,required_document_ids\nFine,not-an-id\n", "csv", "Line 2"),
        (b"\xff\xfe", "csv", "UTF-8"),
    ]
    for content, file_format, message in bad_files:
        with pytest.raises(ValidationFailed) as refused:
            services.cases_import(
                actor=world.actor(), suite_id=suite.pk, content=content, file_format=file_format
            )
        assert message in refused.value.message, refused.value.message
    with pytest.raises(ValidationFailed) as several:
        services.cases_import(
            actor=world.actor(),
            suite_id=suite.pk,
            content=b"question,must_refuse\nFine,no\n,no\nAlso fine,perhaps\nOk,\n",
            file_format="csv",
        )
    assert "Line 3: Write the question." in several.value.message  # every bad line, in one answer
    assert "Line 4: must_refuse" in several.value.message
    with tenant_context(world.tenant.pk):
        assert selectors.case_list(tenant=world.tenant, suite=suite).count() == 4  # nothing half-imported


# --- scoring ------------------------------------------------------------------------------------------


def test_the_deterministic_checks_ignore_case_spacing_and_emphasis() -> None:
    world = make_world()
    bot = bot_services.bot_create(actor=world.actor(), name="Shop", handoff_message="Please email us.")
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name="Checks")
    case = services.case_create(
        actor=world.actor(), suite_id=suite.pk, question="Refunds?", expected_facts=["Five  working days"]
    )
    refuse = services.case_create(
        actor=world.actor(), suite_id=suite.pk, question="Weather?", must_refuse=True
    )

    def answer(content: str, outcome: str = "answered") -> chat_services.AnswerRecord:
        return chat_services.AnswerRecord(content=content, outcome=outcome)

    def passed(case_: Any, record: chat_services.AnswerRecord) -> bool:
        checks = scoring.deterministic_checks(
            case_, record, handoff_message="Please email us.", document_titles={}
        )
        return all(check.passed for check in checks)

    assert passed(case, answer("They take **five working\ndays**."))
    assert not passed(case, answer("They take a week."))
    assert not passed(case, answer("Please email us.", "no_answer"))  # declined a question it should answer
    assert not passed(case, answer("", "error"))
    assert passed(refuse, answer("Please email us.", "no_answer"))
    assert passed(refuse, answer("I'm sorry, I couldn't find that in our help content."))
    assert not passed(refuse, answer("It will be sunny."))


def test_the_judges_verdict_is_read_strictly() -> None:
    assert scoring.read_verdict('{"verdict": "pass", "reasoning": "Complete."}') == scoring.Verdict(
        True, "Complete."
    )
    assert scoring.read_verdict('Sure! {"verdict": "FAIL", "reasoning": "Wrong."} Done.').passed is False
    unreadable = scoring.read_verdict("I think it is fine.")
    assert not unreadable.passed and "could not be read" in unreadable.reasoning
    assert not scoring.read_verdict('{"verdict": "maybe"}').passed


def test_a_judge_model_grades_each_answer_with_the_suites_rubric(stub: OpenAIStub) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    services.suite_update(
        actor=world.actor(),
        suite_id=suite.pk,
        judge_model=UNTESTED_MODEL,
        judge_rubric="Be strict about tone.",
    )
    script_good_answers(stub, "gpt-4o-mini")
    stub.script("gpt-4o", REFUND_QUESTION, '{"verdict": "fail", "reasoning": "Too curt for a customer."}')
    stub.answers["gpt-4o"] = '{"verdict": "pass", "reasoning": "Correct and friendly."}'
    with enqueue_to(None):
        run = services.run_start(actor=world.actor(), suite_id=suite.pk)

    runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300)

    report = report_for(world, _run(world, run.pk))
    by_question = {row.question: row.cells[0] for row in report.rows}
    refund, exchange = by_question[REFUND_QUESTION], by_question[EXCHANGE_QUESTION]
    assert refund is not None and exchange is not None
    assert (refund.judge_passed, refund.judge_reasoning, refund.passed) == (
        False,
        "Too curt for a customer.",
        False,
    )
    assert (exchange.judge_passed, exchange.passed) == (True, True)
    judge_requests = [
        r.body for r in stub.requests_to("/v1/chat/completions") if r.body.get("model") == "gpt-4o"
    ]
    assert "Be strict about tone." in judge_requests[0]["messages"][0]["content"]


def test_candidates_are_checked_before_a_run_starts() -> None:
    world = make_world()
    bot = bot_services.bot_create(actor=world.actor(), name="Shop")
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name="Empty")
    with pytest.raises(ValidationFailed, match="Add cases"):
        services.run_start(actor=world.actor(), suite_id=suite.pk)
    services.case_create(actor=world.actor(), suite_id=suite.pk, question="Hi?")
    for candidate in (
        {"overrides": {"chat_model": "openai:gpt-4o"}},  # not enabled for this tenant
        {"overrides": {"temperature": 1}},  # not something a candidate changes
        {"overrides": {}},
        {"overrides": {"retrieval_top_k": 0}},
        {"overrides": {"embedding_model": "local:all-MiniLM-L6-v2"}},  # the bot has no knowledge bases
    ):
        with pytest.raises(ValidationFailed):
            services.run_start(actor=world.actor(), suite_id=suite.pk, candidates=[candidate])
    with tenant_context(world.tenant.pk):
        assert not RegressionRun.objects.exists()
        assert not RunConfiguration.objects.exists()


def test_a_run_spends_the_tenants_month_not_the_live_bots_day(stub: OpenAIStub) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    bot_services.bot_update(actor=world.actor(), bot_id=bot.pk, daily_budget_usd="0.00")  # spent for visitors
    with enqueue_to(None):
        run = services.run_start(actor=world.actor(), suite_id=suite.pk)

    assert runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "completed"

    with tenant_context(world.tenant.pk):
        calls = list(UsageRecord.objects.filter(created_at__gte=run.created_at))
    assert calls and all(call.bot_id is None for call in calls)  # metered to the tenant only
    provider_services.monthly_budget_update(actor=world.actor(), monthly_budget_usd=Decimal("0.00"))
    with enqueue_to(None):
        refused = services.run_start(actor=world.actor(), suite_id=suite.pk)
    assert runner.execute(tenant_id=world.tenant.pk, run_id=refused.pk, time_budget_seconds=300) == "skipped"
    failed = _run(world, refused.pk)
    assert failed.status == "failed" and "monthly budget" in failed.error_message


def test_a_run_stops_where_the_monthly_budget_no_longer_fits_a_model_call(stub: OpenAIStub) -> None:
    """The month is not spent when the run starts, but the first answer's reservation (its most possible
    cost) does not fit in what is left: the run fails with the budget's reason, no model is called."""
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    provider_services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref="openai:gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=0,
        output_tokens=0,
        cost_usd=Decimal("0.0099"),
        latency_ms=1,
        time_to_first_token_ms=None,
    )
    provider_services.monthly_budget_update(actor=world.actor(), monthly_budget_usd=Decimal("0.01"))
    stub.requests.clear()
    with enqueue_to(None):
        run = services.run_start(actor=world.actor(), suite_id=suite.pk)

    assert runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "skipped"

    failed = _run(world, run.pk)
    assert failed.status == "failed" and "monthly budget of $0.01" in failed.error_message
    assert stub.requests_to("/v1/chat/completions") == []


def test_a_case_added_since_the_last_run_is_not_mistaken_for_drift(stub: OpenAIStub) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")

    def run_now() -> RegressionRun:
        with enqueue_to(None):
            run = services.run_start(actor=world.actor(), suite_id=suite.pk)
        assert (
            runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "completed"
        )
        return _run(world, run.pk)

    first = run_now()
    # A new, harder case the bot fails from the start: the pass rate falls, the answers did not drift.
    services.case_create(
        actor=world.actor(), suite_id=suite.pk, question="Do you ship to Mars?", expected_facts=["rocket"]
    )
    second = run_now()
    stub.script("gpt-4o-mini", REFUND_QUESTION, "Refunds take a while.")
    third = run_now()

    assert first.live_pass_rate == 1.0
    assert (second.live_pass_rate, second.previous_pass_rate, second.drift_detected) == (3 / 4, 1.0, False)
    assert (third.live_pass_rate, third.previous_pass_rate, third.drift_detected) == (2 / 4, 3 / 4, True)


def test_a_long_run_continues_over_many_tasks_without_counting_them_as_deaths(stub: OpenAIStub) -> None:
    world = make_world()
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    for number in range(4):
        services.case_create(actor=world.actor(), suite_id=suite.pk, question=f"{REFUND_QUESTION} ({number})")
    with enqueue_to(None):
        run = services.run_start(actor=world.actor(), suite_id=suite.pk)

    outcomes = []
    while not outcomes or outcomes[-1] == "continue":
        # No time at all per task: each answers one case and hands the run back.
        outcomes.append(runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=0))
        assert _run(world, run.pk).status in ("queued", "completed")
        assert len(outcomes) <= 10

    finished = _run(world, run.pk)
    assert outcomes == ["continue"] * 6 + ["completed"]  # 7 cases, one per task
    assert (finished.status, finished.done, finished.attempts) == ("completed", 7, 1)
