"""Waiting for the worker and checking what ingestion stored: shared by the tests that run documents
through a real worker process."""

from __future__ import annotations

import time
import uuid

from knowledge.models import Chunk, Document, DocumentStatus
from tenants.context import tenant_context
from tests.tenants.factories import World

WAIT_SECONDS = 180


def wait_until_settled(world: World, document_ids: list[uuid.UUID]) -> dict[uuid.UUID, Document]:
    """Poll until every document is ready or failed (the worker works in another process)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with tenant_context(world.tenant.pk):
            documents = {document.pk: document for document in Document.objects.filter(pk__in=document_ids)}
        if all(doc.status in (DocumentStatus.READY, DocumentStatus.FAILED) for doc in documents.values()):
            return documents
        if time.monotonic() > deadline:
            states = {str(pk): (doc.status, doc.progress) for pk, doc in documents.items()}
            raise AssertionError(f"documents did not settle: {states}; see test-artifacts/celery-worker.log")
        time.sleep(0.25)


def chunks_of(world: World, document_id: uuid.UUID) -> list[Chunk]:
    with tenant_context(world.tenant.pk):
        return list(Chunk.objects.filter(document_id=document_id).order_by("index_version", "position"))


def assert_one_set_of_chunks(world: World, document: Document) -> list[Chunk]:
    chunks = chunks_of(world, document.pk)
    assert chunks, "no chunks"
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.document_version for chunk in chunks} == {document.version}
    assert document.chunk_count == len(chunks)
    return chunks


def many_paragraphs(count: int) -> str:
    return "\n\n".join(
        f"Paragraph {number} explains policy {number}: "
        + " ".join(f"term{number}x{word}" for word in range(40))
        for number in range(count)
    )
