"""Index versions: switching a knowledge base to the one its new embedding model built, and scratch
indexes, where regression runs try a candidate embedding model on a copy of a knowledge base's chunks.
"""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from knowledge import selectors
from knowledge.models import EMBEDDING_COLUMNS, Chunk, Document, KnowledgeBase
from knowledge.services.knowledge_bases import embedding_choice
from tenants.context import tenant_context
from tenants.selectors import tenant_get

# --- the switch to a new embedding model ---------------------------------------------------------------


def knowledge_base_touch(*, knowledge_base: KnowledgeBase) -> None:
    """Note that a model switch was worked on now (the stalled-switch sweep waits a period after it)."""
    KnowledgeBase.objects.filter(pk=knowledge_base.pk).update(updated_at=timezone.now())


def knowledge_base_note_waiting(*, tenant_id: uuid.UUID | str, knowledge_base_id: uuid.UUID | str) -> None:
    """A task of the switch waits for one of its tenant's ingestion slots: a sign of life of the switch,
    so the stalled-switch sweep does not queue its documents again meanwhile."""
    with tenant_context(tenant_id):
        KnowledgeBase.objects.filter(pk=knowledge_base_id).update(updated_at=timezone.now())


def knowledge_base_switch_index(*, tenant_id: uuid.UUID | str, knowledge_base_id: uuid.UUID | str) -> bool:
    """Make the building index version the active one once every ready document has chunks in it.

    Returns whether it switched. The old version's chunks are deleted in the same transaction, so search
    moves from the complete old index to the complete new one with nothing in between.
    """
    with tenant_context(tenant_id):
        knowledge_base = KnowledgeBase.objects.select_for_update().filter(pk=knowledge_base_id).first()
        if knowledge_base is None or knowledge_base.building_index_version is None:
            return False
        missing = selectors.documents_missing_index_version(
            tenant=tenant_get(tenant_id=tenant_id),
            knowledge_base=knowledge_base,
            index_version=knowledge_base.building_index_version,
        )
        if missing.exists():
            return False
        old_version = knowledge_base.active_index_version
        knowledge_base.active_index_version = knowledge_base.building_index_version
        knowledge_base.embedding_model = knowledge_base.building_embedding_model
        knowledge_base.embedding_dimensions = knowledge_base.building_embedding_dimensions or 0
        knowledge_base.building_index_version = None
        knowledge_base.building_embedding_model = ""
        knowledge_base.building_embedding_dimensions = None
        knowledge_base.save()
        Chunk.objects.filter(knowledge_base=knowledge_base, index_version=old_version).delete()
        for document in Document.objects.filter(knowledge_base=knowledge_base):
            count = document.chunks.filter(index_version=knowledge_base.active_index_version).count()
            if count != document.chunk_count:
                Document.objects.filter(pk=document.pk).update(chunk_count=count)
        return True


# --- scratch indexes (regression runs try a candidate embedding model on them) --------------------------

# Far above any version a knowledge base reaches by switching models: a scratch index never collides with
# a real one, and search reads one only when handed a knowledge base whose active version names it.
SCRATCH_INDEX_VERSION_BASE = 1_000_000_000


def scratch_index_version(key: uuid.UUID) -> int:
    return SCRATCH_INDEX_VERSION_BASE + key.int % SCRATCH_INDEX_VERSION_BASE


def scratch_index_build(
    *, tenant_id: uuid.UUID | str, knowledge_base_id: uuid.UUID, model_ref: str, version: int
) -> KnowledgeBase:
    """Copy a knowledge base's current chunks under ``version``, embedded with ``model_ref``, and return
    an unsaved copy of the knowledge base that searches them. Idempotent: a rebuild replaces the copy.

    The embedding calls happen outside any transaction; the copy is written in one.
    """
    from providers import gateway  # the gateway pulls in the whole provider layer

    with tenant_context(tenant_id):
        tenant = tenant_get(tenant_id=tenant_id)
        choice = embedding_choice(tenant=tenant, ref=model_ref)
        knowledge_base = KnowledgeBase.objects.get(pk=knowledge_base_id)
        chunks = list(
            Chunk.objects.filter(
                knowledge_base=knowledge_base, index_version=knowledge_base.active_index_version
            )
            .order_by("document_id", "position")
            .values(
                "document_id",
                "document_version",
                "position",
                "text",
                "heading_path",
                "page_number",
                "anchor",
                "token_count",
            )
        )
    texts = [
        f"{chunk['heading_path']}\n\n{chunk['text']}" if chunk["heading_path"] else chunk["text"]
        for chunk in chunks
    ]
    vectors: list[list[float]] = []
    batch = settings.KNOWLEDGE_EMBED_BATCH_SIZE
    for start in range(0, len(texts), batch):
        result = async_to_sync(gateway.embed)(
            tenant_id=tenant.pk, model_ref=model_ref, texts=texts[start : start + batch]
        )
        vectors.extend(result.vectors)
    column = EMBEDDING_COLUMNS[choice.dimensions]
    with tenant_context(tenant_id):
        Chunk.objects.filter(knowledge_base=knowledge_base, index_version=version).delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    tenant_id=tenant.pk,
                    knowledge_base=knowledge_base,
                    index_version=version,
                    **chunk,
                    **{column: vector},
                )
                for chunk, vector in zip(chunks, vectors, strict=True)
            ],
            batch_size=500,
        )
    # Never saved: only search reads this copy, to find the scratch chunks with the candidate's vectors.
    knowledge_base.embedding_model, knowledge_base.embedding_dimensions = choice.ref, choice.dimensions
    knowledge_base.active_index_version = version
    return knowledge_base


def scratch_index_drop(*, tenant_id: uuid.UUID | str, knowledge_base_id: uuid.UUID, version: int) -> None:
    if version < SCRATCH_INDEX_VERSION_BASE:
        raise ValueError(f"{version} is a real index version, not a scratch one")
    with tenant_context(tenant_id):
        Chunk.objects.filter(knowledge_base_id=knowledge_base_id, index_version=version).delete()
