"""The regression suites' REST API: suites and cases (by hand, imported, exported, from a conversation),
starting runs, a run executed in process against the scripted OpenAI stub read back as its status and
side-by-side report, the model gate and drift alerts; bad input as problem+json naming the field, viewers
refused every write, and another tenant's objects a 404 on every route.

Tests that only read and write through the API use ``db``; the one that executes a run uses
``transactional_db``, because the runner works in transactions of its own and answers in a thread.
"""

from __future__ import annotations

import uuid
from typing import Any
from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bots.models import Bot, RegressionCase, RegressionRun, RegressionSuite
from bots.regression import case_files, runner, services
from knowledge.models import Document
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot, record_turn
from tests.bots.regression.factories import finished_run, make_case, make_suite, shop, three_cases
from tests.bots.regression.helpers import (
    CANDIDATE_MODEL,
    EXCHANGE_QUESTION,
    LIVE_MODEL,
    OFF_TOPIC_QUESTION,
    REFUND_QUESTION,
    UNTESTED_MODEL,
    script_good_answers,
)
from tests.clients import api_client, assert_problem, patch_json, post_json
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.usefixtures("runs_in_process")

API = "/api/v1"
SUITE_FIELDS = {
    "id",
    "bot",
    "name",
    "description",
    "judge_model",
    "judge_rubric",
    "schedule",
    "next_run_at",
    "drift_tolerance",
    "case_count",
    "latest_run",
    "created_at",
    "updated_at",
}
CASE_FIELDS = {
    "id",
    "question",
    "expected_facts",
    "required_document_ids",
    "must_refuse",
    "notes",
    "source_message_id",
    "created_at",
}
RUN_FIELDS = {
    "id",
    "status",
    "trigger",
    "done",
    "total",
    "progress",
    "error_message",
    "started_at",
    "finished_at",
    "live_pass_rate",
    "previous_pass_rate",
    "drift_detected",
    "drift_acknowledged",
    "configurations",
    "created_at",
}
CONFIGURATION_FIELDS = {
    "id",
    "label",
    "is_live",
    "overrides",
    "settings_used",
    "passed",
    "failed",
    "pass_rate",
    "cost_usd",
    "latency_ms_median",
}
RESULT_FIELDS = {
    "configuration_id",
    "answer",
    "outcome",
    "passed",
    "checks",
    "judge_passed",
    "judge_reasoning",
    "citations",
    "cost_usd",
    "latency_ms",
    "model_version",
    "error_message",
}


# --- helpers ----------------------------------------------------------------------------------------


def bot_with_document(world: World, name: str = "Shop") -> tuple[Bot, Document]:
    """A bot answering from a knowledge base of its own with one (queued, never processed) document."""
    base = make_knowledge_base(world, f"{name} policies")
    document = add_text(world, base, "Refunds take five working days.", title="Refunds")
    return make_bot(world, name, knowledge_base_ids=[base.pk]), document


def cases_of(world: World, suite: RegressionSuite) -> list[dict[str, Any]]:
    with tenant_context(world.tenant.pk):
        return list(
            RegressionCase.objects.filter(suite=suite)
            .order_by("created_at")
            .values("question", "expected_facts", "required_document_ids", "must_refuse", "notes")
        )


# --- suites -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_suite_is_created_read_changed_and_deleted(world: World, editor: Client) -> None:
    bot = make_bot(world, "Shop")

    response = post_json(
        editor,
        f"{API}/suites",
        {"bot": bot.slug, "name": "Refunds", "schedule": "daily", "drift_tolerance": 0.1},
    )

    assert response.status_code == 201, response.content
    suite = response.json()
    assert set(suite) == SUITE_FIELDS
    assert response["Location"] == f"{API}/suites/{suite['id']}"
    assert suite["bot"] == {"id": str(bot.pk), "name": "Shop"}
    assert (suite["schedule"], suite["drift_tolerance"], suite["case_count"]) == ("daily", 0.1, 0)
    assert suite["next_run_at"] is not None and suite["latest_run"] is None
    assert suite["judge_model"] == "" and suite["judge_rubric"]  # the default rubric
    assert editor.get(response["Location"]).json() == suite

    changed = patch_json(editor, response["Location"], {"name": "Returns", "schedule": "off"})

    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["next_run_at"]) == ("Returns", None)
    assert changed.json()["drift_tolerance"] == 0.1  # not sent, not changed
    assert editor.delete(response["Location"]).status_code == 204
    assert_problem(editor.get(response["Location"]), 404)
    with tenant_context(world.tenant.pk):
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"regression_suite.created", "regression_suite.updated", "regression_suite.deleted"} <= actions


@pytest.mark.django_db
def test_suites_are_listed_newest_first_with_cursor_pagination_and_a_bot_filter(
    world: World, viewer: Client
) -> None:
    shop_bot, other_bot = make_bot(world, "Shop"), make_bot(world, "Other")
    first = make_suite(world, shop_bot, "First")
    make_case(world, first)
    make_suite(world, shop_bot, "Second")
    make_suite(world, other_bot, "Third")

    page = viewer.get(f"{API}/suites?page_size=2").json()
    rest = viewer.get(page["next"]).json()
    filtered = viewer.get(f"{API}/suites?bot={other_bot.pk}").json()

    assert [suite["name"] for suite in page["results"]] == ["Third", "Second"]
    assert [(suite["name"], suite["case_count"]) for suite in rest["results"]] == [("First", 1)]
    assert [suite["name"] for suite in filtered["results"]] == ["Third"]
    assert [s["name"] for s in viewer.get(f"{API}/suites?bot=shop").json()["results"]] == ["Second", "First"]
    assert assert_problem(viewer.get(f"{API}/suites?bot=nobody"), 400)["errors"] == {"bot": ["No such bot."]}
    assert "colour" in assert_problem(viewer.get(f"{API}/suites?colour=red"), 400)["errors"]


@pytest.mark.django_db
def test_listing_suites_costs_the_same_queries_for_one_suite_or_many(world: World, viewer: Client) -> None:
    bot = make_bot(world, "Shop")

    def queries_to_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get(f"{API}/suites").status_code == 200
        return len(captured)

    queries_to_list()  # the key's first use of the minute records it: not part of listing
    for name in ("First", "Second", "Third"):
        suite = make_suite(world, bot, name)
        make_case(world, suite)
        with patch.object(services.runs, "_enqueue"):
            services.run_start(actor=world.actor(), suite_id=suite.pk)
        if name == "First":
            one = queries_to_list()

    assert queries_to_list() == one
    latest = {
        suite["name"]: suite["latest_run"]["status"]
        for suite in viewer.get(f"{API}/suites").json()["results"]
    }
    assert latest == {"First": "queued", "Second": "queued", "Third": "queued"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bot": "shop"}, "name"),
        ({"name": "Refunds"}, "bot"),
        ({"bot": "shop", "name": "  "}, "name"),
        ({"bot": "nobody", "name": "Refunds"}, "bot"),
        ({"bot": "shop", "name": "Refunds", "colour": "red"}, "colour"),
        ({"bot": "shop", "name": "Refunds", "schedule": "hourly"}, "schedule"),
        ({"bot": "shop", "name": "Refunds", "drift_tolerance": 1.5}, "drift_tolerance"),
        ({"bot": "shop", "name": "Refunds", "judge_model": "openai:gpt-4o"}, "judge_model"),  # not enabled
        ({"bot": "shop", "name": "Refunds", "judge_model": "local:all-MiniLM-L6-v2"}, "judge_model"),
    ],
)
def test_bad_suite_settings_are_a_400_problem_naming_the_field(
    world: World, editor: Client, body: dict[str, Any], field: str
) -> None:
    make_bot(world, "Shop")

    problem = assert_problem(post_json(editor, f"{API}/suites", body), 400)

    assert field in problem["errors"], problem
    with tenant_context(world.tenant.pk):
        assert not RegressionSuite.objects.exists()


@pytest.mark.django_db
def test_a_second_suite_with_the_same_name_for_a_bot_is_a_409(world: World, editor: Client) -> None:
    bot = make_bot(world, "Shop")
    make_suite(world, bot, "Refunds")
    other = make_suite(world, bot, "Exchanges")

    created = post_json(editor, f"{API}/suites", {"bot": str(bot.pk), "name": "Refunds"})
    renamed = patch_json(editor, f"{API}/suites/{other.pk}", {"name": "Refunds"})

    assert assert_problem(created, 409)["errors"] == {"name": ["Already used."]}
    assert assert_problem(renamed, 409)["errors"] == {"name": ["Already used."]}
    assert (
        "colour"
        in assert_problem(patch_json(editor, f"{API}/suites/{other.pk}", {"colour": "red"}), 400)["errors"]
    )


# --- cases ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cases_are_added_listed_in_the_suites_order_changed_and_deleted(world: World, editor: Client) -> None:
    bot, document = bot_with_document(world)
    suite = make_suite(world, bot)
    make_case(world, suite, "First?")

    response = post_json(
        editor,
        f"{API}/suites/{suite.pk}/cases",
        {
            "question": "How long do refunds take?",
            "expected_facts": ["five working days"],
            "required_document_ids": [str(document.pk)],
            "notes": "From the FAQ.",
        },
    )

    assert response.status_code == 201, response.content
    case = response.json()
    assert set(case) == CASE_FIELDS
    assert response["Location"] == f"{API}/cases/{case['id']}"
    assert (case["expected_facts"], case["required_document_ids"]) == (
        ["five working days"],
        [str(document.pk)],
    )
    assert (case["must_refuse"], case["notes"], case["source_message_id"]) == (False, "From the FAQ.", None)
    listed = editor.get(f"{API}/suites/{suite.pk}/cases").json()
    assert [c["question"] for c in listed["results"]] == [
        "First?",
        "How long do refunds take?",
    ]  # oldest first
    assert editor.get(f"{API}/suites/{suite.pk}").json()["case_count"] == 2
    assert editor.get(response["Location"]).json() == case

    changed = patch_json(editor, response["Location"], {"must_refuse": True, "expected_facts": []})

    assert changed.status_code == 200, changed.content
    assert (changed.json()["must_refuse"], changed.json()["expected_facts"]) == (True, [])
    assert changed.json()["question"] == "How long do refunds take?"  # not sent, not changed
    assert editor.delete(response["Location"]).status_code == 204
    assert_problem(editor.get(response["Location"]), 404)
    assert editor.get(f"{API}/suites/{suite.pk}").json()["case_count"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "Q?", "answer": "A."}, "answer"),
        ({"question": "Q?", "expected_facts": "five days"}, "expected_facts"),
        ({"question": "Q?", "expected_facts": ["fact"] * 21}, "expected_facts"),
        ({"question": "Q?", "required_document_ids": ["not-an-id"]}, "required_document_ids"),
        ({"question": "Q?", "required_document_ids": [str(uuid.uuid4())]}, "required_document_ids"),
        ({"question": "Q?", "must_refuse": "perhaps"}, "must_refuse"),
    ],
)
def test_bad_cases_are_a_400_problem_naming_the_field(
    world: World, editor: Client, body: dict[str, Any], field: str
) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))

    problem = assert_problem(post_json(editor, f"{API}/suites/{suite.pk}/cases", body), 400)

    assert field in problem["errors"], problem
    assert cases_of(world, suite) == []


@pytest.mark.django_db
def test_a_document_outside_the_bots_knowledge_bases_cannot_be_required(
    world: World, other_world: World, editor: Client
) -> None:
    bot, _ = bot_with_document(world)
    _, theirs = bot_with_document(other_world)
    _, elsewhere = bot_with_document(world, "Other")  # another bot's knowledge base
    suite = make_suite(world, bot)
    case = make_case(world, suite)

    for identifier in (theirs.pk, elsewhere.pk):
        created = post_json(
            editor,
            f"{API}/suites/{suite.pk}/cases",
            {"question": "Q?", "required_document_ids": [str(identifier)]},
        )
        patched = patch_json(editor, f"{API}/cases/{case.pk}", {"required_document_ids": [str(identifier)]})
        assert "required_document_ids" in assert_problem(created, 400)["errors"]
        assert "required_document_ids" in assert_problem(patched, 400)["errors"]
    assert [c["required_document_ids"] for c in cases_of(world, suite)] == [[]]


# --- import and export ------------------------------------------------------------------------------

CSV_FILE = (
    "question,expected_facts,required_document_ids,must_refuse,notes\n"
    '"How long do refunds take?","five working days|card",,false,From the FAQ\n'
    "What is the weather?,,,yes,\n"
)
JSONL_FILE = (
    '{"question": "Are exchanges free?", "expected_facts": ["free", "thirty days"], "notes": "Policy"}\n'
    "\n"
    '{"question": "Who won in 1966?", "must_refuse": true}\n'
)


@pytest.mark.django_db
def test_cases_are_imported_from_a_csv_upload_and_from_jsonl_text(world: World, editor: Client) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    upload = SimpleUploadedFile("cases.csv", CSV_FILE.encode(), content_type="text/csv")

    from_file = editor.post(f"{API}/suites/{suite.pk}/cases/import", {"file": upload})
    from_text = post_json(
        editor, f"{API}/suites/{suite.pk}/cases/import", {"format": "jsonl", "content": JSONL_FILE}
    )

    assert from_file.status_code == 201, from_file.content
    assert from_file.json()["imported"] == 2
    assert [set(case) for case in from_file.json()["cases"]] == [CASE_FIELDS, CASE_FIELDS]
    assert from_text.status_code == 201, from_text.content
    assert [case["question"] for case in from_text.json()["cases"]] == [
        "Are exchanges free?",
        "Who won in 1966?",
    ]
    assert cases_of(world, suite) == [
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
            "expected_facts": ["free", "thirty days"],
            "required_document_ids": [],
            "must_refuse": False,
            "notes": "Policy",
        },
        {
            "question": "Who won in 1966?",
            "expected_facts": [],
            "required_document_ids": [],
            "must_refuse": True,
            "notes": "",
        },
    ]


@pytest.mark.django_db
def test_a_jsonl_upload_takes_its_format_from_the_extension_or_the_format_field(
    world: World, editor: Client
) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    path = f"{API}/suites/{suite.pk}/cases/import"

    by_extension = editor.post(path, {"file": SimpleUploadedFile("cases.jsonl", JSONL_FILE.encode())})
    by_field = editor.post(
        path, {"file": SimpleUploadedFile("cases.txt", JSONL_FILE.encode()), "format": "jsonl"}
    )
    unknown = editor.post(path, {"file": SimpleUploadedFile("cases.txt", JSONL_FILE.encode())})

    assert (by_extension.status_code, by_field.status_code) == (201, 201), by_field.content
    assert "format" in assert_problem(unknown, 400)["errors"]
    assert len(cases_of(world, suite)) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("request_body", "field", "message"),
    [
        (
            {
                "format": "jsonl",
                "content": '{"question": "Fine"}\n{"question": "Fine too"}\n{"question": ""}\n',
            },
            "question",
            "Line 3",
        ),
        ({"format": "jsonl", "content": '{"question": "Fine"}\nnot json\n'}, "file", "Line 2"),
        (
            {"format": "csv", "content": "question,must_refuse\nFine,no\nAlso fine,perhaps\n"},
            "file",
            "Line 3",
        ),
        ({"format": "csv", "content": "prompt\nFine\n"}, "file", "question"),
        ({"format": "csv", "content": "question\n"}, "file", "no cases"),
        ({"format": "xlsx", "content": "question\nFine\n"}, "format", ""),
        ({"format": "csv"}, "content", ""),
        ({"format": "csv", "content": "question\nFine\n", "replace": True}, "replace", ""),
    ],
)
def test_a_bad_import_is_a_400_naming_the_line_and_imports_nothing(
    world: World, editor: Client, request_body: dict[str, Any], field: str, message: str
) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))

    problem = assert_problem(post_json(editor, f"{API}/suites/{suite.pk}/cases/import", request_body), 400)

    assert field in problem["errors"], problem
    assert message in problem["detail"], problem
    assert cases_of(world, suite) == []


@pytest.mark.django_db
def test_a_bad_line_in_an_uploaded_file_imports_nothing(world: World, editor: Client) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    content = b"question,required_document_ids\nFine,\nAlso fine,not-an-id\n"

    response = editor.post(
        f"{API}/suites/{suite.pk}/cases/import", {"file": SimpleUploadedFile("c.csv", content)}
    )

    problem = assert_problem(response, 400)
    assert problem["detail"].startswith("Line 3: ") and "required_document_ids" in problem["errors"]
    assert cases_of(world, suite) == []


@pytest.mark.django_db
@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_an_export_imported_into_another_suite_gives_equal_cases(
    world: World, editor: Client, export_format: str
) -> None:
    bot, document = bot_with_document(world)
    source = make_suite(world, bot, "Source suite")
    make_case(
        world,
        source,
        'Refunds, "quoted", and\na second line?',
        expected_facts=["five working days", "card"],
        required_document_ids=[str(document.pk)],
        notes="From the FAQ.",
    )
    make_case(world, source, "What is the weather?", must_refuse=True)
    make_case(world, source, "Are exchanges free?", expected_facts=["free"])
    make_case(world, source, "-5% off with =SUM codes?", expected_facts=["+ shipping"], notes="@team")
    target = make_suite(world, bot, "Target")

    exported = editor.get(f"{API}/suites/{source.pk}/cases/export?format={export_format}")

    assert exported.status_code == 200, exported.content
    assert exported["Content-Disposition"] == f'attachment; filename="source-suite-cases.{export_format}"'
    assert exported["Content-Type"].startswith(
        "text/csv" if export_format == "csv" else "application/x-ndjson"
    )
    upload = SimpleUploadedFile(f"export.{export_format}", exported.content)
    imported = editor.post(f"{API}/suites/{target.pk}/cases/import", {"file": upload})
    assert imported.status_code == 201, imported.content
    assert imported.json()["imported"] == 4
    assert cases_of(world, target) == cases_of(world, source)  # a defused formula comes back as it was


@pytest.mark.django_db
def test_the_export_defaults_to_csv_with_lists_joined_and_formulas_defused(
    world: World, viewer: Client
) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    make_case(world, suite, '=HYPERLINK("https://evil.example")', expected_facts=["a", "b"])

    exported = viewer.get(f"{API}/suites/{suite.pk}/cases/export")

    assert exported.status_code == 200
    lines = exported.content.decode().splitlines()
    assert lines[0] == "question,expected_facts,required_document_ids,must_refuse,notes"
    assert lines[1] == '"\'=HYPERLINK(""https://evil.example"")",a|b,,false,'
    assert (
        "format"
        in assert_problem(viewer.get(f"{API}/suites/{suite.pk}/cases/export?format=xlsx"), 400)["errors"]
    )


# --- cases from conversations ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_case_is_made_from_a_conversation_answer(world: World, other_world: World, editor: Client) -> None:
    bot, document = bot_with_document(world)
    suite = make_suite(world, bot)
    _, answer = record_turn(
        world,
        bot,
        "Refund time?",
        "Five working days [1].",
        citations=[{"number": 1, "document_id": str(document.pk)}],
    )
    _, other_bots_answer = record_turn(world, make_bot(world, "Other"), "Hi?", "Hello.")
    _, their_answer = record_turn(other_world, make_bot(other_world, "Shop"), "Secret?", "Secret.")

    response = post_json(
        editor, f"{API}/suites/{suite.pk}/cases/from-message", {"message_id": str(answer.pk)}
    )

    assert response.status_code == 201, response.content
    case = response.json()
    assert response["Location"] == f"{API}/cases/{case['id']}"
    assert (case["question"], case["source_message_id"]) == ("Refund time?", str(answer.pk))
    assert case["required_document_ids"] == [str(document.pk)] and case["must_refuse"] is False
    assert "Five working days [1]." in case["notes"]
    for message_id in (their_answer.pk, other_bots_answer.pk, uuid.uuid4()):
        refused = post_json(
            editor, f"{API}/suites/{suite.pk}/cases/from-message", {"message_id": str(message_id)}
        )
        assert "message_id" in assert_problem(refused, 400)["errors"]
    for body in ({}, {"message_id": "not-an-id"}, {"message_id": str(answer.pk), "question": "Q?"}):
        assert assert_problem(post_json(editor, f"{API}/suites/{suite.pk}/cases/from-message", body), 400)[
            "errors"
        ]
    assert len(cases_of(world, suite)) == 1


# --- runs -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_starting_a_run_queues_the_live_bot_and_the_candidates(world: World, editor: Client) -> None:
    bot = make_bot(world, "Shop")
    suite = make_suite(world, bot)
    make_case(world, suite, "One?")
    make_case(world, suite, "Two?")

    response = post_json(
        editor,
        f"{API}/suites/{suite.pk}/runs",
        {
            "candidates": [
                {"label": "Terse", "overrides": {"instructions": "Answer in one word."}},
                {"overrides": {"retrieval_mode": "full_text", "retrieval_top_k": 2}},
            ]
        },
    )

    assert response.status_code == 202, response.content
    run = response.json()
    assert set(run) == RUN_FIELDS
    assert response["Location"] == f"{API}/runs/{run['id']}"
    assert (run["status"], run["trigger"], run["done"], run["total"], run["progress"]) == (
        "queued",
        "manual",
        0,
        6,
        0.0,
    )
    configurations = run["configurations"]
    assert all(set(configuration) == CONFIGURATION_FIELDS for configuration in configurations)
    assert [(c["label"], c["is_live"]) for c in configurations] == [
        ("Live", True),
        ("Terse", False),
        ("2 passages, full-text search", False),  # in the order the settings are documented
    ]
    assert configurations[2]["overrides"] == {"retrieval_mode": "full_text", "retrieval_top_k": 2}
    assert configurations[0]["pass_rate"] is None
    assert editor.get(response["Location"]).json() == run
    listed = editor.get(f"{API}/suites/{suite.pk}/runs").json()["results"]
    assert [r["id"] for r in listed] == [run["id"]]
    latest = editor.get(f"{API}/suites/{suite.pk}").json()["latest_run"]
    assert (latest["id"], latest["status"], latest["live_pass_rate"]) == (run["id"], "queued", None)
    candidates_only = post_json(
        editor,
        f"{API}/suites/{suite.pk}/runs",
        {"candidates": [{"overrides": {"instructions": "Be brief."}}], "include_live": False},
    )
    assert [c["is_live"] for c in candidates_only.json()["configurations"]] == [False]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"candidates": [{"overrides": {"temperature": 1}}]}, "candidates"),
        ({"candidates": [{"overrides": {}}]}, "candidates"),
        ({"candidates": [{}]}, "candidates"),
        ({"candidates": [{"overrides": {"retrieval_top_k": 0}}]}, "candidates"),
        ({"candidates": [{"overrides": {"retrieval_mode": "magic"}}]}, "candidates"),
        ({"candidates": [{"overrides": {"chat_model": "openai:gpt-4o"}}]}, "candidates"),  # not enabled
        (
            {"candidates": [{"overrides": {"embedding_model": "local:all-MiniLM-L6-v2"}}]},
            "candidates",
        ),  # no KBs
        ({"candidates": [{"overrides": {"instructions": f"Be {n}."}} for n in range(4)]}, "candidates"),
        ({"include_live": False}, "candidates"),
        ({"include_live": "perhaps"}, "include_live"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_run_requests_are_a_400_problem_and_start_nothing(
    world: World, editor: Client, body: dict[str, Any], field: str
) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    make_case(world, suite)

    problem = assert_problem(post_json(editor, f"{API}/suites/{suite.pk}/runs", body), 400)

    # The serializer nests a candidate's errors under "candidates"; the service names "candidates[0]".
    assert any(name.split("[")[0] == field for name in problem["errors"]), problem
    with tenant_context(world.tenant.pk):
        assert not RegressionRun.objects.exists()


@pytest.mark.django_db
def test_a_suite_without_cases_cannot_run(world: World, editor: Client) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))

    problem = assert_problem(post_json(editor, f"{API}/suites/{suite.pk}/runs", {}), 400)

    assert "Add cases" in problem["detail"]


@pytest.mark.django_db(transaction=True)
def test_an_executed_run_is_reported_side_by_side_with_regressions_first_and_gates_the_model(
    stub: OpenAIStub,
) -> None:
    world = make_world()
    editor = api_client(world.api_key(role=Role.EDITOR)[1])
    bot, base = shop(world)
    suite = three_cases(world, bot, base)
    script_good_answers(stub, "gpt-4o-mini")
    stub.script("gpt-4.1-mini", REFUND_QUESTION, "Card refunds take five working days [1].")
    stub.script("gpt-4.1-mini", EXCHANGE_QUESTION, "Exchanges cost a small fee.")  # the regression
    untested = editor.get(f"{API}/bots/{bot.slug}/model-gate?model={CANDIDATE_MODEL}").json()

    started = post_json(
        editor,
        f"{API}/suites/{suite.pk}/runs",
        {"candidates": [{"overrides": {"chat_model": CANDIDATE_MODEL}}]},
    )
    assert started.status_code == 202, started.content
    run_id = started.json()["id"]
    assert runner.execute(tenant_id=world.tenant.pk, run_id=run_id, time_budget_seconds=300) == "completed"

    run = editor.get(f"{API}/runs/{run_id}").json()
    assert (run["status"], run["done"], run["total"], run["progress"]) == ("completed", 6, 6, 1.0)
    assert run["started_at"] and run["finished_at"] and run["error_message"] == ""
    assert (run["live_pass_rate"], run["previous_pass_rate"], run["drift_detected"]) == (1.0, None, False)
    live, candidate = run["configurations"]
    assert (live["label"], live["passed"], live["failed"], live["pass_rate"]) == ("Live", 3, 0, 1.0)
    assert (candidate["label"], candidate["passed"], candidate["failed"]) == ("GPT-4.1 mini", 2, 1)
    assert candidate["pass_rate"] == pytest.approx(2 / 3)
    assert candidate["overrides"] == {"chat_model": CANDIDATE_MODEL}
    assert (live["settings_used"]["chat_model"], candidate["settings_used"]["chat_model"]) == (
        LIVE_MODEL,
        CANDIDATE_MODEL,
    )
    assert float(live["cost_usd"]) > 0 and live["latency_ms_median"] is not None

    report = editor.get(f"{API}/runs/{run_id}/report").json()
    assert set(report) == {"run", "columns", "rows"} and report["run"] == run
    assert [(c["configuration_id"], c["regressions"], c["improvements"]) for c in report["columns"]] == [
        (live["id"], 0, 0),
        (candidate["id"], 1, 0),
    ]
    assert report["columns"][1]["pass_rate"] == pytest.approx(2 / 3)
    assert [(row["question"], row["kind"]) for row in report["rows"]] == [
        (EXCHANGE_QUESTION, "regression"),  # regressions first
        (REFUND_QUESTION, "passing"),
        (OFF_TOPIC_QUESTION, "passing"),
    ]
    regression = report["rows"][0]
    assert regression["answers_differ"] and regression["regressed_in"] == [candidate["id"]]
    assert regression["case_id"] is not None
    live_cell, candidate_cell = regression["results"]
    assert set(live_cell) == set(candidate_cell) == RESULT_FIELDS
    assert (live_cell["configuration_id"], candidate_cell["configuration_id"]) == (
        live["id"],
        candidate["id"],
    )
    assert (live_cell["passed"], candidate_cell["passed"]) == (True, False)
    assert candidate_cell["answer"] == "Exchanges cost a small fee."
    assert candidate_cell["model_version"].startswith("gpt-4.1-mini")
    assert [(c["check"], c["expected"]) for c in candidate_cell["checks"] if not c["passed"]] == [
        ("fact", "free"),
        ("fact", "thirty days"),
    ]
    refund_cell = report["rows"][1]["results"][0]
    assert refund_cell["citations"] and {"number", "document_id", "title"} <= set(refund_cell["citations"][0])
    assert report["rows"][2]["results"][0]["outcome"] == "no_answer"

    gate = editor.get(f"{API}/bots/{bot.pk}/model-gate?model={CANDIDATE_MODEL}").json()
    assert (gate["status"], gate["candidate_model"], gate["run_id"]) == ("regressed", CANDIDATE_MODEL, run_id)
    assert gate["suite"] == {"id": str(suite.pk), "name": "Policies"}
    assert (gate["live_pass_rate"], gate["compared_with_model"]) == (1.0, LIVE_MODEL)
    assert gate["candidate_pass_rate"] == pytest.approx(2 / 3)
    assert [(f["question"], f["regressed"]) for f in gate["failing"]] == [(EXCHANGE_QUESTION, True)]
    assert [c["check"] for c in gate["failing"][0]["checks"]] == ["fact", "fact"]
    assert untested == {
        "status": "untested",
        "candidate_model": CANDIDATE_MODEL,
        "run_id": None,
        "suite": None,
        "live_pass_rate": None,
        "candidate_pass_rate": None,
        "compared_with_model": "",
        "failing": [],
    }
    assert (
        editor.get(f"{API}/bots/{bot.slug}/model-gate?model={UNTESTED_MODEL}").json()["status"] == "untested"
    )
    latest = editor.get(f"{API}/suites/{suite.pk}").json()["latest_run"]
    assert (latest["status"], latest["live_pass_rate"]) == ("completed", 1.0)
    with tenant_context(world.tenant.pk):
        assert Bot.objects.get(pk=bot.pk).chat_model == LIVE_MODEL  # the run changed nothing on the bot


@pytest.mark.django_db
def test_the_model_gate_needs_a_model(world: World, viewer: Client) -> None:
    bot = make_bot(world, "Shop")

    assert "model" in assert_problem(viewer.get(f"{API}/bots/{bot.pk}/model-gate"), 400)["errors"]
    assert viewer.get(f"{API}/bots/{bot.pk}/model-gate?model=openai:gpt-4o").json()["status"] == "untested"
    assert_problem(viewer.get(f"{API}/bots/nobody/model-gate?model=openai:gpt-4o"), 404)


# --- drift --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_drifted_runs_are_alerts_until_acknowledged(world: World, editor: Client) -> None:
    bot, other_bot = make_bot(world, "Shop"), make_bot(world, "Other")
    suite = make_suite(world, bot, drift_tolerance=0.0)
    make_case(world, suite, "One?")
    make_case(world, suite, "Two?")
    finished_run(world, suite, True, True)
    drifted = finished_run(world, suite, True, False)
    steady = make_suite(world, other_bot)
    make_case(world, steady)
    finished_run(world, steady, True)
    finished_run(world, steady, True)

    alerts = editor.get(f"{API}/drift-alerts").json()["results"]

    assert [alert["id"] for alert in alerts] == [str(drifted.pk)]
    alert = alerts[0]
    assert set(alert) == RUN_FIELDS | {"suite", "bot"}
    assert alert["suite"] == {"id": str(suite.pk), "name": "Policies"}
    assert alert["bot"] == {"id": str(bot.pk), "name": "Shop"}
    assert (alert["previous_pass_rate"], alert["live_pass_rate"], alert["drift_detected"]) == (1.0, 0.5, True)
    assert [a["id"] for a in editor.get(f"{API}/drift-alerts?bot=shop").json()["results"]] == [
        str(drifted.pk)
    ]
    assert editor.get(f"{API}/drift-alerts?bot={other_bot.pk}").json()["results"] == []
    assert "bot" in assert_problem(editor.get(f"{API}/drift-alerts?bot=nobody"), 400)["errors"]

    acknowledged = editor.post(f"{API}/runs/{drifted.pk}/acknowledge-drift")

    assert acknowledged.status_code == 200, acknowledged.content
    assert acknowledged.json()["drift_acknowledged"] is True and acknowledged.json()["drift_detected"] is True
    assert editor.get(f"{API}/drift-alerts").json()["results"] == []
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="regression_run.drift_acknowledged").exists()


# --- roles and tenants ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_viewers_read_everything_but_cannot_write_or_start_runs(world: World, viewer: Client) -> None:
    bot = make_bot(world, "Shop")
    suite = make_suite(world, bot)
    case = make_case(world, suite)
    run = finished_run(world, suite, True)
    _, answer = record_turn(world, bot, "Hi?", "Hello.")

    for path in (
        f"{API}/suites",
        f"{API}/suites/{suite.pk}",
        f"{API}/suites/{suite.pk}/cases",
        f"{API}/suites/{suite.pk}/cases/export",
        f"{API}/suites/{suite.pk}/runs",
        f"{API}/cases/{case.pk}",
        f"{API}/runs/{run.pk}",
        f"{API}/runs/{run.pk}/report",
        f"{API}/drift-alerts",
        f"{API}/bots/{bot.pk}/model-gate?model={LIVE_MODEL}",
    ):
        assert viewer.get(path).status_code == 200, path
    for response in (
        post_json(viewer, f"{API}/suites", {"bot": str(bot.pk), "name": "Mine"}),
        patch_json(viewer, f"{API}/suites/{suite.pk}", {"name": "Mine"}),
        viewer.delete(f"{API}/suites/{suite.pk}"),
        post_json(viewer, f"{API}/suites/{suite.pk}/cases", {"question": "Mine?"}),
        patch_json(viewer, f"{API}/cases/{case.pk}", {"question": "Mine?"}),
        viewer.delete(f"{API}/cases/{case.pk}"),
        post_json(
            viewer, f"{API}/suites/{suite.pk}/cases/import", {"format": "csv", "content": "question\nQ?\n"}
        ),
        viewer.post(
            f"{API}/suites/{suite.pk}/cases/import", {"file": SimpleUploadedFile("c.csv", b"question\nQ?\n")}
        ),
        post_json(viewer, f"{API}/suites/{suite.pk}/cases/from-message", {"message_id": str(answer.pk)}),
        post_json(viewer, f"{API}/suites/{suite.pk}/runs", {}),
        viewer.post(f"{API}/runs/{run.pk}/acknowledge-drift"),
    ):
        assert_problem(response, 403)
    with tenant_context(world.tenant.pk):
        assert RegressionSuite.objects.get().name == "Policies"
        assert [c.question for c in RegressionCase.objects.all()] == ["Refunds?"]
        assert RegressionRun.objects.count() == 1


@pytest.mark.django_db
def test_another_tenants_suites_cases_runs_and_bots_are_404_on_every_route(
    world: World, other_world: World, admin: Client
) -> None:
    their_bot = make_bot(other_world, "Their bot")
    suite = make_suite(other_world, their_bot)
    case = make_case(other_world, suite)
    run = finished_run(other_world, suite, True)
    _, their_answer = record_turn(other_world, their_bot, "Secret?", "Secret.")
    ours = make_suite(world, make_bot(world, "Shop"))
    upload = SimpleUploadedFile("c.csv", b"question\nQ?\n")

    for response in (
        admin.get(f"{API}/suites/{suite.pk}"),
        patch_json(admin, f"{API}/suites/{suite.pk}", {"name": "Taken"}),
        admin.delete(f"{API}/suites/{suite.pk}"),
        admin.get(f"{API}/suites/{suite.pk}/cases"),
        post_json(admin, f"{API}/suites/{suite.pk}/cases", {"question": "Mine?"}),
        admin.get(f"{API}/cases/{case.pk}"),
        patch_json(admin, f"{API}/cases/{case.pk}", {"question": "Mine?"}),
        admin.delete(f"{API}/cases/{case.pk}"),
        post_json(
            admin, f"{API}/suites/{suite.pk}/cases/import", {"format": "csv", "content": "question\nQ?\n"}
        ),
        admin.post(f"{API}/suites/{suite.pk}/cases/import", {"file": upload}),
        admin.get(f"{API}/suites/{suite.pk}/cases/export"),
        post_json(admin, f"{API}/suites/{suite.pk}/cases/from-message", {"message_id": str(their_answer.pk)}),
        admin.get(f"{API}/suites/{suite.pk}/runs"),
        post_json(admin, f"{API}/suites/{suite.pk}/runs", {}),
        admin.get(f"{API}/runs/{run.pk}"),
        admin.get(f"{API}/runs/{run.pk}/report"),
        admin.post(f"{API}/runs/{run.pk}/acknowledge-drift"),
        admin.get(f"{API}/bots/{their_bot.pk}/model-gate?model={LIVE_MODEL}"),
        admin.get(f"{API}/bots/their-bot/model-gate?model={LIVE_MODEL}"),
    ):
        assert_problem(response, 404)
    assert (
        "bot"
        in assert_problem(post_json(admin, f"{API}/suites", {"bot": str(their_bot.pk), "name": "S"}), 400)[
            "errors"
        ]
    )
    assert_problem(admin.get(f"{API}/suites?bot={their_bot.pk}"), 400)
    assert_problem(admin.get(f"{API}/drift-alerts?bot={their_bot.pk}"), 400)
    from_their_message = post_json(
        admin, f"{API}/suites/{ours.pk}/cases/from-message", {"message_id": str(their_answer.pk)}
    )
    assert "message_id" in assert_problem(from_their_message, 400)["errors"]
    assert [s["id"] for s in admin.get(f"{API}/suites").json()["results"]] == [str(ours.pk)]
    assert admin.get(f"{API}/drift-alerts").json()["results"] == []
    with tenant_context(other_world.tenant.pk):
        assert RegressionSuite.objects.get().name == "Policies"
        assert [c.question for c in RegressionCase.objects.all()] == ["Refunds?"]
        assert RegressionRun.objects.get().drift_acknowledged is False


@pytest.mark.django_db
def test_requests_without_a_key_are_401_problems(world: World) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    anonymous = Client()

    for response in (
        anonymous.get(f"{API}/suites"),
        anonymous.get(f"{API}/suites/{suite.pk}/cases/export"),
        post_json(anonymous, f"{API}/suites/{suite.pk}/runs", {}),
        api_client("gw_sk_not-a-real-key").get(f"{API}/drift-alerts"),
    ):
        assert_problem(response, 401)


@pytest.mark.django_db
def test_an_import_file_over_the_limit_is_a_413_before_it_is_stored(world: World, editor: Client) -> None:
    suite = make_suite(world, make_bot(world, "Shop"))
    content = b"question\n" + b"Is this too long?\n" * (case_files.MAX_IMPORT_BYTES // 18 + 10_000)

    response = editor.post(
        f"{API}/suites/{suite.pk}/cases/import", {"file": SimpleUploadedFile("c.csv", content)}
    )

    assert "2.0" in assert_problem(response, 413)["detail"]
    assert cases_of(world, suite) == []
