"""What one run of the ingestion pipeline records: its claim on a document, each stage's progress, the
chunks it made, or why it failed.

Called by ``knowledge.pipeline`` with an explicit ``tenant_id``; each call is its own short transaction
inside that tenant, and every write checks the document's ``version``, so a run superseded by a re-ingest
request (or whose document was deleted) changes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from knowledge.ingestion import ChunkDraft
from knowledge.models import EMBEDDING_COLUMNS, Chunk, Document, DocumentStatus, KnowledgeBase, SourceType
from tenants import quotas
from tenants.context import tenant_context
from tenants.selectors import tenant_get

# A document whose processing killed its worker this many times is failed rather than retried again.
MAX_ATTEMPTS = 5
STAGES = ("fetch", "parse", "chunk", "embed", "store")


@dataclass(frozen=True)
class IndexTarget:
    """One index version a run embeds into, with the model that version is made with."""

    index_version: int
    model_ref: str
    dimensions: int


@dataclass(frozen=True)
class IngestJob:
    """What one run of the pipeline works from: a snapshot taken when the run claimed the document."""

    tenant_id: uuid.UUID
    document_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    version: int
    source_type: str
    source_url: str
    source_text: str
    original_filename: str
    content_type: str
    crawl_max_pages: int | None
    chunk_size_tokens: int
    chunk_overlap_tokens: int
    targets: tuple[IndexTarget, ...]
    reindex_only: bool  # filling a new index version of a ready document: leave its status alone
    # The UTC day whose crawl-page quota this run reserved ``crawl_max_pages`` of (empty: none reserved);
    # the pages it does not read are given back to that day when it stores.
    crawl_quota_day: str = ""


def _targets(knowledge_base: KnowledgeBase) -> tuple[IndexTarget, ...]:
    targets = [
        IndexTarget(
            knowledge_base.active_index_version,
            knowledge_base.embedding_model,
            knowledge_base.embedding_dimensions,
        )
    ]
    if knowledge_base.building_index_version is not None and knowledge_base.building_embedding_dimensions:
        targets.append(
            IndexTarget(
                knowledge_base.building_index_version,
                knowledge_base.building_embedding_model,
                knowledge_base.building_embedding_dimensions,
            )
        )
    return tuple(targets)


def _initial_progress(stage: str) -> dict[str, Any]:
    return {"stage": stage, "stages": {name: {"state": "waiting"} for name in STAGES}}


def document_claim(
    *, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, reindex_version: int | None = None
) -> IngestJob | None:
    """Start a run for a document, or ``None`` when there is nothing to do.

    Nothing to do: the document is gone, already ready at its current version (a duplicate delivery),
    failed (only a re-ingest request starts it again) or, for a re-index, already has that version.
    A run that finds the document ``processing`` is a redelivery after its worker died: it starts again,
    and after ``MAX_ATTEMPTS`` such starts the document is failed instead, so a file that kills workers
    cannot do it forever. A crawl reserves the pages it may read from the tenant's quota of the day (at
    most what is left, which becomes the run's ``crawl_max_pages``); with none left it is failed, saying
    when it can run again.
    """
    with tenant_context(tenant_id):
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("knowledge_base")
            .filter(pk=document_id)
            .first()
        )
        if document is None:
            return None
        knowledge_base = document.knowledge_base
        crawl_max_pages, crawl_quota_day = document.crawl_max_pages, ""
        if reindex_version is not None:
            if (
                knowledge_base.building_index_version != reindex_version
                or document.status != DocumentStatus.READY
                or document.chunks.filter(index_version=reindex_version).exists()
            ):
                return None
            targets = tuple(t for t in _targets(knowledge_base) if t.index_version == reindex_version)
        else:
            if document.status in (DocumentStatus.READY, DocumentStatus.FAILED):
                return None
            if document.attempts >= MAX_ATTEMPTS:
                _fail(
                    document,
                    f"Processing this document stopped unexpectedly {document.attempts} times; it may be too "
                    "large or damaged. Try a smaller or re-saved copy.",
                )
                return None
            crawl_max_pages, crawl_quota_day = _reserve_crawl_pages(document)
            if crawl_max_pages == 0:
                return None
            document.status = DocumentStatus.PROCESSING
            document.attempts += 1
            document.failure_reason = ""
            document.progress = _initial_progress("fetch")
            document.save(update_fields=["status", "attempts", "failure_reason", "progress", "updated_at"])
            targets = _targets(knowledge_base)
        return IngestJob(
            tenant_id=document.tenant_id,
            document_id=document.pk,
            knowledge_base_id=knowledge_base.pk,
            version=document.version,
            source_type=document.source_type,
            source_url=document.source_url,
            source_text=document.source_text,
            original_filename=document.original_filename,
            content_type=document.content_type,
            crawl_max_pages=crawl_max_pages,
            chunk_size_tokens=knowledge_base.chunk_size_tokens,
            chunk_overlap_tokens=knowledge_base.chunk_overlap_tokens,
            targets=targets,
            reindex_only=reindex_version is not None,
            crawl_quota_day=crawl_quota_day,
        )


def _reserve_crawl_pages(document: Document) -> tuple[int | None, str]:
    """For a crawl about to run: the pages it may read, reserved from today's quota, and the day they
    were reserved on. A crawl finding none left is failed, saying so; other sources reserve nothing."""
    if document.source_type != SourceType.CRAWL:
        return document.crawl_max_pages, ""
    tenant = tenant_get(tenant_id=document.tenant_id)
    wanted = document.crawl_max_pages or settings.CRAWL_DEFAULT_MAX_PAGES
    granted, day = quotas.reserve_crawl_pages(tenant=tenant, wanted=wanted)
    if granted == 0:
        _fail(document, quotas.crawl_refused_message(tenant))
    return granted, day


def document_record_progress(*, job: IngestJob, stage: str, state: str, **details: Any) -> None:
    """Record one stage's state (``running``/``done``) and details (seconds, done/total) for the UI."""
    if job.reindex_only:
        return
    with tenant_context(job.tenant_id):
        document = (
            Document.objects.select_for_update()
            .filter(pk=job.document_id, version=job.version, status=DocumentStatus.PROCESSING)
            .only("progress")
            .first()
        )
        if document is None:
            return
        progress = document.progress or _initial_progress(stage)
        progress["stage"] = stage
        progress.setdefault("stages", {})[stage] = {"state": state, **details}
        Document.objects.filter(pk=job.document_id).update(progress=progress, updated_at=timezone.now())


@dataclass(frozen=True)
class DocumentStats:
    pages: int
    tokens: int
    content_hash: str
    content_type: str


def document_store(
    *,
    job: IngestJob,
    drafts: Sequence[ChunkDraft],
    vectors: Mapping[int, Sequence[Sequence[float]]],
    stats: DocumentStats,
    store_started: float | None = None,
) -> tuple[IndexTarget, ...]:
    """Replace the document's chunks in each index version of ``vectors`` and mark it ready, in one
    transaction; returns the index versions its knowledge base now wants that this run did not embed
    (a model switch that began or finished while it ran).

    The document row is locked, and the chunks of each version are deleted and inserted under that lock:
    two runs of the same document (a duplicate delivery, a retry racing a straggler) serialise here, and
    whichever stores last leaves exactly one set. A run whose version was superseded by a re-ingest
    request, or whose document was deleted, stores nothing.
    """
    with tenant_context(job.tenant_id):
        document = (
            Document.objects.select_for_update(of=("self",))
            .select_related("knowledge_base")
            .filter(pk=job.document_id, version=job.version)
            .first()
        )
        if document is None or (job.reindex_only and document.status != DocumentStatus.READY):
            return ()
        knowledge_base = document.knowledge_base
        wanted = {target.index_version: target for target in _targets(knowledge_base)}
        # A version whose model changed since this run claimed is not stored: its vectors do not fit.
        stored = {
            target.index_version: target
            for target in job.targets
            if wanted.get(target.index_version) == target
        }
        for index_version, target in stored.items():
            Chunk.objects.filter(document=document, index_version=index_version).delete()
            column = EMBEDDING_COLUMNS[target.dimensions]
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        tenant_id=job.tenant_id,
                        knowledge_base=knowledge_base,
                        document=document,
                        index_version=index_version,
                        document_version=job.version,
                        position=draft.position,
                        text=draft.text,
                        heading_path=draft.heading_label,
                        page_number=draft.page_number,
                        anchor=draft.anchor[:300],
                        token_count=draft.token_count,
                        **{column: list(vector)},
                    )
                    for draft, vector in zip(drafts, vectors[index_version], strict=True)
                ],
                batch_size=500,
            )
        if not job.reindex_only:
            if job.crawl_quota_day and document.ingested_version != job.version:
                _give_back_unread_pages(job, stats)
            document.status = DocumentStatus.READY
            document.failure_reason = ""
            document.ingested_version = job.version
            document.ingested_at = timezone.now()
            document.pages = stats.pages
            document.token_count = stats.tokens
            document.content_hash = stats.content_hash
            document.content_type = stats.content_type or document.content_type
            progress = document.progress or _initial_progress("store")
            progress["stage"] = "done"
            seconds = {} if store_started is None else {"seconds": round(time.monotonic() - store_started, 3)}
            progress.setdefault("stages", {})["store"] = {"state": "done", **seconds}
            document.progress = progress
        document.chunk_count = document.chunks.filter(
            index_version=knowledge_base.active_index_version
        ).count()
        document.save()
        present = set(
            document.chunks.filter(document_version=job.version).values_list("index_version", flat=True)
        )
        return tuple(target for version, target in wanted.items() if version not in present)


def _give_back_unread_pages(job: IngestJob, stats: DocumentStats) -> None:
    """The crawl read ``stats.pages`` of the pages it reserved: the rest go back to the day's quota once
    its result is stored (a store that rolls back gives nothing back; a second store of the same version,
    by a duplicate run, does not give back twice)."""
    unread = (job.crawl_max_pages or 0) - stats.pages
    transaction.on_commit(
        lambda: quotas.release_crawl_pages(tenant_id=job.tenant_id, day=job.crawl_quota_day, pages=unread)
    )


def _fail(document: Document, reason: str) -> None:
    document.status = DocumentStatus.FAILED
    document.failure_reason = reason
    progress = document.progress or {}
    progress["stage"] = "failed"
    for stage in (progress.get("stages") or {}).values():
        if stage.get("state") == "running":
            stage["state"] = "failed"  # the stage the run died in
    document.progress = progress
    document.save(update_fields=["status", "failure_reason", "progress", "updated_at"])


def document_fail(*, job: IngestJob, reason: str) -> None:
    """Mark the run's document failed with ``reason``, unless a newer version was requested meanwhile.

    Chunks from an earlier successful version are kept (they still answer searches) until the document
    is re-ingested successfully or deleted. A document that cannot be read again for a new embedding
    model is failed too (saying so): otherwise the switch would wait for it forever.
    """
    with tenant_context(job.tenant_id):
        document = (
            Document.objects.select_for_update().filter(pk=job.document_id, version=job.version).first()
        )
        if document is None:
            return
        if job.reindex_only and document.status == DocumentStatus.READY:
            _fail(document, f"Re-embedding for the new embedding model failed: {reason}")
        elif not job.reindex_only and document.status != DocumentStatus.READY:
            _fail(document, reason)


def document_fail_unfinished(
    *,
    tenant_id: uuid.UUID | str,
    document_id: uuid.UUID | str,
    reason: str,
    reindex_version: int | None = None,
) -> None:
    """Fail a document's run from outside it (the last retry gave up, a time limit struck): a document
    still queued or processing, or, for a re-index, a ready one still missing from that version."""
    with tenant_context(tenant_id):
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None:
            return
        if reindex_version is None and document.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING):
            _fail(document, reason)
        elif (
            reindex_version is not None
            and document.status == DocumentStatus.READY
            and not document.chunks.filter(index_version=reindex_version).exists()
        ):
            _fail(document, f"Re-embedding for the new embedding model failed: {reason}")


def document_note_waiting(*, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str) -> None:
    """A queued document's task is waiting for one of its tenant's ingestion slots: a sign of life, so
    the stalled-document sweep (which looks for documents untouched for longer than a task may run) does
    not queue it a second time while its tenant's backlog drains."""
    with tenant_context(tenant_id):
        Document.objects.filter(pk=document_id, status=DocumentStatus.QUEUED).update(
            updated_at=timezone.now()
        )
