"""The regression suite pages: a bot's suites and a new one; a suite's cases added, edited, deleted,
imported (a bad line names itself and nothing is saved) and exported; a run started from the page, its
progress polled, and its report with the regressed case first, run in process against the OpenAI wire stub;
drift alerts and their acknowledgement; the builder's model gate in its three states; a case from a
conversation's answer in one click; viewers read and never write; other tenants' ids are 404; everything a
visitor, a document or a model wrote is shown escaped.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any
from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from bots.models import Bot, RegressionCase, RegressionRun, RegressionSuite, RunConfiguration
from bots.regression import presentation as regression_presentation
from bots.regression import runner, services
from tenants.context import tenant_context
from tenants.models import Role
from tests.bots.factories import make_bot, record_conversation
from tests.bots.regression.factories import make_case, make_suite, recorded_run, shop, three_cases
from tests.bots.regression.helpers import (
    CANDIDATE_MODEL,
    EXCHANGE_QUESTION,
    LIVE_MODEL,
    OFF_TOPIC_QUESTION,
    REFUND_QUESTION,
    UNTESTED_MODEL,
    script_good_answers,
)
from tests.clients import HOSTILE, member_client, text_of
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.providers.factories import use_openai
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db

OTHER_MODEL = "openai:gpt-4.1"  # enabled, and never compared in these tests


@pytest.fixture(autouse=True)
def runs_stay_in_process(stub: OpenAIStub, runs_in_process: None) -> None:
    """Runs are executed by the test with ``runner.execute`` (no worker), against the stub."""


# --- helpers --------------------------------------------------------------------------------------------


def openai_bot(world: World, name: str = "Shop", **settings: Any) -> Bot:
    """A bot on OpenAI's gpt-4o-mini, with the OpenAI models the tests compare enabled (no knowledge)."""
    use_openai(
        world,
        LIVE_MODEL,
        CANDIDATE_MODEL,
        UNTESTED_MODEL,
        OTHER_MODEL,
        "local:no-llm",
        "local:all-MiniLM-L6-v2",
    )
    return make_bot(world, name, chat_model=LIVE_MODEL, **settings)


def bot_with_documents(world: World) -> tuple[Bot, str]:
    """A bot answering from a knowledge base with one (unprocessed) document; the document's id."""
    base = make_knowledge_base(world, "Policies")
    document = add_text(world, base, "Refunds take five working days.", title="Refund policy")
    bot = make_bot(world, "Shop", knowledge_base_ids=[base.pk])
    return bot, str(document.pk)


def suite_of(world: World, bot: Bot, name: str = "Policies", *questions: str) -> RegressionSuite:
    """A suite whose cases each expect the fact "free"."""
    suite = make_suite(world, bot, name)
    for question in questions:
        make_case(world, suite, question, expected_facts=["free"])
    return suite


def only_run(world: World) -> RegressionRun:
    with tenant_context(world.tenant.pk):
        return RegressionRun.objects.get()


def hx(client: Client, path: str) -> Any:
    return client.get(path, HTTP_HX_REQUEST="true")


# --- suites -----------------------------------------------------------------------------------------------


def test_a_bot_without_suites_is_invited_to_write_one_and_a_new_suite_opens_its_page(
    world: World, owner_client: Client
) -> None:
    bot = openai_bot(world)

    empty = owner_client.get(f"/app/bots/{bot.pk}/suites/")
    assert empty.status_code == 200
    page = text_of(empty)
    assert "No suites yet" in page and "New suite" in page
    assert "GPT-4.1 mini" in page  # the judge model select offers the enabled chat models

    response = owner_client.post(
        f"/app/bots/{bot.pk}/suites/",
        {
            "name": "Refunds",
            "description": "Card and cash refunds.",
            "schedule": "daily",
            "drift_tolerance": "10",
            "judge_model": CANDIDATE_MODEL,
            "judge_rubric": "Be strict.",
        },
    )
    with tenant_context(world.tenant.pk):
        suite = RegressionSuite.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/app/suites/{suite.pk}/"
    assert (suite.schedule, suite.drift_tolerance, suite.judge_model, suite.judge_rubric) == (
        "daily",
        0.1,
        CANDIDATE_MODEL,
        "Be strict.",
    )
    assert suite.next_run_at is not None

    listing = text_of(owner_client.get(f"/app/bots/{bot.pk}/suites/"))
    assert "Refunds" in listing and "Every day" in listing and "Never run" in listing and "Judge" in listing

    again = owner_client.post(
        f"/app/bots/{bot.pk}/suites/", {"name": "Refunds", "schedule": "off", "drift_tolerance": "0"}
    )
    assert again.status_code == 400 and "Already used." in text_of(again)
    missing = owner_client.post(
        f"/app/bots/{bot.pk}/suites/", {"name": "", "schedule": "off", "drift_tolerance": "0"}
    )
    assert missing.status_code == 400
    with tenant_context(world.tenant.pk):
        assert RegressionSuite.objects.count() == 1


def test_suite_settings_are_saved_and_the_suite_deleted(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot, "Refunds")

    page = owner_client.get(f"/app/suites/{suite.pk}/")
    assert page.status_code == 200 and "Save settings" in text_of(page)
    saved = owner_client.post(
        f"/app/suites/{suite.pk}/settings/",
        {"name": "Refunds and exchanges", "schedule": "weekly", "drift_tolerance": "5", "judge_model": ""},
    )
    assert saved.status_code == 302 and saved["Location"].endswith("#settings")
    with tenant_context(world.tenant.pk):
        suite = RegressionSuite.objects.get(pk=suite.pk)
    assert (suite.name, suite.schedule, suite.drift_tolerance, suite.judge_model) == (
        "Refunds and exchanges",
        "weekly",
        0.05,
        "",
    )
    refused = owner_client.post(
        f"/app/suites/{suite.pk}/settings/", {"name": "X", "schedule": "hourly", "drift_tolerance": "200"}
    )
    assert refused.status_code == 400

    deleted = owner_client.post(f"/app/suites/{suite.pk}/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == f"/app/bots/{bot.pk}/suites/"
    with tenant_context(world.tenant.pk):
        assert not RegressionSuite.objects.exists()


# --- cases -----------------------------------------------------------------------------------------------


def test_cases_are_added_edited_and_deleted_with_facts_as_chips_and_documents_by_title(
    world: World, owner_client: Client
) -> None:
    bot, document_id = bot_with_documents(world)
    suite = suite_of(world, bot)

    form = owner_client.get(f"/app/suites/{suite.pk}/")
    assert "No cases yet" in text_of(form) and "Refund policy" in text_of(form)  # the document select
    response = owner_client.post(
        f"/app/suites/{suite.pk}/cases/",
        {
            "question": "How long do card refunds take?",
            "expected_facts": "five working days\n\n card ",
            "required_documents": [document_id],
            "notes": "The most asked question.",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("#cases")
    with tenant_context(world.tenant.pk):
        case = RegressionCase.objects.get()
    assert case.expected_facts == ["five working days", "card"]
    assert [str(identifier) for identifier in case.required_document_ids] == [document_id]
    assert case.must_refuse is False

    html = owner_client.get(f"/app/suites/{suite.pk}/").content.decode()
    assert '<span class="gw-pill gw-rg-fact">five working days</span>' in html
    assert "Refund policy" in text_of(owner_client.get(f"/app/suites/{suite.pk}/"))

    edit = owner_client.get(f"/app/suites/cases/{case.pk}/")
    assert edit.status_code == 200 and "five working days\ncard" in edit.content.decode()
    saved = owner_client.post(
        f"/app/suites/cases/{case.pk}/",
        {"question": "Who won the 1966 world cup?", "expected_facts": "", "must_refuse": "on"},
    )
    assert saved.status_code == 302 and saved["Location"] == f"/app/suites/{suite.pk}/#case-{case.pk}"
    with tenant_context(world.tenant.pk):
        case.refresh_from_db()
    assert (case.question, case.expected_facts, case.required_document_ids, case.must_refuse) == (
        "Who won the 1966 world cup?",
        [],
        [],
        True,
    )
    assert "Must decline" in text_of(owner_client.get(f"/app/suites/{suite.pk}/"))

    empty = owner_client.post(f"/app/suites/{suite.pk}/cases/", {"question": "  "})
    assert empty.status_code == 400 and "This field is required." in text_of(empty)
    not_a_choice = owner_client.post(
        f"/app/suites/{suite.pk}/cases/", {"question": "Q?", "required_documents": [str(uuid.uuid4())]}
    )
    assert not_a_choice.status_code == 400

    deleted = owner_client.post(f"/app/suites/cases/{case.pk}/delete/")
    assert deleted.status_code == 302
    with tenant_context(world.tenant.pk):
        assert not RegressionCase.objects.exists()


def test_questions_facts_and_notes_are_shown_escaped(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name=f"Suite {HOSTILE}")
    services.case_create(
        actor=world.actor(), suite_id=suite.pk, question=HOSTILE, expected_facts=[HOSTILE], notes=HOSTILE
    )

    for path in (f"/app/suites/{suite.pk}/", f"/app/bots/{bot.pk}/suites/"):
        html = owner_client.get(path).content.decode()
        assert HOSTILE not in html, path
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in html, path


def test_an_import_with_a_bad_line_names_it_and_saves_nothing(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot)
    page = text_of(owner_client.get(f"/app/suites/{suite.pk}/"))
    assert "The file format" in page and "expected_facts" in page  # the format's help

    bad = SimpleUploadedFile(
        "cases.jsonl",
        b'{"question": "Are exchanges free?", "expected_facts": ["free"]}\n{"question": ""}\n',
        content_type="application/json",
    )
    response = owner_client.post(f"/app/suites/{suite.pk}/import/", {"file": bad})
    assert response.status_code == 400
    page = text_of(response)
    assert "Nothing was imported." in page and "Line 2: Write the question." in page
    with tenant_context(world.tenant.pk):
        assert not RegressionCase.objects.exists()

    unknown_type = SimpleUploadedFile("cases.txt", b"question\nHi?\n")
    response = owner_client.post(f"/app/suites/{suite.pk}/import/", {"file": unknown_type})
    assert response.status_code == 400 and "neither .csv nor .jsonl" in text_of(response)

    good = SimpleUploadedFile(
        "cases.csv",
        b"question,expected_facts,must_refuse,notes\n"
        b"How long do refunds take?,five working days|card,false,FAQ\n"
        b"What is the weather?,,yes,\n",
    )
    response = owner_client.post(f"/app/suites/{suite.pk}/import/", {"file": good})
    assert response.status_code == 302
    with tenant_context(world.tenant.pk):
        imported = list(
            RegressionCase.objects.order_by("created_at").values_list(
                "question", "expected_facts", "must_refuse"
            )
        )
    assert imported == [
        ("How long do refunds take?", ["five working days", "card"], False),
        ("What is the weather?", [], True),
    ]
    as_jsonl = SimpleUploadedFile("from-a-tool.txt", b'{"question": "Shipping?"}\n')
    response = owner_client.post(
        f"/app/suites/{suite.pk}/import/", {"file": as_jsonl, "file_format": "jsonl"}
    )
    assert response.status_code == 302
    with tenant_context(world.tenant.pk):
        assert RegressionCase.objects.count() == 3


def test_cases_export_as_csv_and_jsonl_that_import_back(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot)
    services.case_create(
        actor=world.actor(),
        suite_id=suite.pk,
        question="How long do refunds take?",
        expected_facts=["five working days", "card"],
        notes="=HYPERLINK()",
    )
    services.case_create(actor=world.actor(), suite_id=suite.pk, question="Weather?", must_refuse=True)

    exported = owner_client.get(f"/app/suites/{suite.pk}/export/?format=csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert exported["Content-Disposition"] == 'attachment; filename="policies-cases.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows == [
        {
            "question": "How long do refunds take?",
            "expected_facts": "five working days|card",
            "required_document_ids": "",
            "must_refuse": "false",
            "notes": "'=HYPERLINK()",  # never run as a formula by a spreadsheet
        },
        {
            "question": "Weather?",
            "expected_facts": "",
            "required_document_ids": "",
            "must_refuse": "true",
            "notes": "",
        },
    ]
    lines = owner_client.get(f"/app/suites/{suite.pk}/export/?format=jsonl").content.decode().splitlines()
    assert [json.loads(line)["question"] for line in lines] == ["How long do refunds take?", "Weather?"]
    assert json.loads(lines[0])["notes"] == "=HYPERLINK()"
    assert owner_client.get(f"/app/suites/{suite.pk}/export/?format=xml").status_code == 302

    other = suite_of(world, bot, "Copy")
    upload = SimpleUploadedFile("policies-cases.csv", exported.content)
    assert owner_client.post(f"/app/suites/{other.pk}/import/", {"file": upload}).status_code == 302
    with tenant_context(world.tenant.pk):
        copied = list(
            RegressionCase.objects.filter(suite=other)
            .order_by("created_at")
            .values_list("question", "must_refuse")
        )
    assert copied == [("How long do refunds take?", False), ("Weather?", True)]


# --- runs and the report ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_started_from_the_page_reports_the_regressed_case_first(stub: OpenAIStub) -> None:
    world = make_world()
    owner = Client()
    owner.force_login(world.owner)
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    stub.script("gpt-4.1-mini", REFUND_QUESTION, "Card refunds take five working days [1].")
    stub.script("gpt-4.1-mini", EXCHANGE_QUESTION, "Exchanges cost a small <b>fee</b>.")  # the regression

    form = text_of(owner.get(f"/app/suites/{suite.pk}/"))
    assert "Run 3 cases" in form and "As live (GPT-4o mini)" in form
    response = owner.post(
        f"/app/suites/{suite.pk}/run/",
        {
            "include_live": "on",
            "c0-label": "",
            "c0-chat_model": CANDIDATE_MODEL,
            "c1-label": "",
            "c2-label": "",
        },
    )
    run = only_run(world)
    assert response.status_code == 302 and response["Location"] == f"/app/runs/{run.pk}/"

    waiting = owner.get(f"/app/runs/{run.pk}/")
    assert waiting.status_code == 200
    assert f'hx-get="/app/runs/{run.pk}/progress/" hx-trigger="every 2s"' in waiting.content.decode()
    assert "Waiting for a worker" in text_of(waiting) and "0 of 6 answers" in text_of(waiting)
    polled = hx(owner, f"/app/runs/{run.pk}/progress/")
    assert 'hx-trigger="every 2s"' in polled.content.decode() and "HX-Refresh" not in polled

    assert runner.execute(tenant_id=world.tenant.pk, run_id=run.pk, time_budget_seconds=300) == "completed"

    finished = hx(owner, f"/app/runs/{run.pk}/progress/")
    assert finished["HX-Refresh"] == "true" and "hx-trigger" not in finished.content.decode()
    report = owner.get(f"/app/runs/{run.pk}/")
    html = report.content.decode()
    page = text_of(report)
    assert "hx-trigger" not in html
    # The summary: the live column marked, pass rates, regressions.
    assert re.search(r"Live Live .*?100% .*?3/3", page) and re.search(r"GPT-4.1 mini .*?67% .*?2/3", page)
    assert "Regressions 1" in page
    # The cases: the regressed one first, with the failed checks; answers escaped; differing answers marked.
    rows = re.findall(r'data-kind="(\w+)"', html)
    assert rows[0] == "regression" and rows.count("regression") == 1
    first_case = html[
        html.index('data-kind="regression"') : html.index(
            'data-kind="', html.index('data-kind="regression"') + 20
        )
    ]
    assert EXCHANGE_QUESTION in first_case and "Regressed in GPT-4.1 mini" in first_case
    assert "Missing fact “free”" in first_case and "Missing fact “thirty days”" in first_case
    assert "Exchanges cost a small &lt;b&gt;fee&lt;/b&gt;." in first_case and "<b>fee</b>" not in html
    assert "is-differs" in first_case and "Answers differ" in first_case
    assert OFF_TOPIC_QUESTION in page and "Declined" in page

    suite_page = text_of(owner.get(f"/app/suites/{suite.pk}/"))
    assert "Completed" in suite_page and "Report" in suite_page
    listing = text_of(owner.get(f"/app/bots/{bot.pk}/suites/"))
    assert "Completed" in listing and "100%" in listing


def test_run_form_errors_are_shown_on_the_candidate(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot)

    no_cases = owner_client.post(f"/app/suites/{suite.pk}/run/", {"include_live": "on"})
    assert no_cases.status_code == 400 and "Add cases to the suite before running it." in text_of(no_cases)
    services.case_create(actor=world.actor(), suite_id=suite.pk, question="Hi?")
    only_a_label = owner_client.post(
        f"/app/suites/{suite.pk}/run/", {"include_live": "on", "c0-label": "Mine"}
    )
    assert only_a_label.status_code == 400
    assert "A candidate must change at least one setting." in text_of(only_a_label)
    nothing = owner_client.post(f"/app/suites/{suite.pk}/run/", {})
    assert nothing.status_code == 400 and "Run the live bot, a candidate, or both." in text_of(nothing)
    out_of_range = owner_client.post(f"/app/suites/{suite.pk}/run/", {"c1-retrieval_top_k": "0"})
    assert out_of_range.status_code == 400
    with tenant_context(world.tenant.pk):
        assert not RegressionRun.objects.exists()

    several = owner_client.post(
        f"/app/suites/{suite.pk}/run/",
        {
            "c0-label": "Full text",
            "c0-retrieval_mode": "full_text",
            "c2-instructions": "Answer in one sentence.",
            "c2-retrieval_top_k": "2",
        },
    )
    assert several.status_code == 302
    with tenant_context(world.tenant.pk):
        columns = list(
            RunConfiguration.objects.order_by("position").values_list("label", "is_live", "overrides")
        )
    assert columns == [
        ("Full text", False, {"retrieval_mode": "full_text"}),
        (
            "new instructions, 2 passages",
            False,
            {"instructions": "Answer in one sentence.", "retrieval_top_k": 2},
        ),
    ]


# --- drift ---------------------------------------------------------------------------------------------


def test_a_drop_in_the_live_pass_rate_is_a_banner_until_acknowledged(
    world: World, owner_client: Client
) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot, "Exchanges", "Are exchanges free?", "Is shipping free?")
    recorded_run(world, suite, passes={0: [True, True]})
    drifted = recorded_run(world, suite, passes={0: [True, False]})
    assert drifted.drift_detected

    # On the suites, the suite, the bot's builder and the list of bots.
    for path in (
        f"/app/bots/{bot.pk}/suites/",
        f"/app/suites/{suite.pk}/",
        f"/app/bots/{bot.pk}/",
        "/app/bots/",
    ):
        page = text_of(owner_client.get(path))
        assert "Answers drifted in “Exchanges”" in page and "from 100% to 50%" in page, path
        assert "Acknowledge" in page
    run_page = text_of(owner_client.get(f"/app/runs/{drifted.pk}/"))
    assert "The live bot's answers drifted." in run_page and "100% in the previous run to 50%" in run_page

    home = render_to_string(
        "bots/regression/_drift_alerts.html",
        {
            "drift_alerts": regression_presentation.drift_alert_rows(tenant=world.tenant, bot=None),
            "can_write": False,
        },
    )
    assert (
        "Answers drifted in “Exchanges”" in home
        and f"/app/runs/{drifted.pk}/" in home
        and "Acknowledge" not in home
    )

    back = f"/app/bots/{bot.pk}/suites/"
    response = owner_client.post(f"/app/runs/{drifted.pk}/acknowledge/", {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    with tenant_context(world.tenant.pk):
        assert RegressionRun.objects.get(pk=drifted.pk).drift_acknowledged
    assert "Answers drifted" not in text_of(owner_client.get(back))
    assert "Acknowledged." in text_of(owner_client.get(f"/app/runs/{drifted.pk}/"))
    elsewhere = owner_client.post(f"/app/runs/{drifted.pk}/acknowledge/", {"next": "https://evil.example/"})
    assert elsewhere["Location"] == f"/app/runs/{drifted.pk}/"


# --- the model gate --------------------------------------------------------------------------------------


def test_the_model_gate_says_tested_regressed_or_never_tested(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot, "Exchanges", "Are exchanges free?", f"Is shipping free? {HOSTILE}")
    recorded_run(
        world,
        suite,
        candidates=[{"overrides": {"chat_model": CANDIDATE_MODEL}}],
        passes={0: [True, True], 1: [True, False]},
    )
    recorded_run(
        world,
        suite,
        candidates=[{"label": "Bigger", "overrides": {"chat_model": UNTESTED_MODEL}}],
        passes={0: [True, True], 1: [True, True]},
    )
    gate = f"/app/bots/{bot.pk}/model-gate/"

    regressed = owner_client.get(f"{gate}?model={CANDIDATE_MODEL}")
    assert regressed.status_code == 200
    html, page = regressed.content.decode(), text_of(regressed)
    assert 'data-gate-status="regressed"' in html
    assert "Regressed in suite “Exchanges”: these cases fail with GPT-4.1 mini" in page
    assert "1/2 passed; the live model 2/2" in page
    assert (
        "Is shipping free?" in page and "Missing fact “free”" in page and "Passes with the live model" in page
    )
    assert "Are exchanges free?" not in page and HOSTILE not in html

    tested = text_of(
        owner_client.get(f"{gate}?chat_model={UNTESTED_MODEL}")
    )  # as the builder's radios name it
    assert "Tested: GPT-4o passes 2/2 like the live model (GPT-4o mini)" in tested and "Exchanges" in tested

    never = owner_client.get(f"{gate}?model={OTHER_MODEL}")
    html = never.content.decode()
    assert 'data-gate-status="untested"' in html
    assert "Never tested: run a suite against GPT-4.1 before switching." in text_of(never)
    assert f'hx-post="{gate}"' in html and f'name="gate_model" value="{OTHER_MODEL}"' in html
    assert f'name="gate_suite" value="{suite.pk}"' in html

    live = owner_client.get(f"{gate}?model={LIVE_MODEL}").content.decode()
    assert "data-gate-status" not in live and 'id="model-gate"' in live  # nothing to say about the live model

    started = owner_client.post(
        gate, {"gate_suite": str(suite.pk), "gate_model": OTHER_MODEL}, HTTP_HX_REQUEST="true"
    )
    with tenant_context(world.tenant.pk):
        run = RegressionRun.objects.order_by("-created_at").first()
        assert run is not None
        columns = list(
            RunConfiguration.objects.filter(run=run).order_by("position").values_list("is_live", "overrides")
        )
    assert started["HX-Redirect"] == f"/app/runs/{run.pk}/"
    assert columns == [(True, {}), (False, {"chat_model": OTHER_MODEL})]

    not_enabled = owner_client.post(gate, {"gate_suite": str(suite.pk), "gate_model": "openai:gpt-5"})
    assert not_enabled.status_code == 302 and not_enabled["Location"] == f"/app/bots/{bot.pk}/suites/"

    without_suites = openai_bot_in_same_tenant(world)
    lonely = text_of(owner_client.get(f"/app/bots/{without_suites.pk}/model-gate/?model={OTHER_MODEL}"))
    assert "Never tested" in lonely and "Write a regression suite" in lonely


def openai_bot_in_same_tenant(world: World) -> Bot:
    return make_bot(world, "Other shop", chat_model=LIVE_MODEL)


# --- a case from a conversation --------------------------------------------------------------------------


def test_an_answer_becomes_a_case_in_one_click(world: World, owner_client: Client) -> None:
    bot = openai_bot(world)
    conversation_id, answer = record_conversation(
        world, bot, "Can I return a gift?", answer="Yes, within 30 days."
    )
    back = f"/app/conversations/{conversation_id}/#message-{answer.pk}"

    choices = regression_presentation.add_to_suite_choices(tenant=world.tenant, bot=bot)
    assert choices == [("new", "New suite “From conversations”")]
    request = RequestFactory().get("/")
    snippet = render_to_string(
        "bots/regression/_add_to_suite.html",
        {"message": answer, "suite_choices": choices, "can_write": True},
        request=request,
    )
    assert 'name="suite" value="new"' in snippet and "Add to a regression suite" in snippet
    assert (
        render_to_string(
            "bots/regression/_add_to_suite.html",
            {"message": answer, "suite_choices": choices, "can_write": False},
        ).strip()
        == ""
    )

    conversation_page = owner_client.get(f"/app/conversations/{conversation_id}/").content.decode()
    assert 'action="/app/suites/from-message/"' in conversation_page  # beside the answer
    assert f'name="message" value="{answer.pk}"' in conversation_page

    response = owner_client.post("/app/suites/from-message/", {"message": str(answer.pk), "suite": "new"})
    assert response.status_code == 302 and response["Location"] == back
    with tenant_context(world.tenant.pk):
        suite = RegressionSuite.objects.get()
        case = RegressionCase.objects.get()
    assert suite.name == "From conversations" and suite.bot_id == bot.pk
    assert case.question == "Can I return a gift?" and case.source_message_id == answer.pk
    messages = [str(message) for message in owner_client.get(back).context["messages"]]
    assert messages == ["Added “Can I return a gift?” to the suite “From conversations”."]

    # Again into "new": the "From conversations" suite is reused, not duplicated.
    assert regression_presentation.add_to_suite_choices(tenant=world.tenant, bot=bot) == [
        (str(suite.pk), "From conversations")
    ]
    owner_client.post("/app/suites/from-message/", {"message": str(answer.pk), "suite": "new"})
    with tenant_context(world.tenant.pk):
        assert RegressionSuite.objects.count() == 1 and RegressionCase.objects.count() == 2

    # From the suite page's recent answers, back to the suite page.
    other = suite_of(world, bot, "Returns")
    page = text_of(owner_client.get(f"/app/suites/{other.pk}/"))
    assert "Can I return a gift?" in page and "Yes, within 30 days." in page and "Add as a case" in page
    response = owner_client.post(
        "/app/suites/from-message/",
        {"message": str(answer.pk), "suite": str(other.pk), "next": f"/app/suites/{other.pk}/#add-cases"},
    )
    assert response["Location"] == f"/app/suites/{other.pk}/#add-cases"
    assert "In this suite" in text_of(owner_client.get(f"/app/suites/{other.pk}/"))

    unsafe = owner_client.post(
        "/app/suites/from-message/",
        {"message": str(answer.pk), "suite": str(other.pk), "next": "https://evil.example/"},
    )
    assert unsafe["Location"] == back

    another_bot = openai_bot_in_same_tenant(world)
    wrong_bot = suite_of(world, another_bot, "Theirs")
    refused = owner_client.post(
        "/app/suites/from-message/", {"message": str(answer.pk), "suite": str(wrong_bot.pk)}
    )
    assert refused.status_code == 302
    assert "another bot" in [str(m) for m in owner_client.get(back).context["messages"]][-1]


# --- roles and tenants -----------------------------------------------------------------------------------


def test_viewers_read_every_page_and_every_write_is_refused(world: World) -> None:
    bot = openai_bot(world)
    suite = suite_of(world, bot, "Exchanges", "Are exchanges free?")
    run = recorded_run(world, suite, passes={0: [True]})
    recorded = recorded_run(world, suite, passes={0: [False]})
    with tenant_context(world.tenant.pk):
        case = RegressionCase.objects.get()
    _, answer = record_conversation(world, bot)
    viewer = member_client(world, Role.VIEWER)

    for path in (
        f"/app/bots/{bot.pk}/suites/",
        f"/app/suites/{suite.pk}/",
        f"/app/runs/{run.pk}/",
        f"/app/runs/{recorded.pk}/",
        f"/app/bots/{bot.pk}/model-gate/?model={OTHER_MODEL}",
    ):
        response = viewer.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for control in (
            "New suite",
            "Add a case",
            "Run the suite",
            "Acknowledge",
            "Delete suite",
            "Add as a case",
            "hx-post",
            "Save settings",
        ):
            assert control not in html, (path, control)
    assert "Only editors and above change suites" in text_of(viewer.get(f"/app/suites/{suite.pk}/"))
    assert viewer.get(f"/app/suites/{suite.pk}/export/?format=csv").status_code == 200  # exporting is reading
    assert viewer.get(f"/app/suites/cases/{case.pk}/").status_code == 403

    writes = [
        viewer.post(
            f"/app/bots/{bot.pk}/suites/", {"name": "Mine", "schedule": "off", "drift_tolerance": "0"}
        ),
        viewer.post(
            f"/app/suites/{suite.pk}/settings/", {"name": "Mine", "schedule": "off", "drift_tolerance": "0"}
        ),
        viewer.post(f"/app/suites/{suite.pk}/cases/", {"question": "Mine?"}),
        viewer.post(
            f"/app/suites/{suite.pk}/import/", {"file": SimpleUploadedFile("a.csv", b"question\nMine?\n")}
        ),
        viewer.post(f"/app/suites/{suite.pk}/run/", {"include_live": "on"}),
        viewer.post(f"/app/suites/cases/{case.pk}/", {"question": "Mine?"}),
        viewer.post(f"/app/suites/cases/{case.pk}/delete/"),
        viewer.post(f"/app/runs/{recorded.pk}/acknowledge/"),
        viewer.post(
            f"/app/bots/{bot.pk}/model-gate/", {"gate_suite": str(suite.pk), "gate_model": OTHER_MODEL}
        ),
        viewer.post("/app/suites/from-message/", {"message": str(answer.pk), "suite": "new"}),
        viewer.post(f"/app/suites/{suite.pk}/delete/"),
    ]
    assert [response.status_code for response in writes] == [403] * len(writes)
    with tenant_context(world.tenant.pk):
        assert RegressionSuite.objects.get().name == "Exchanges"
        assert RegressionCase.objects.get().question == "Are exchanges free?"
        assert RegressionRun.objects.count() == 2
        assert RegressionRun.objects.get(pk=recorded.pk).drift_acknowledged is False


def test_an_editor_writes_suites(world: World) -> None:
    bot = openai_bot(world)
    editor = member_client(world, Role.EDITOR)
    assert (
        editor.post(
            f"/app/bots/{bot.pk}/suites/", {"name": "Mine", "schedule": "off", "drift_tolerance": "0"}
        ).status_code
        == 302
    )
    with tenant_context(world.tenant.pk):
        suite = RegressionSuite.objects.get()
    assert editor.post(f"/app/suites/{suite.pk}/cases/", {"question": "Mine?"}).status_code == 302
    with patch.object(services.runs, "_enqueue"):
        assert editor.post(f"/app/suites/{suite.pk}/run/", {"include_live": "on"}).status_code == 302


def test_another_tenants_suites_runs_cases_and_answers_are_404(world: World, owner_client: Client) -> None:
    other = make_world("Globex")
    theirs = openai_bot(other, "Theirs")
    suite = suite_of(other, theirs, "Theirs", "Are exchanges free?")
    run = recorded_run(other, suite, passes={0: [True]})
    with tenant_context(other.tenant.pk):
        case = RegressionCase.objects.get()
    _, answer = record_conversation(other, theirs)
    mine = openai_bot(world, "Mine")
    my_suite = suite_of(world, mine, "Mine")
    _, mine_answer = record_conversation(world, mine)

    gets = [
        f"/app/bots/{theirs.pk}/suites/",
        f"/app/bots/{theirs.pk}/model-gate/?model={OTHER_MODEL}",
        f"/app/suites/{suite.pk}/",
        f"/app/suites/{suite.pk}/export/?format=csv",
        f"/app/suites/cases/{case.pk}/",
        f"/app/runs/{run.pk}/",
        f"/app/runs/{run.pk}/progress/",
    ]
    posts = [
        (f"/app/bots/{theirs.pk}/suites/", {"name": "Mine", "schedule": "off", "drift_tolerance": "0"}),
        (f"/app/bots/{theirs.pk}/model-gate/", {"gate_suite": str(suite.pk), "gate_model": OTHER_MODEL}),
        (f"/app/suites/{suite.pk}/settings/", {"name": "Mine", "schedule": "off", "drift_tolerance": "0"}),
        (f"/app/suites/{suite.pk}/delete/", {}),
        (f"/app/suites/{suite.pk}/cases/", {"question": "Mine?"}),
        (f"/app/suites/{suite.pk}/import/", {"file": SimpleUploadedFile("a.csv", b"question\nMine?\n")}),
        (f"/app/suites/{suite.pk}/run/", {"include_live": "on"}),
        (f"/app/suites/cases/{case.pk}/", {"question": "Mine?"}),
        (f"/app/suites/cases/{case.pk}/delete/", {}),
        (f"/app/runs/{run.pk}/acknowledge/", {}),
        ("/app/suites/from-message/", {"message": str(answer.pk), "suite": str(my_suite.pk)}),
        ("/app/suites/from-message/", {"message": str(answer.pk), "suite": "new"}),
    ]
    for path in gets:
        assert owner_client.get(path).status_code == 404, path
    for path, data in posts:
        assert owner_client.post(path, data).status_code == 404, path
    # Their suite through my bot's gate: refused, and nothing runs.
    through_mine = owner_client.post(
        f"/app/bots/{mine.pk}/model-gate/", {"gate_suite": str(suite.pk), "gate_model": OTHER_MODEL}
    )
    assert through_mine.status_code == 404
    mine_with_theirs = owner_client.post(
        "/app/suites/from-message/", {"message": str(mine_answer.pk), "suite": str(suite.pk)}
    )
    assert mine_with_theirs.status_code == 404
    with tenant_context(other.tenant.pk):
        assert RegressionSuite.objects.get().name == "Theirs"
        assert RegressionCase.objects.get().question == "Are exchanges free?"
        assert RegressionRun.objects.count() == 1
    with tenant_context(world.tenant.pk):
        assert not RegressionCase.objects.exists() and not RegressionRun.objects.exists()
