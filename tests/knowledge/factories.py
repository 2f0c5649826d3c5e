"""Knowledge bases and documents, made through ``knowledge.services`` as the tenant's owner, and run
through the real ingestion pipeline in this process when a test needs chunks (the built-in embedder).

Documents made in a ``db`` test stay queued: ``transaction.on_commit`` never fires inside the test's
transaction, so no worker sees them.
"""

from __future__ import annotations

from typing import Any

from knowledge import pipeline, services
from knowledge.models import Document, KnowledgeBase
from tenants.context import tenant_context
from tests.tenants.factories import World


def make_knowledge_base(world: World, name: str = "Help centre", **settings: Any) -> KnowledgeBase:
    return services.knowledge_base_create(actor=world.actor(), name=name, **settings)


def add_text(world: World, knowledge_base: KnowledgeBase, text: str, title: str = "") -> Document:
    """A pasted text, queued (not processed)."""
    return services.document_add_text(
        actor=world.actor(), knowledge_base_id=knowledge_base.pk, text=text, title=title
    )


def ingest(world: World, document: Document) -> Document:
    """``document`` run through the whole pipeline in this process; it must end ready. Returns it
    as stored."""
    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=document.pk) == "ready"
    with tenant_context(world.tenant.pk):
        return Document.objects.get(pk=document.pk)


def ingested_text(world: World, knowledge_base: KnowledgeBase, text: str, title: str = "") -> Document:
    """A pasted text, ingested: ready, with chunks and vectors."""
    return ingest(world, add_text(world, knowledge_base, text, title=title))


def ingested_knowledge_base(world: World, *texts: str, name: str = "Help centre") -> KnowledgeBase:
    """A knowledge base with ``texts`` ingested, one document each."""
    knowledge_base = make_knowledge_base(world, name)
    for text in texts:
        ingested_text(world, knowledge_base, text)
    return knowledge_base
