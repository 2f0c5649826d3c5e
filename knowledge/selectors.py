"""Reads about knowledge: knowledge bases with their counts, documents, chunks, and search.

Every selector takes the tenant explicitly (the pipeline's reads: its id) and runs inside that tenant's
transaction (a request, a task's ``tenant_context``), so Row-Level Security agrees with the filter written
here. The one exception is what the beat sweeps look for across tenants
(``knowledge_bases_stalled_in_switch``): the caller runs it inside ``unscoped(reason=...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, Func, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from core.errors import ValidationFailed
from core.identifiers import one_by_id, parse_uuid
from core.workers import live_worker_count
from knowledge import retrieval
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase, SourceFile
from knowledge.retrieval import SearchResult
from tenants import quotas
from tenants.models import Tenant


def knowledge_base_list(*, tenant: Tenant) -> QuerySet[KnowledgeBase]:
    """The tenant's knowledge bases, each annotated with its document counts by status and its chunks."""
    return (
        KnowledgeBase.objects.for_tenant(tenant)
        .annotate(
            document_total=Count("documents", distinct=True),
            documents_ready=Count(
                "documents", filter=Q(documents__status=DocumentStatus.READY), distinct=True
            ),
            documents_failed=Count(
                "documents", filter=Q(documents__status=DocumentStatus.FAILED), distinct=True
            ),
            documents_pending=Count(
                "documents",
                filter=Q(documents__status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING]),
                distinct=True,
            ),
            chunk_total=Sum("documents__chunk_count"),
        )
        .order_by("name")
    )


def knowledge_base_get(*, tenant: Tenant, knowledge_base_id: uuid.UUID | str) -> KnowledgeBase:
    """One knowledge base, annotated like the list; another tenant's is the same 404 as a missing one."""
    return one_by_id(knowledge_base_list(tenant=tenant), knowledge_base_id, missing="No such knowledge base.")


def document_list(*, tenant: Tenant, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    return Document.objects.for_tenant(tenant).filter(knowledge_base=knowledge_base).order_by("-created_at")


def document_get(
    *, tenant: Tenant, document_id: uuid.UUID | str, knowledge_base_id: uuid.UUID | str | None = None
) -> Document:
    documents = Document.objects.for_tenant(tenant).select_related("knowledge_base")
    if knowledge_base_id is not None:
        documents = documents.filter(knowledge_base_id=parse_uuid(knowledge_base_id))
    return one_by_id(documents, document_id, missing="No such document.")


def document_chunks(*, tenant: Tenant, document: Document) -> QuerySet[Chunk]:
    """The chunks search sees for ``document``: those of its knowledge base's active index version."""
    return (
        Chunk.objects.for_tenant(tenant)
        .filter(document=document, index_version=document.knowledge_base.active_index_version)
        .only("id", "position", "text", "heading_path", "page_number", "anchor", "token_count")
        .order_by("position")
    )


@dataclass(frozen=True)
class ReindexProgress:
    """How far re-embedding a knowledge base into its next index version has come."""

    embedding_model: str
    documents_done: int
    documents_total: int

    @property
    def percent(self) -> int:
        return 100 if not self.documents_total else int(100 * self.documents_done / self.documents_total)


def documents_missing_index_version(
    *, tenant: Tenant, knowledge_base: KnowledgeBase, index_version: int
) -> QuerySet[Document]:
    """Ready documents of ``knowledge_base`` with no chunks in ``index_version`` yet."""
    has_version = Chunk.objects.filter(document_id=OuterRef("pk"), index_version=index_version)
    return (
        document_list(tenant=tenant, knowledge_base=knowledge_base)
        .filter(status=DocumentStatus.READY)
        .exclude(Exists(has_version))
    )


# A queued document younger than this is simply next in line: only an older one is worth asking the
# workers about (a ping waits its whole timeout).
ASK_WORKERS_AFTER = timedelta(seconds=5)


def document_wait_reason(*, document: Document) -> str:
    """Why a queued document has not started, as far as can be known: its organisation's ingestion
    slots all taken (``tenants.quotas.ingestion_slot``: the task waits off the workers for one), no
    worker running, or simply the queue ahead of it. "" for a document that is not queued."""
    if document.status != DocumentStatus.QUEUED:
        return ""
    taken = quotas.ingestion_slots_taken(document.tenant_id)
    if taken >= settings.INGESTION_IN_FLIGHT_PER_TENANT:
        if taken == 1:
            return "Waiting: 1 other document of your organisation is being processed"
        return f"Waiting: {taken} other documents of your organisation are being processed"
    if timezone.now() - document.created_at >= ASK_WORKERS_AFTER and live_worker_count() == 0:
        return "Waiting for a worker: none is running right now"
    return "Waiting for a worker"


def reindex_progress(*, tenant: Tenant, knowledge_base: KnowledgeBase) -> ReindexProgress | None:
    version = knowledge_base.building_index_version
    if version is None:
        return None
    ready = document_list(tenant=tenant, knowledge_base=knowledge_base).filter(status=DocumentStatus.READY)
    missing = documents_missing_index_version(
        tenant=tenant, knowledge_base=knowledge_base, index_version=version
    ).count()
    total = ready.count()
    return ReindexProgress(
        embedding_model=knowledge_base.building_embedding_model,
        documents_done=total - missing,
        documents_total=total,
    )


def document_source_bytes(*, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> bytes | None:
    """The bytes uploaded for a file document, or None when they are gone."""
    found = (
        SourceFile.objects.for_tenant(tenant_id)
        .filter(document_id=document_id)
        .values_list("content", flat=True)
        .first()
    )
    return None if found is None else bytes(found)


def stall_cutoff(*, now: datetime | None = None) -> datetime:
    """Work untouched since this time has shown no sign of life for longer than a task may run (its
    hard time limit, plus two minutes' grace): its worker or its message was lost."""
    return (now or timezone.now()) - timedelta(seconds=settings.KNOWLEDGE_TASK_TIME_LIMIT + 120)


def knowledge_bases_stalled_in_switch(*, now: datetime | None = None) -> QuerySet[KnowledgeBase]:
    """Knowledge bases switching models with no work on the switch for longer than a task may run.

    The caller decides the scope (a beat task runs it unscoped, across tenants)."""
    return KnowledgeBase.objects.filter(
        building_index_version__isnull=False, updated_at__lt=stall_cutoff(now=now)
    )


def query_vectors(
    *, tenant: Tenant, knowledge_bases: Sequence[KnowledgeBase], query: str
) -> dict[str, list[float]]:
    """The question embedded once per embedding model of ``knowledge_bases``, for :func:`knowledge_search`."""
    return retrieval.embed_query(tenant=tenant, knowledge_bases=knowledge_bases, query=query)


def knowledge_search(
    *,
    tenant: Tenant,
    knowledge_bases: Sequence[KnowledgeBase],
    query: str,
    top_k: int | None = None,
    mode: str | None = None,
    score_threshold: float | None = None,
    query_vectors: dict[str, list[float]] | None = None,
) -> list[SearchResult]:
    """Search ``knowledge_bases`` with their own defaults for whatever the caller leaves unset.

    The defaults come from the first knowledge base (a bot's primary one); an explicit value wins.
    ``query_vectors`` (from ``retrieval.embed_query``) saves embedding the question again when one
    question is searched several times (comparing modes).
    """
    if not knowledge_bases:
        return []
    primary = knowledge_bases[0]
    if not query.strip():
        raise ValidationFailed("Type a question to search for.", field_errors={"query": ["Required."]})
    return retrieval.search(
        tenant=tenant,
        knowledge_bases=knowledge_bases,
        query=query,
        top_k=primary.retrieval_top_k if top_k is None else top_k,
        mode=mode or primary.retrieval_mode,
        score_threshold=primary.retrieval_score_threshold if score_threshold is None else score_threshold,
        query_vectors=query_vectors,
    )


# --- documents named by other apps (regression cases name the documents an answer must cite) ----------


def document_ids_among(
    *, tenant: Tenant, document_ids: Sequence[uuid.UUID | str], knowledge_bases: Sequence[KnowledgeBase]
) -> set[uuid.UUID]:
    """Which of ``document_ids`` are documents of ``knowledge_bases`` (missing or not theirs: left out)."""
    return set(
        Document.objects.for_tenant(tenant)
        .filter(pk__in=document_ids, knowledge_base__in=knowledge_bases)
        .values_list("pk", flat=True)
    )


def document_titles(*, tenant: Tenant, document_ids: Sequence[uuid.UUID | str]) -> dict[str, str]:
    """The titles of documents by id (as text), for reports that name them."""
    documents = Document.objects.for_tenant(tenant).filter(pk__in=document_ids)
    return {str(pk): title for pk, title in documents.values_list("pk", "title")}


def stored_sources(*, tenant: Tenant) -> tuple[int, int]:
    """The tenant's documents and the bytes of their sources, as its quotas count them: uploaded files
    as uploaded, pasted text and Q&A in UTF-8 (``octet_length`` reads a stored value's size without
    de-toasting it). Web sources store only their chunks, so they count as documents, not bytes."""
    documents = Document.objects.for_tenant(tenant).aggregate(
        count=Count("pk"), text_bytes=Sum(Func("source_text", function="OCTET_LENGTH"))
    )
    file_bytes = SourceFile.objects.for_tenant(tenant).aggregate(total=Sum("size_bytes"))["total"]
    return documents["count"], (documents["text_bytes"] or 0) + (file_bytes or 0)
