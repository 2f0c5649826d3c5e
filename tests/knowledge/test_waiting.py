"""A queued document says why it waits (issue 14): its organisation's ingestion slots all taken, or the
queue; and the worker check it relies on finds a real worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from core.workers import WORKER_CHECK_CACHE_KEY, live_worker_count
from knowledge.models import Document
from tenants import quotas
from tenants.context import tenant_context
from tests.clients import text_of
from tests.knowledge.factories import make_knowledge_base
from tests.tenants.factories import World


@pytest.mark.django_db
def test_a_queued_document_says_that_its_organisation_s_other_documents_hold_the_slots(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.INGESTION_IN_FLIGHT_PER_TENANT = 2
    knowledge_base = make_knowledge_base(world)
    owner_client.post(
        f"/app/knowledge/{knowledge_base.pk}/add/text/", {"title": "Notes", "text": "Opening hours: 9 to 5."}
    )
    with tenant_context(world.tenant.pk):
        document = Document.objects.get()
    page = f"/app/knowledge/documents/{document.pk}/"

    assert "Waiting for a worker" in text_of(owner_client.get(page))  # the slots are free: next in line

    with quotas.ingestion_slot(world.tenant.pk) as first, quotas.ingestion_slot(world.tenant.pk) as second:
        assert first and second
        waiting = text_of(owner_client.get(page))
        row = text_of(
            owner_client.get(f"/app/knowledge/documents/{document.pk}/row/", HTTP_HX_REQUEST="true")
        )
    assert "Waiting: 2 other documents of your organisation are being processed" in waiting
    assert "Waiting: 2 other documents of your organisation are being processed" in row


def test_the_worker_check_finds_a_running_worker(celery_worker: str) -> None:
    cache.delete(WORKER_CHECK_CACHE_KEY)

    assert live_worker_count() >= 1
    assert cache.get(WORKER_CHECK_CACHE_KEY) >= 1  # asked once, then remembered for a while
