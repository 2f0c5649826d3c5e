"""Quotas per plan (tenants.quotas): documents and stored bytes refused clearly with nothing stored, even
when uploads race; crawl pages per day refused when used up, bounded by what is left and given back when
a crawl reads fewer; the ingestion-slot semaphore; and what the tenant is shown.

Regression runs per day are tested with the runs (tests/bots/regression/test_run_quota.py); the cap on
ingestion tasks in flight through real workers in tests/knowledge/test_fair_share.py.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from core.errors import GroundworkError
from knowledge import services
from knowledge.models import Document, SourceFile
from tenants import quotas
from tenants.context import tenant_context
from tenants.models import Plan, Tenant
from tests.clients import assert_problem, post_json, text_of
from tests.knowledge.factories import make_knowledge_base
from tests.tenants.factories import World, make_world


def documents_path(knowledge_base_id: uuid.UUID) -> str:
    return f"/api/v1/knowledge-bases/{knowledge_base_id}/documents"


def stored(world: World) -> tuple[int, int]:
    with tenant_context(world.tenant.pk):
        return Document.objects.count(), SourceFile.objects.count()


def on_plan(world: World, plan: Plan) -> None:
    Tenant.objects.filter(pk=world.tenant.pk).update(plan=plan)
    world.tenant.plan = plan


# --- documents and stored bytes --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_document_past_the_quota_is_refused_with_the_figures_and_nothing_is_stored(
    world: World, editor: Client, settings: Any
) -> None:
    settings.QUOTA_DOCUMENTS = {"free": 2, "team": 100}
    knowledge_base = make_knowledge_base(world)
    for number in range(2):
        response = post_json(editor, documents_path(knowledge_base.pk), {"text": f"Policy {number}."})
        assert response.status_code == 202, response.content

    refused = post_json(editor, documents_path(knowledge_base.pk), {"text": "One too many."})

    problem = assert_problem(refused, 403)
    assert problem["detail"] == (
        "Your organisation has 2 documents, the most the Free plan includes (2). Delete documents you no "
        "longer need, or ask us about a larger plan."
    )
    assert stored(world) == (2, 0)

    # Another plan's quota is its own: the same tenant on Team has room.
    on_plan(world, Plan.TEAM)
    assert post_json(editor, documents_path(knowledge_base.pk), {"text": "Now it fits."}).status_code == 202


@pytest.mark.django_db
def test_deleting_a_document_makes_room_again(world: World, settings: Any) -> None:
    settings.QUOTA_DOCUMENTS = {"free": 1}
    knowledge_base = make_knowledge_base(world)
    first = services.document_add_text(actor=world.actor(), knowledge_base_id=knowledge_base.pk, text="A.")
    with pytest.raises(quotas.QuotaExceeded):
        services.document_add_text(actor=world.actor(), knowledge_base_id=knowledge_base.pk, text="B.")

    services.document_delete(actor=world.actor(), document_id=first.pk)

    services.document_add_text(actor=world.actor(), knowledge_base_id=knowledge_base.pk, text="B.")
    assert stored(world) == (1, 0)


@pytest.mark.django_db
def test_an_upload_past_the_stored_bytes_is_refused_and_its_bytes_are_not_kept(
    world: World, editor: Client, settings: Any
) -> None:
    settings.QUOTA_STORED_BYTES = {"free": 1500}
    knowledge_base = make_knowledge_base(world)
    first = editor.post(
        documents_path(knowledge_base.pk), {"file": SimpleUploadedFile("a.md", b"# A\n\n" + b"a" * 995)}
    )
    assert first.status_code == 202, first.content
    # Pasted text counts in UTF-8 bytes: "é" is two.
    assert post_json(editor, documents_path(knowledge_base.pk), {"text": "é" * 100}).status_code == 202

    refused = editor.post(
        documents_path(knowledge_base.pk), {"file": SimpleUploadedFile("b.md", b"# B\n\n" + b"b" * 395)}
    )

    problem = assert_problem(refused, 403)
    assert problem["detail"] == (
        "This would store 400\xa0bytes with 300\xa0bytes left of the 1.5\xa0KB of sources the Free plan "
        "includes. Delete documents you no longer need, or ask us about a larger plan."
    )
    assert stored(world) == (2, 1)
    # What fits still goes in.
    fits = editor.post(
        documents_path(knowledge_base.pk), {"file": SimpleUploadedFile("c.md", b"# C\n\n" + b"c" * 295)}
    )
    assert fits.status_code == 202, fits.content


@pytest.mark.django_db
def test_the_dashboard_says_why_an_upload_or_a_text_was_refused(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.QUOTA_DOCUMENTS = {"free": 1}
    knowledge_base = make_knowledge_base(world)
    services.document_add_text(actor=world.actor(), knowledge_base_id=knowledge_base.pk, text="Kept.")
    upload_url = f"/app/knowledge/{knowledge_base.pk}/upload/"

    upload = owner_client.post(upload_url, {"file": SimpleUploadedFile("guide.md", b"# Guide\n\nWords.")})
    text = owner_client.post(f"/app/knowledge/{knowledge_base.pk}/add/text/", {"text": "More words."})

    for response in (upload, text):
        assert response.status_code in (400, 403)
        assert "Your organisation has 1 documents, the most the Free plan includes (1)." in text_of(response)
    scripted = owner_client.post(
        upload_url,
        {"file": SimpleUploadedFile("guide.md", b"# Guide\n\nWords.")},
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert scripted.status_code == 403
    assert "the most the Free plan includes" in scripted.json()["error"]
    assert stored(world) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_uploads_racing_each_other_cannot_pass_the_quota(settings: Any) -> None:
    """Twelve uploads at once against room for four: each counts under the tenant's row lock, so exactly
    four are stored and the others are refused (a count without the lock lets several see room)."""
    settings.QUOTA_DOCUMENTS = {"free": 4}
    world = make_world()
    knowledge_base = make_knowledge_base(world)
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def upload(number: int) -> None:
        try:
            start.wait()
            services.document_upload(
                actor=world.actor(),
                knowledge_base_id=knowledge_base.pk,
                filename=f"file-{number}.md",
                content=f"# File {number}\n\nWords of file {number}.".encode(),
            )
            outcomes.append("stored")
        except GroundworkError as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(number,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["QuotaExceeded"] * 8 + ["stored"] * 4
    assert stored(world) == (4, 4)


# --- the ingestion-slot semaphore ----------------------------------------------------------------


def test_a_tenant_holds_at_most_its_slots_and_a_dead_holder_stops_counting(settings: Any) -> None:
    settings.INGESTION_IN_FLIGHT_PER_TENANT = 2
    tenant_id, other_tenant_id = uuid.uuid4(), uuid.uuid4()
    with (
        quotas.ingestion_slot(tenant_id) as first,
        quotas.ingestion_slot(tenant_id) as second,
        quotas.ingestion_slot(tenant_id) as third,
        quotas.ingestion_slot(other_tenant_id) as other,
    ):
        assert (first, second, third, other) == (True, True, False, True)
        assert quotas.ingestion_slots_taken(tenant_id) == 2
    assert quotas.ingestion_slots_taken(tenant_id) == 0

    # A worker killed while holding a slot never gives it back; past a task's longest life it lapses.
    client = quotas._client()
    key = quotas._slots_key(tenant_id)
    seconds, _ = client.time()
    client.zadd(key, {"killed-1": (seconds - 1) * 1000, "killed-2": (seconds - 1) * 1000})
    with quotas.ingestion_slot(tenant_id) as after_crash:
        assert after_crash
        assert client.zscore(key, "killed-1") is None


# --- what the tenant sees ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_usage_page_and_the_api_show_each_quota_against_its_limit(
    world: World, owner_client: Client, viewer: Client, settings: Any
) -> None:
    settings.QUOTA_DOCUMENTS = {"free": 10}
    settings.QUOTA_STORED_BYTES = {"free": 2048}
    settings.QUOTA_CRAWL_PAGES_PER_DAY = {"free": 40}
    settings.QUOTA_REGRESSION_RUNS_PER_DAY = {}
    knowledge_base = make_knowledge_base(world)
    services.document_add_text(actor=world.actor(), knowledge_base_id=knowledge_base.pk, text="x" * 1024)
    quotas.reserve_crawl_pages(tenant=world.tenant, wanted=7)

    page = text_of(owner_client.get("/app/usage/"))
    assert "Plan quotas" in page and "Free plan" in page
    assert "Documents 1 of 10" in page
    assert "Stored sources 1.0 KB of 2.0 KB" in page
    assert "Crawled pages today 7 of 40" in page
    assert "Regression runs today 0 (no limit)" in page

    response = viewer.get("/api/v1/tenant/quotas")
    assert response.status_code == 200
    assert response.json() == {
        "plan": "free",
        "quotas": [
            {"name": "documents", "used": 1, "limit": 10, "resets_daily": False},
            {"name": "stored_bytes", "used": 1024, "limit": 2048, "resets_daily": False},
            {"name": "crawl_pages_per_day", "used": 7, "limit": 40, "resets_daily": True},
            {"name": "regression_runs_per_day", "used": 0, "limit": None, "resets_daily": True},
        ],
    }


@pytest.mark.django_db
def test_the_quotas_api_needs_a_key() -> None:
    assert_problem(Client().get("/api/v1/tenant/quotas"), 401)
