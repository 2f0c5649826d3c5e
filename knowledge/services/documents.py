"""Documents: adding one from a source (an uploaded file, pasted text, a web page, a crawl, questions and
answers), processing it again from its source, deleting it.

Each is queued for the worker (``knowledge.tasks.ingest_document``) when the actor's transaction commits;
what a source must be to be accepted is checked here, before anything is stored, and so are the tenant's
quotas (``tenants.quotas``): its documents and their bytes, counted under a lock on the tenant's row so
that concurrent uploads cannot pass them, and its crawl pages of the day.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from core.errors import Conflict, ValidationFailed
from core.identifiers import one_by_id
from knowledge import selectors, services
from knowledge.fetching import FetchRefused, check_url
from knowledge.ingestion import IngestionError
from knowledge.ingestion.sniff import check_declared_type, display_name, sniff
from knowledge.models import Document, DocumentStatus, KnowledgeBase, SourceFile, SourceType
from knowledge.uploads import limit_message
from tenants import quotas
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

MAX_QA_PAIRS = 2_000
MAX_QUESTION_CHARACTERS = 2_000
MAX_ANSWER_CHARACTERS = 20_000
MAX_TEXT_CHARACTERS = 2_000_000


# --- adding -------------------------------------------------------------------------------------------


def _new_document(
    actor: Actor,
    knowledge_base: KnowledgeBase,
    *,
    source_type: str,
    title: str,
    stored_bytes: int = 0,
    **fields: Any,
) -> Document:
    _make_room(actor.tenant, stored_bytes)
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
    services._enqueue_ingest(document)
    return document


def _make_room(tenant: Tenant, adding_bytes: int) -> None:
    """Refuse a document the tenant's quotas have no room for. The tenant's row stays locked until the
    transaction ends, so a concurrent upload counts after this one is stored (or rolled back)."""
    if (
        quotas.limit(tenant, quotas.Quota.DOCUMENTS) is None
        and quotas.limit(tenant, quotas.Quota.STORED_BYTES) is None
    ):
        return
    quotas.lock_tenant(tenant)
    documents, stored_bytes = selectors.stored_sources(tenant=tenant)
    quotas.check_documents(
        tenant=tenant, documents=documents, stored_bytes=stored_bytes, adding_bytes=adding_bytes
    )


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
        stored_bytes=len(content),
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
        stored_bytes=len(text.encode()),
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
    # Refused while today's pages are used up; with some left, the crawl reads at most those when it runs
    # (``document_claim`` reserves them), so a crawl queued now and run later is bounded then.
    quotas.check_crawl(actor.tenant)
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
    source_text = json.dumps(cleaned, ensure_ascii=False)
    return _new_document(
        actor,
        knowledge_base,
        source_type=SourceType.QA,
        title=title or f"{len(cleaned)} questions and answers",
        source_text=source_text,
        content_type="qa",
        stored_bytes=len(source_text.encode()),
    )


# --- re-ingesting and deleting -------------------------------------------------------------------------


def _document_for_update(tenant: Tenant, document_id: uuid.UUID | str) -> Document:
    documents = Document.objects.for_tenant(tenant).select_for_update()
    return one_by_id(documents, document_id, missing="No such document.")


def requeue(document: Document) -> None:
    """Ask for a new run of ``document`` from its source: a new version, queued when the transaction
    commits (a run still under way for the old version then stores nothing)."""
    document.version += 1
    document.status = DocumentStatus.QUEUED
    document.failure_reason = ""
    document.progress = {}
    document.attempts = 0
    document.save(update_fields=["version", "status", "failure_reason", "progress", "attempts", "updated_at"])
    services._enqueue_ingest(document)


@runs_in_actor_tenant
def document_reingest(*, actor: Actor, document_id: uuid.UUID | str) -> Document:
    """Process a document again from its source (a web source is fetched again). Its current chunks
    keep answering searches until the new ones replace them."""
    actor.require(Role.EDITOR, "re-ingest documents")
    document = _document_for_update(actor.tenant, document_id)
    if document.source_type == SourceType.CRAWL:
        quotas.check_crawl(actor.tenant)
    requeue(document)
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
