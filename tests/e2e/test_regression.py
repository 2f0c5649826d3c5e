"""Regression suites in a real browser, served by the real server (uvicorn), runs executed by the session's
real Celery worker: build a suite from a real conversation's answer in one click, give the case its
expected facts, add a case by hand, run the suite against a candidate (the live bot's search with a single
passage), watch the progress bar, and read the side-by-side report with the regressed case first.

The bot answers with the built-in "cited passages" model (no provider): it quotes the best passages, so a
candidate that reads one passage instead of five loses the fact the second document holds.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bots import services as bot_services
from bots.chat import services as chat_services
from bots.models import Bot, RegressionRun
from knowledge import services as knowledge_services
from knowledge.models import Document
from providers import services as provider_services
from tenants.actors import Actor
from tenants.context import tenant_context
from tenants.models import Membership, Role, Tenant, User
from tests.e2e.pages import SIGN_UP_SERVER_ENV, screenshot, shot, sign_up
from tests.processes import running_server, start_worker, stop_worker
from tests.stubs.openai_stub import OpenAIStub

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INGEST_SECONDS = 180  # the worker loads the embedding model for the first document
RUN_TIMEOUT_MS = 180_000
RETURNS = (
    "# Returns\n\nYou can return any unused item within 30 days of delivery. "
    "Start a return from your account page."
)
REFUNDS = (
    "# Refunds\n\nRefunds go back to the card you paid with, "
    "within 5 working days of the item reaching our warehouse."
)
QUESTION = "How do I return an item, and when is my refund paid?"


def owner_actor(organisation: str) -> Actor:
    tenant = Tenant.objects.get(name=organisation)
    user = User.objects.get(email="grace@example.test")
    with tenant_context(tenant.pk):
        assert Membership.objects.filter(tenant=tenant, user=user, role=Role.OWNER).exists()
    return Actor(tenant=tenant, role=Role.OWNER, user=user)


def bot_with_a_conversation(actor: Actor) -> Bot:
    """Two documents ingested by the worker, a bot on the built-in models answering from them, and a
    widget conversation whose answer cited both (as the engine stores it)."""
    base = knowledge_services.knowledge_base_create(actor=actor, name="Help centre")
    documents = [
        knowledge_services.document_add_text(actor=actor, knowledge_base_id=base.pk, text=text, title=title)
        for title, text in (("Returns policy", RETURNS), ("Refunds", REFUNDS))
    ]
    deadline = time.monotonic() + INGEST_SECONDS
    while True:
        with tenant_context(actor.tenant.pk):
            statuses = set(Document.objects.values_list("status", flat=True))
        if statuses == {"ready"}:
            break
        assert "failed" not in statuses and time.monotonic() < deadline, f"ingestion: {statuses}"
        time.sleep(0.5)
    bot = bot_services.bot_create(
        actor=actor, name="Concierge", knowledge_base_ids=[base.pk], retrieval_score_threshold=0.1
    )
    start = chat_services.chat_start(
        tenant_id=actor.tenant.pk, bot_id=bot.pk, question=QUESTION, channel="widget"
    )
    chat_services.chat_record_answer(
        tenant_id=actor.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(
            content=(
                "[1] Returns policy\n> You can return any unused item within 30 days of delivery.\n\n"
                "[2] Refunds\n> Refunds go back to the card you paid with, within 5 working days."
            ),
            outcome="answered",
            citations=[
                {"number": number, "document_id": str(document.pk), "title": document.title}
                for number, document in enumerate(documents, start=1)
            ],
            model_ref="local:no-llm",
            latency_ms=40,
        ),
    )
    return bot


def test_build_a_suite_from_a_conversation_run_it_against_a_candidate_and_read_the_report(
    page: Page, server_url: str, celery_worker: str
) -> None:
    sign_up(page, server_url, "Northwind Support")
    bot = bot_with_a_conversation(owner_actor("Northwind Support"))

    # The bot's suites: none yet; a new one.
    page.goto(f"{server_url}/app/bots/{bot.pk}/suites/")
    expect(page.get_by_role("heading", name="No suites yet")).to_be_visible()
    page.get_by_label("Name").fill("Returns and refunds")
    page.get_by_label("Description").fill("What shoppers ask before and after sending something back.")
    page.get_by_role("button", name="Create suite").click()
    expect(page.get_by_role("heading", name="Returns and refunds", level=1)).to_be_visible()
    expect(page.get_by_text("Created the suite “Returns and refunds”.")).to_be_visible()

    # A case from the conversation, in one click.
    recent = page.locator("[data-recent-answer]").filter(has_text=QUESTION)
    expect(recent).to_contain_text("Widget")
    recent.get_by_role("button", name="Add as a case").click()
    expect(page.get_by_text(f"Added “{QUESTION}” to the suite “Returns and refunds”.")).to_be_visible()
    case = page.locator("[data-case]").filter(has_text=QUESTION)
    expect(case).to_contain_text("From a conversation")
    expect(case).to_contain_text("Returns policy")  # the cited documents became required citations
    expect(case).to_contain_text("Refunds")
    expect(page.locator("[data-recent-answer]").filter(has_text=QUESTION)).to_contain_text("In this suite")

    # Its expected facts.
    case.get_by_role("link", name="Edit this case").click()
    expect(page.get_by_role("heading", name="Edit case")).to_be_visible()
    page.get_by_label("Expected facts").fill("30 days\n5 working days")
    page.get_by_role("button", name="Save case").click()
    expect(page.get_by_text("Saved the case.")).to_be_visible()
    case = page.locator("[data-case]").filter(has_text=QUESTION)
    expect(case.locator(".gw-rg-fact")).to_have_text(["30 days", "5 working days"])

    # A case by hand.
    page.locator("#add-case > summary").click()
    page.get_by_label("Question", exact=True).fill("Can I return an item I have used?")
    page.get_by_label("Expected facts").fill("unused")
    page.get_by_role("button", name="Add case").click()
    expect(page.get_by_text("Added the case.")).to_be_visible()
    expect(page.locator("[data-case]")).to_have_count(2)
    shot(page, "regression-suite")

    # Run it: the live bot and a candidate that reads a single passage.
    run_form = page.locator("[data-run-form]")
    candidate = run_form.locator("[data-candidate='1']")
    candidate.get_by_label("Label").fill("One passage")
    candidate.get_by_label("Passages per answer").fill("1")
    run_form.get_by_role("button", name="Run 2 cases").click()
    expect(page.get_by_text("Run started. This page follows its progress.")).to_be_visible()
    run_id = uuid.UUID(re.search(r"/app/runs/([0-9a-f-]{36})/", page.url).group(1))  # type: ignore[union-attr]
    progress = page.locator("#run-progress")
    expect(progress.locator("progress")).to_be_visible()
    expect(progress).to_contain_text("of 4 answers")

    # The page reloads into the report once the worker is done.
    report = page.locator("[data-report]")
    expect(report).to_be_visible(timeout=RUN_TIMEOUT_MS)
    with tenant_context(bot.tenant_id):
        run = RegressionRun.objects.get(pk=run_id)
    assert (run.status, run.done, run.total) == ("completed", 4, 4), run.error_message
    summary = page.locator("[data-report-summary]")
    expect(summary.locator("[data-column]")).to_have_count(2)
    expect(summary.locator("[data-column='Live']")).to_contain_text("100%")
    expect(summary.locator("[data-column='Live']")).to_contain_text("Live")
    expect(summary.locator("[data-column='One passage']")).to_contain_text("50%")
    expect(summary.locator("[data-column='One passage'] [data-regressions]")).to_have_text("1")
    first = report.locator("[data-case-row]").first
    expect(first).to_have_attribute("data-kind", "regression")
    expect(first).to_contain_text(QUESTION)
    expect(first).to_contain_text("Regressed in One passage")
    expect(first.locator("[data-cell]")).to_have_count(2)
    expect(first.locator("[data-cell]").nth(0)).to_contain_text("Pass")
    expect(first.locator("[data-cell]").nth(1)).to_contain_text("Fail")
    expect(first.locator("[data-cell]").nth(1)).to_contain_text("Missing fact")
    expect(first.locator("[data-cell]").nth(1)).to_contain_text("differs")

    # The filter shows only the regressions.
    report.get_by_role("button", name=re.compile("^Regressions")).click()
    expect(report.locator("[data-case-row]:visible")).to_have_count(1)
    report.get_by_role("button", name="All", exact=True).click()
    expect(report.locator("[data-case-row]:visible")).to_have_count(2)
    shot(page, "regression-report")

    # Back on the suite, the run is listed with both pass rates.
    page.get_by_role("link", name="Returns and refunds").first.click()
    runs = page.locator("#runs")
    expect(runs).to_contain_text("Completed")
    expect(runs).to_contain_text("One passage")

    # At phone width nothing scrolls the page sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    for path in (f"/app/bots/{bot.pk}/suites/", f"/app/runs/{run_id}/"):
        page.goto(f"{server_url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
    shot(page, "regression-report-phone")

    # The builder's model switch asks the suites first: a model never compared is flagged before saving.
    page.set_viewport_size({"width": 1280, "height": 860})
    actor = owner_actor("Northwind Support")
    provider_services.credential_create(
        actor=actor, provider="openai", name="OpenAI", api_key="sk-test-0123456789"
    )
    provider_services.model_settings_update(
        actor=actor, enabled_models=["local:no-llm", "local:all-MiniLM-L6-v2", "openai:gpt-4o-mini"]
    )
    page.goto(f"{server_url}/app/bots/{bot.pk}/")
    gate = page.locator("#model-gate")
    expect(gate).to_be_attached()
    expect(gate).not_to_have_attribute("data-gate-status", re.compile("."))  # the live model: nothing to say
    page.locator("label.gw-model-option").filter(has_text="GPT-4o mini").click()
    expect(gate).to_have_attribute("data-gate-status", "untested")
    expect(gate).to_contain_text("Never tested: run a suite against GPT-4o mini before switching.")
    expect(gate.get_by_role("button", name=re.compile("with GPT-4o mini"))).to_be_visible()
    page.locator("label.gw-model-option").filter(has_text="Cited passages").click()
    expect(gate).not_to_have_attribute("data-gate-status", re.compile("."))


# --- a candidate chat model, against the OpenAI wire stub ------------------------------------------------

OPENAI_KEY = "sk-test-openai-key-0123456789"
FACT_ANSWER = (
    "You can return unused items within 30 days [1], and refunds reach your card within 5 working days [2]."
)


@pytest.fixture(scope="module")
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=OPENAI_KEY).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def stub_queue() -> str:
    return f"groundwork-test-e2e-regression-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def stub_worker(
    openai_stub: OpenAIStub, stub_queue: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[None]:
    """A worker that reaches the stub, on a queue of its own (the session's worker does not know the stub)."""
    worker = start_worker(
        queue=stub_queue,
        log_name="celery-worker-e2e-regression.log",
        OPENAI_API_KEY="",
        OPENAI_BASE_URL=openai_stub.base_url,
    )
    yield
    stop_worker(worker)


@pytest.fixture(scope="module")
def stub_server(openai_stub: OpenAIStub, stub_queue: str, stub_worker: None) -> Iterator[str]:
    """Groundwork as in production, sending its runs to that worker."""
    with running_server(
        log_name="e2e-regression-server.log",
        DEBUG="false",
        **SIGN_UP_SERVER_ENV,
        OPENAI_API_KEY="",
        OPENAI_BASE_URL=openai_stub.base_url,
        CELERY_TASK_DEFAULT_QUEUE=stub_queue,
    ) as url:
        yield url


def test_a_candidate_model_that_regresses_is_reported_and_the_builder_warns_before_switching(
    page: Page, stub_server: str, celery_worker: str, openai_stub: OpenAIStub
) -> None:
    sign_up(page, stub_server, "Northwind Support")
    actor = owner_actor("Northwind Support")
    bot = bot_with_a_conversation(actor)
    provider_services.credential_create(actor=actor, provider="openai", name="OpenAI", api_key=OPENAI_KEY)
    provider_services.model_settings_update(
        actor=actor,
        enabled_models=[
            "local:no-llm",
            "local:all-MiniLM-L6-v2",
            "openai:gpt-4o-mini",
            "openai:gpt-4.1-mini",
        ],
    )
    bot_services.bot_update(actor=actor, bot_id=bot.pk, chat_model="openai:gpt-4o-mini")
    openai_stub.script("gpt-4o-mini", QUESTION, FACT_ANSWER)
    openai_stub.script("gpt-4.1-mini", QUESTION, "Returns are possible. Please contact us about refunds.")

    # A suite from the conversation, with the facts the answer must keep.
    page.goto(f"{stub_server}/app/bots/{bot.pk}/suites/")
    page.get_by_label("Name").fill("Returns and refunds")
    page.get_by_role("button", name="Create suite").click()
    page.locator("[data-recent-answer]").filter(has_text=QUESTION).get_by_role(
        "button", name="Add as a case"
    ).click()
    case = page.locator("[data-case]").filter(has_text=QUESTION)
    case.get_by_role("link", name="Edit this case").click()
    page.get_by_label("Expected facts").fill("30 days\n5 working days")
    page.get_by_role("button", name="Save case").click()
    expect(page.get_by_text("Saved the case.")).to_be_visible()

    # Against a cheaper chat model.
    candidate = page.locator("[data-run-form] [data-candidate='1']")
    chat_model = candidate.get_by_label("Chat model")
    chat_model.select_option(value="openai:gpt-4.1-mini")
    expect(chat_model.locator("option:checked")).to_contain_text("GPT-4.1 mini")
    page.locator("[data-run-form]").get_by_role("button", name=re.compile("^Run")).click()
    report = page.locator("[data-report]")
    expect(report).to_be_visible(timeout=RUN_TIMEOUT_MS)
    summary = page.locator("[data-report-summary]")
    expect(summary.locator("[data-column='Live']")).to_contain_text("100%")
    expect(summary.locator("[data-column='GPT-4.1 mini']")).to_contain_text("0%")
    first = report.locator("[data-case-row]").first
    expect(first).to_have_attribute("data-kind", "regression")
    expect(first).to_contain_text("Regressed in GPT-4.1 mini")
    # The answer is rendered as in the widget: its citation marks are badges.
    live_answer = first.locator("[data-cell]").nth(0).locator("[data-markdown]")
    expect(live_answer).to_contain_text(re.sub(r"\[(\d)\]", r"\1", FACT_ANSWER))
    expect(live_answer.locator(".gw-ref")).to_have_text(["1", "2"])
    expect(first.locator("[data-cell]").nth(1)).to_contain_text("Missing fact")
    shot(page, "regression-report-model")

    # The builder warns, with the failing case, when that model is picked.
    page.goto(f"{stub_server}/app/bots/{bot.pk}/")
    page.locator("label.gw-model-option").filter(has_text="GPT-4.1 mini").click()
    gate = page.locator("#model-gate")
    expect(gate).to_have_attribute("data-gate-status", "regressed")
    expect(gate).to_contain_text("Regressed in suite “Returns and refunds”")
    expect(gate).to_contain_text(QUESTION)
    page.locator("#model-gate").scroll_into_view_if_needed()
    screenshot(page, "regression-gate")
