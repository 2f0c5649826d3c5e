"""Writes about knowledge: knowledge bases, their documents, and what the ingestion pipeline records.

Two kinds of callers:

- people and API keys, through an ``Actor`` (``knowledge_base_create``, ``document_upload``, ...): role
  checked, audited, one transaction scoped to the actor's tenant; a new or re-ingested document is
  queued for the worker when that transaction commits;
- the pipeline, with an explicit ``tenant_id`` (``document_claim``, ``document_store``, ...): each call
  is its own short transaction, so progress shows while the slow work (fetching, embedding) runs
  outside any transaction, and every write checks the document's ``version`` so that a re-ingest
  requested meanwhile wins over an older run.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationFailed
from knowledge import selectors
from knowledge.fetching import FetchRefused, check_url
from knowledge.ingestion import ChunkDraft, IngestionError
from knowledge.ingestion.sniff import check_declared_type, display_name, sniff
from knowledge.models import (
    EMBEDDING_COLUMNS,
    SUPPORTED_DIMENSIONS,
    Chunk,
    Document,
    DocumentStatus,
    KnowledgeBase,
    RetrievalMode,
    SourceFile,
    SourceType,
)
from knowledge.retrieval import MAX_TOP_K
from knowledge.uploads import limit_message
from providers import selectors as provider_selectors
from providers.models import FoundationModel, ModelKind
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context, unscoped
from tenants.models import Role, Tenant
from tenants.services import audit

# A document whose processing killed its worker this many times is failed rather than retried again.
MAX_ATTEMPTS = 5
MAX_QA_PAIRS = 2_000
MAX_QUESTION_CHARACTERS = 2_000
MAX_ANSWER_CHARACTERS = 20_000
MAX_TEXT_CHARACTERS = 2_000_000
MAX_CHUNK_SIZE_TOKENS = 2_000
MIN_CHUNK_SIZE_TOKENS = 50
STAGES = ("fetch", "parse", "chunk", "embed", "store")


# --- knowledge bases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingChoice:
    ref: str
    dimensions: int
    window_tokens: int


def embedding_choice(*, tenant: Tenant, ref: str) -> EmbeddingChoice:
    """``ref`` if it names an embedding model this tenant may index with; ValidationFailed otherwise."""
    try:
        model = provider_selectors.model_get(tenant=tenant, ref=ref)
    except NotFound:
        raise ValidationFailed.on("embedding_model", f"No such model “{ref}”.") from None
    if model.spec.kind != ModelKind.EMBEDDING:
        raise ValidationFailed.on("embedding_model", f"{model.display_name} is not an embedding model.")
    if isinstance(model.spec, FoundationModel) and model.spec.is_retired:
        raise ValidationFailed.on(
            "embedding_model", f"{model.display_name} has been retired by its provider."
        )
    dimensions = model.spec.embedding_dimensions or 0
    if dimensions not in SUPPORTED_DIMENSIONS:
        sizes = ", ".join(f"{size:,}" for size in SUPPORTED_DIMENSIONS)
        raise ValidationFailed.on(
            "embedding_model",
            f"{model.display_name} makes vectors of {dimensions:,} dimensions; Groundwork stores {sizes}.",
        )
    return EmbeddingChoice(ref=ref, dimensions=dimensions, window_tokens=model.spec.context_window)


def _check_settings(values: Mapping[str, Any]) -> None:
    size = values.get("chunk_size_tokens")
    overlap = values.get("chunk_overlap_tokens")
    if size is not None and not MIN_CHUNK_SIZE_TOKENS <= size <= MAX_CHUNK_SIZE_TOKENS:
        raise ValidationFailed.on(
            "chunk_size_tokens",
            f"Chunk size must be between {MIN_CHUNK_SIZE_TOKENS} and {MAX_CHUNK_SIZE_TOKENS:,} tokens.",
        )
    if size is not None and overlap is not None and not 0 <= overlap < size // 2:
        raise ValidationFailed.on(
            "chunk_overlap_tokens", "Overlap must be at least 0 and less than half the chunk size."
        )
    top_k = values.get("retrieval_top_k")
    if top_k is not None and not 1 <= top_k <= MAX_TOP_K:
        raise ValidationFailed.on("retrieval_top_k", f"Top-k must be between 1 and {MAX_TOP_K}.")
    threshold = values.get("retrieval_score_threshold")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValidationFailed.on(
            "retrieval_score_threshold", "The score threshold is a similarity between 0 and 1."
        )
    mode = values.get("retrieval_mode")
    if mode is not None and mode not in RetrievalMode.values:
        raise ValidationFailed.on("retrieval_mode", "Choose vector, full_text or hybrid.")


@runs_in_actor_tenant
def knowledge_base_create(
    *,
    actor: Actor,
    name: str,
    description: str = "",
    embedding_model: str = "",
    chunk_size_tokens: int = 400,
    chunk_overlap_tokens: int = 60,
    retrieval_top_k: int = 5,
    retrieval_score_threshold: float = 0.0,
    retrieval_mode: str = RetrievalMode.HYBRID,
) -> KnowledgeBase:
    actor.require(Role.EDITOR, "create knowledge bases")
    name = name.strip()
    if not name:
        raise ValidationFailed.on("name", "Give the knowledge base a name.")
    values = {
        "chunk_size_tokens": chunk_size_tokens,
        "chunk_overlap_tokens": chunk_overlap_tokens,
        "retrieval_top_k": retrieval_top_k,
        "retrieval_score_threshold": retrieval_score_threshold,
        "retrieval_mode": retrieval_mode,
    }
    _check_settings(values)
    ref = (
        embedding_model.strip()
        or provider_selectors.model_settings(tenant=actor.tenant).default_embedding_model
    )
    choice = embedding_choice(tenant=actor.tenant, ref=ref)
    knowledge_base = KnowledgeBase(
        tenant=actor.tenant,
        name=name[:120],
        description=description.strip(),
        embedding_model=choice.ref,
        embedding_dimensions=choice.dimensions,
        created_by=actor.user,
        **values,
    )
    try:
        with transaction.atomic():
            knowledge_base.save()
    except IntegrityError:
        raise Conflict(
            f"There is already a knowledge base named “{name}”.", field_errors={"name": ["Already used."]}
        ) from None
    audit(actor, action="knowledge_base.created", target=knowledge_base, changes={"name": name, **values})
    return knowledge_base


UPDATABLE_FIELDS = (
    "name",
    "description",
    "chunk_size_tokens",
    "chunk_overlap_tokens",
    "retrieval_top_k",
    "retrieval_score_threshold",
    "retrieval_mode",
)


@runs_in_actor_tenant
def knowledge_base_update(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, embedding_model: str | None = None, **changes: Any
) -> KnowledgeBase:
    """Change a knowledge base's settings. New chunk settings apply to documents ingested from now on
    (re-ingest to apply them to the others); a new embedding model re-embeds everything in the
    background into a new index version, and search uses the old one until that is complete."""
    actor.require(Role.EDITOR, "change knowledge bases")
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown settings: {', '.join(sorted(unknown))}.")
    knowledge_base = _knowledge_base_for_update(actor.tenant, knowledge_base_id)
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()[:120]
        if not changes["name"]:
            raise ValidationFailed.on("name", "Give the knowledge base a name.")
    merged = {name: changes.get(name, getattr(knowledge_base, name)) for name in UPDATABLE_FIELDS}
    _check_settings(merged)
    diff = {
        name: {"from": getattr(knowledge_base, name), "to": value}
        for name, value in changes.items()
        if getattr(knowledge_base, name) != value
    }
    for name in diff:
        setattr(knowledge_base, name, changes[name])
    start_reindex = False
    if embedding_model is not None and embedding_model.strip():
        target = knowledge_base.building_embedding_model or knowledge_base.embedding_model
        if embedding_model.strip() != target:
            choice = embedding_choice(tenant=actor.tenant, ref=embedding_model.strip())
            diff["embedding_model"] = {"from": target, "to": choice.ref}
            if choice.ref == knowledge_base.embedding_model:
                # Back to the model in use while a switch was under way: abandon the switch.
                _abandon_building_version(knowledge_base)
            else:
                _begin_building_version(knowledge_base, choice)
                start_reindex = True
    if diff:
        try:
            with transaction.atomic():
                knowledge_base.save()
        except IntegrityError:
            raise Conflict(
                f"There is already a knowledge base named “{knowledge_base.name}”.",
                field_errors={"name": ["Already used."]},
            ) from None
        audit(actor, action="knowledge_base.updated", target=knowledge_base, changes=_jsonable(diff))
    if start_reindex:
        _enqueue_reindex(knowledge_base)
    return selectors.knowledge_base_get(tenant=actor.tenant, knowledge_base_id=knowledge_base.pk)


def _begin_building_version(knowledge_base: KnowledgeBase, choice: EmbeddingChoice) -> None:
    stale = knowledge_base.building_index_version
    if stale is not None:
        Chunk.objects.for_tenant(knowledge_base.tenant).filter(
            knowledge_base=knowledge_base, index_version=stale
        ).delete()
    knowledge_base.building_index_version = max(knowledge_base.active_index_version, stale or 0) + 1
    knowledge_base.building_embedding_model = choice.ref
    knowledge_base.building_embedding_dimensions = choice.dimensions


def _abandon_building_version(knowledge_base: KnowledgeBase) -> None:
    if knowledge_base.building_index_version is not None:
        Chunk.objects.for_tenant(knowledge_base.tenant).filter(
            knowledge_base=knowledge_base, index_version=knowledge_base.building_index_version
        ).delete()
    knowledge_base.building_index_version = None
    knowledge_base.building_embedding_model = ""
    knowledge_base.building_embedding_dimensions = None


def _jsonable(diff: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(diff, default=str))


def _knowledge_base_for_update(tenant: Tenant, knowledge_base_id: uuid.UUID | str) -> KnowledgeBase:
    knowledge_base_id = selectors._uuid(knowledge_base_id, "knowledge base")
    try:
        return KnowledgeBase.objects.for_tenant(tenant).select_for_update().get(pk=knowledge_base_id)
    except KnowledgeBase.DoesNotExist:
        raise NotFound("No such knowledge base.") from None


@runs_in_actor_tenant
def knowledge_base_delete(*, actor: Actor, knowledge_base_id: uuid.UUID | str) -> None:
    """Delete a knowledge base with its documents, files and chunks. Bots lose it from their sources."""
    actor.require(Role.EDITOR, "delete knowledge bases")
    knowledge_base = _knowledge_base_for_update(actor.tenant, knowledge_base_id)
    audit(
        actor,
        action="knowledge_base.deleted",
        target=knowledge_base,
        changes={"name": knowledge_base.name, "documents": knowledge_base.documents.count()},
    )
    knowledge_base.delete()


# --- documents: adding ------------------------------------------------------------------------------


def _new_document(
    actor: Actor, knowledge_base: KnowledgeBase, *, source_type: str, title: str, **fields: Any
) -> Document:
    document = Document.objects.create(
        tenant=actor.tenant,
        knowledge_base=knowledge_base,
        source_type=source_type,
        title=title.strip()[:300] or "Untitled",
        created_by=actor.user,
        **fields,
    )
    audit(
        actor,
        action="document.added",
        target=document,
        changes={"knowledge_base": str(knowledge_base.pk), "source": source_type, "title": document.title},
    )
    _enqueue_ingest(document)
    return document


def _writable_knowledge_base(actor: Actor, knowledge_base_id: uuid.UUID | str) -> KnowledgeBase:
    actor.require(Role.EDITOR, "add documents")
    return selectors.knowledge_base_get(tenant=actor.tenant, knowledge_base_id=knowledge_base_id)


def _filename_title(filename: str) -> str:
    shown = display_name(filename).strip('"')
    stem, dot, _ = shown.rpartition(".")
    return (stem if dot and stem else shown)[:300]


@runs_in_actor_tenant
def document_upload(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, filename: str, content: bytes, title: str = ""
) -> Document:
    """Add an uploaded file. Its type is sniffed from the bytes and refused here, before anything is
    stored, when Groundwork cannot read it or its name claims another type. The file name is kept only
    to be shown: the bytes are stored in the database, never under a path built from the name."""
    knowledge_base = _writable_knowledge_base(actor, knowledge_base_id)
    if len(content) > settings.KNOWLEDGE_MAX_FILE_BYTES:
        raise ValidationFailed.on("file", limit_message(filename))
    try:
        kind = sniff(content, filename=filename)
        check_declared_type(kind, filename)
    except IngestionError as error:
        raise ValidationFailed.on("file", error.message) from None
    content_hash = hashlib.sha256(content).hexdigest()
    _refuse_duplicate(actor.tenant, knowledge_base, content_hash)
    shown_name = display_name(filename).strip('"') if filename.strip() else ""
    document = _new_document(
        actor,
        knowledge_base,
        source_type=SourceType.FILE,
        title=title or _filename_title(filename) or "Uploaded file",
        original_filename=shown_name[:255],
        content_type=kind,
        content_hash=content_hash,
    )
    SourceFile.objects.create(
        tenant=actor.tenant, document=document, content=content, size_bytes=len(content)
    )
    return document


def _refuse_duplicate(tenant: Tenant, knowledge_base: KnowledgeBase, content_hash: str) -> None:
    existing = (
        selectors.document_list(tenant=tenant, knowledge_base=knowledge_base)
        .filter(content_hash=content_hash, source_type=SourceType.FILE)
        .first()
    )
    if existing is not None:
        raise Conflict(
            f"This file is already in the knowledge base as “{existing.title}”.",
            field_errors={"file": ["Already uploaded."]},
        )


@runs_in_actor_tenant
def document_add_text(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, text: str, title: str = ""
) -> Document:
    knowledge_base = _writable_knowledge_base(actor, knowledge_base_id)
    if not text.strip():
        raise ValidationFailed.on("text", "Paste some text to add.")
    if len(text) > MAX_TEXT_CHARACTERS:
        raise ValidationFailed.on(
            "text", f"Pasted text is limited to {MAX_TEXT_CHARACTERS:,} characters; upload a file."
        )
    first_line = text.strip().splitlines()[0].lstrip("#").strip()  # a Markdown heading, without its marks
    return _new_document(
        actor,
        knowledge_base,
        source_type=SourceType.TEXT,
        title=title or first_line[:80],
        source_text=text,
        content_type="text",
    )


@runs_in_actor_tenant
def document_add_url(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, url: str, title: str = ""
) -> Document:
    knowledge_base = _writable_knowledge_base(actor, knowledge_base_id)
    url = _checked_url(url)
    return _new_document(
        actor, knowledge_base, source_type=SourceType.URL, title=title or url, source_url=url
    )


@runs_in_actor_tenant
def document_add_crawl(
    *,
    actor: Actor,
    knowledge_base_id: uuid.UUID | str,
    url: str,
    max_pages: int | None = None,
    title: str = "",
) -> Document:
    knowledge_base = _writable_knowledge_base(actor, knowledge_base_id)
    url = _checked_url(url)
    limit = settings.CRAWL_MAX_PAGES_LIMIT
    max_pages = settings.CRAWL_DEFAULT_MAX_PAGES if max_pages is None else max_pages
    if not 1 <= max_pages <= limit:
        raise ValidationFailed.on("max_pages", f"A crawl reads between 1 and {limit:,} pages.")
    return _new_document(
        actor,
        knowledge_base,
        source_type=SourceType.CRAWL,
        title=title or f"Crawl of {url}",
        source_url=url,
        crawl_max_pages=max_pages,
    )


def _checked_url(url: str) -> str:
    if len(url) > 2000:
        raise ValidationFailed.on("url", "Addresses are limited to 2,000 characters.")
    try:
        return check_url(url)
    except FetchRefused as refused:
        raise ValidationFailed.on("url", refused.message) from None


@runs_in_actor_tenant
def document_add_qa(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, pairs: Sequence[Mapping[str, str]], title: str = ""
) -> Document:
    knowledge_base = _writable_knowledge_base(actor, knowledge_base_id)
    cleaned = []
    for number, pair in enumerate(pairs, start=1):
        question = str(pair.get("question", "")).strip()
        answer = str(pair.get("answer", "")).strip()
        if not question and not answer:
            continue
        if not question or not answer:
            raise ValidationFailed.on("qa", f"Pair {number} needs both a question and an answer.")
        if len(question) > MAX_QUESTION_CHARACTERS or len(answer) > MAX_ANSWER_CHARACTERS:
            raise ValidationFailed.on(
                "qa",
                f"Pair {number} is too long: questions up to {MAX_QUESTION_CHARACTERS:,} characters, "
                f"answers up to {MAX_ANSWER_CHARACTERS:,}.",
            )
        cleaned.append({"question": question, "answer": answer})
    if not cleaned:
        raise ValidationFailed.on("qa", "Enter at least one question with its answer.")
    if len(cleaned) > MAX_QA_PAIRS:
        raise ValidationFailed.on(
            "qa", f"Up to {MAX_QA_PAIRS:,} pairs at a time; add the rest as another document."
        )
    return _new_document(
        actor,
        knowledge_base,
        source_type=SourceType.QA,
        title=title or f"{len(cleaned)} questions and answers",
        source_text=json.dumps(cleaned, ensure_ascii=False),
        content_type="qa",
    )


# --- documents: re-ingesting and deleting -----------------------------------------------------------


def _document_for_update(tenant: Tenant, document_id: uuid.UUID | str) -> Document:
    document_id = selectors._uuid(document_id, "document")
    try:
        return Document.objects.for_tenant(tenant).select_for_update().get(pk=document_id)
    except Document.DoesNotExist:
        raise NotFound("No such document.") from None


def _requeue(document: Document) -> None:
    document.version += 1
    document.status = DocumentStatus.QUEUED
    document.failure_reason = ""
    document.progress = {}
    document.attempts = 0
    document.save(update_fields=["version", "status", "failure_reason", "progress", "attempts", "updated_at"])
    _enqueue_ingest(document)


@runs_in_actor_tenant
def document_reingest(*, actor: Actor, document_id: uuid.UUID | str) -> Document:
    """Process a document again from its source (a web source is fetched again). Its current chunks
    keep answering searches until the new ones replace them."""
    actor.require(Role.EDITOR, "re-ingest documents")
    document = _document_for_update(actor.tenant, document_id)
    _requeue(document)
    audit(actor, action="document.reingested", target=document, changes={"version": document.version})
    return document


@runs_in_actor_tenant
def document_delete(*, actor: Actor, document_id: uuid.UUID | str) -> None:
    """Delete a document; its chunks and stored file go with it (cascade), so search stops finding it
    at once. A run still under way for it finds the row gone and stores nothing."""
    actor.require(Role.EDITOR, "delete documents")
    document = _document_for_update(actor.tenant, document_id)
    audit(
        actor,
        action="document.deleted",
        target=document,
        changes={"title": document.title, "knowledge_base": str(document.knowledge_base_id)},
    )
    document.delete()


def resync_due_web_sources(*, now: Any = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Queue every URL and crawl document last ingested more than ``KNOWLEDGE_RESYNC_HOURS`` ago.

    The schedule's job, across tenants: the one place this module leaves tenant scope, and only to find
    the due documents; each is re-queued inside its own tenant's transaction.
    """
    hours = settings.KNOWLEDGE_RESYNC_HOURS
    if hours <= 0:
        return []
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    with unscoped(reason="find web sources due for re-sync across tenants"):
        due = list(
            Document.objects.filter(
                source_type__in=[SourceType.URL, SourceType.CRAWL],
                status__in=[DocumentStatus.READY, DocumentStatus.FAILED],
                ingested_at__lt=cutoff,
            ).values_list("tenant_id", "pk")[:1000]
        )
    queued = []
    for tenant_id, document_id in due:
        with tenant_context(tenant_id):
            document = (
                Document.objects.select_for_update().filter(pk=document_id, ingested_at__lt=cutoff).first()
            )
            if document is not None and document.status in (DocumentStatus.READY, DocumentStatus.FAILED):
                _requeue(document)
                queued.append((tenant_id, document_id))
    return queued


def documents_recover_stalled(*, now: Any = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Queue again every document left queued or processing with no sign of life.

    A run records progress at every stage, so a document untouched for longer than a task may run was
    lost: its worker was killed past the broker's redelivery, it hit the hard time limit, or the queue
    lost the message. The new run counts as an attempt (``document_claim``), so a document that keeps
    killing workers ends failed with a reason instead of cycling. Runs still alive are not disturbed.
    """
    stale_after = timedelta(seconds=settings.KNOWLEDGE_TASK_TIME_LIMIT + 120)
    cutoff = (now or timezone.now()) - stale_after
    with unscoped(reason="find stalled documents across tenants"):
        stalled = list(
            Document.objects.filter(
                status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING], updated_at__lt=cutoff
            ).values_list("tenant_id", "pk")[:1000]
        )
    for tenant_id, document_id in stalled:
        with tenant_context(tenant_id):
            # Touched so that the next sweep waits a full period for this run before trying again.
            touched = Document.objects.filter(
                pk=document_id,
                updated_at__lt=cutoff,
                status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING],
            ).update(updated_at=timezone.now())
            if touched:
                document = Document(pk=document_id, tenant_id=tenant_id)
                _enqueue_ingest(document)
    return stalled


def _enqueue_ingest(document: Document) -> None:
    from knowledge import tasks  # the tasks module imports the pipeline, which imports this one

    tenant_id, document_id = str(document.tenant_id), str(document.pk)
    transaction.on_commit(lambda: tasks.ingest_document.delay(tenant_id, document_id))


def _enqueue_reindex(knowledge_base: KnowledgeBase) -> None:
    from knowledge import tasks

    tenant_id, knowledge_base_id = str(knowledge_base.tenant_id), str(knowledge_base.pk)
    transaction.on_commit(lambda: tasks.reindex_knowledge_base.delay(tenant_id, knowledge_base_id))


# --- the pipeline's records -------------------------------------------------------------------------


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
    cannot do it forever.
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
            crawl_max_pages=document.crawl_max_pages,
            chunk_size_tokens=knowledge_base.chunk_size_tokens,
            chunk_overlap_tokens=knowledge_base.chunk_overlap_tokens,
            targets=targets,
            reindex_only=reindex_version is not None,
        )


def document_source_bytes(*, job: IngestJob) -> bytes:
    with tenant_context(job.tenant_id):
        found = (
            SourceFile.objects.filter(document_id=job.document_id).values_list("content", flat=True).first()
        )
    if found is None:
        raise IngestionError("The uploaded file is missing; upload it again.")
    return bytes(found)


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


def knowledge_base_touch(*, knowledge_base: KnowledgeBase) -> None:
    """Note that a model switch was worked on now (the stalled-switch sweep waits a period after it)."""
    KnowledgeBase.objects.filter(pk=knowledge_base.pk).update(updated_at=timezone.now())


def knowledge_bases_stalled_in_switch(*, now: Any = None) -> Any:
    """Knowledge bases switching models with no work on the switch for longer than a task may run.

    The caller decides the scope (a beat task runs it unscoped, across tenants)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.KNOWLEDGE_TASK_TIME_LIMIT + 120)
    return KnowledgeBase.objects.filter(building_index_version__isnull=False, updated_at__lt=cutoff)


def knowledge_base_switch_index(*, tenant_id: uuid.UUID | str, knowledge_base_id: uuid.UUID | str) -> bool:
    """Make the building index version the active one once every ready document has chunks in it.

    Returns whether it switched. The old version's chunks are deleted in the same transaction, so search
    moves from the complete old index to the complete new one with nothing in between.
    """
    with tenant_context(tenant_id):
        knowledge_base = KnowledgeBase.objects.select_for_update().filter(pk=knowledge_base_id).first()
        if knowledge_base is None or knowledge_base.building_index_version is None:
            return False
        tenant = knowledge_base.tenant
        missing = selectors.documents_missing_index_version(
            tenant=tenant, knowledge_base=knowledge_base, index_version=knowledge_base.building_index_version
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
        tenant = Tenant.objects.get(pk=tenant_id)
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
