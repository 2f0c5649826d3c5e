"""One run of the ingestion pipeline for one document: fetch → parse → chunk → embed → store.

The stages run outside any database transaction (fetching and embedding can take minutes) and record
their progress through ``knowledge.services`` in short transactions of their own; the chunks are
stored in one transaction at the end (``services.document_store``), which is what makes a run
idempotent. What can go wrong ends in one of three ways:

- the document cannot be ingested (unreadable, refused URL, provider rejected the key): ``IngestionError``
  or ``FetchRefused``; the document is failed with the message, which is written for the tenant;
- something that may pass (a provider's rate limit or outage, the database restarting): ``TransientError``
  propagates to the task, which retries with backoff and fails the document after its last attempt;
- anything else is a bug: the task logs it and fails the document with a generic reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.conf import settings

from knowledge import selectors, services
from knowledge.crawling import CrawlReport, crawl
from knowledge.fetching import FetchRefused, fetch
from knowledge.ingestion import ChunkDraft, IngestionError, ParsedDocument, Section
from knowledge.ingestion.box import parse_in_box
from knowledge.ingestion.chunk import chunk
from knowledge.ingestion.parse import parse_qa
from knowledge.ingestion.sniff import sniff
from knowledge.models import SourceType
from knowledge.services import DocumentStats, IndexTarget, IngestJob
from providers import gateway
from providers import selectors as provider_selectors
from providers.errors import ProviderError
from tenants.context import tenant_context
from tenants.selectors import tenant_get

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Tokens of an embedding model's window kept free for the chunk's heading path, which is embedded with
# it (the built-in model reads 256 word pieces: chunks are then at most 224).
HEADING_ALLOWANCE_TOKENS = 32
# Passes over the store step when a model switch begins or ends while a run is embedding.
MAX_STORE_PASSES = 3


class TransientError(Exception):
    """A failure that another attempt later may not meet; ``message`` is what the tenant reads if the
    last attempt meets it too."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def ingest(
    *, tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, reindex_version: int | None = None
) -> str:
    """Run the pipeline for one document; returns "ready", "failed" or "skipped" (nothing to do).

    With ``reindex_version``, fill that index version of a ready document (a model switch) without
    touching its status. Raises ``TransientError`` for the task to retry.
    """
    job = services.document_claim(
        tenant_id=tenant_id, document_id=document_id, reindex_version=reindex_version
    )
    if job is None:
        return "skipped"
    try:
        run(job)
    except (IngestionError, FetchRefused) as error:
        services.document_fail(job=job, reason=error.message)
        return "failed"
    return "ready"


def fail(
    *,
    tenant_id: uuid.UUID | str,
    document_id: uuid.UUID | str,
    reason: str,
    reindex_version: int | None = None,
) -> None:
    """Fail a document's current run from outside it (the task's last retry, its time limit)."""
    services.document_fail_unfinished(
        tenant_id=tenant_id, document_id=document_id, reason=reason, reindex_version=reindex_version
    )


def run(job: IngestJob) -> None:
    kind, parsed, content_hash = _fetch_and_parse(job)
    drafts = _timed(job, "chunk", lambda: _chunk(job, parsed))
    stats = DocumentStats(
        pages=parsed.pages,
        tokens=sum(draft.token_count for draft in drafts),
        content_hash=content_hash,
        content_type=kind,
    )
    targets = job.targets
    for _ in range(MAX_STORE_PASSES):
        vectors = _embed(job, targets, drafts)
        started = time.monotonic()
        services.document_record_progress(job=job, stage="store", state="running")
        targets = services.document_store(
            job=job, drafts=drafts, vectors=vectors, stats=stats, store_started=started
        )
        if not targets:
            return
        # A model switch began or ended while embedding: embed the same chunks for what is now wanted.
        logger.info("document %s: embedding again for index versions %s", job.document_id, targets)
        job = replace(job, targets=targets, reindex_only=True)
    raise TransientError(
        "The knowledge base's embedding model kept changing while this document was processed."
    )


# --- fetch and parse --------------------------------------------------------------------------------


def _fetch_and_parse(job: IngestJob) -> tuple[str, ParsedDocument, str]:
    """(its kind, the parsed document, a hash of its content)."""
    if job.source_type == SourceType.CRAWL:
        return _crawl_and_parse(job)
    if job.source_type == SourceType.QA:
        pairs = json.loads(job.source_text)
        _record(job, "fetch", "done", seconds=0.0)
        parsed = _timed(job, "parse", lambda: parse_qa(pairs))
        return "qa", parsed, _hash(job.source_text.encode())

    started = time.monotonic()
    services.document_record_progress(job=job, stage="fetch", state="running")
    source_url = ""
    if job.source_type == SourceType.FILE:
        data = _source_bytes(job)
        kind = job.content_type or sniff(data, filename=job.original_filename)
    elif job.source_type == SourceType.URL:
        result = fetch(job.source_url)
        if result.status >= 400:
            raise IngestionError(f"{job.source_url} answered with HTTP status {result.status}.")
        data, source_url = result.body, result.final_url
        kind = sniff(data, filename=_path_name(source_url))
    else:  # pasted text: Markdown or plain, as it reads
        data = job.source_text.encode()
        kind = sniff(data, filename="pasted.txt")
    _record(job, "fetch", "done", seconds=_since(started), bytes=len(data))
    parsed = _timed(job, "parse", lambda: parse_in_box(data, kind=kind, source_url=source_url))
    return kind, parsed, _hash(data)


def _crawl_and_parse(job: IngestJob) -> tuple[str, ParsedDocument, str]:
    started = time.monotonic()
    services.document_record_progress(job=job, stage="fetch", state="running")

    def on_progress(kept: int, seen: int) -> None:
        _record(job, "fetch", "running", done=kept, total=job.crawl_max_pages or kept, seen=seen)

    # Pages are written to the spool as they are fetched and read back one at a time to be parsed: the
    # worker's memory does not grow with the size of the crawl.
    with tempfile.TemporaryDirectory(prefix="groundwork-crawl-") as spool:
        report = crawl(
            job.source_url,
            max_pages=job.crawl_max_pages or settings.CRAWL_DEFAULT_MAX_PAGES,
            on_progress=on_progress,
            spool_directory=Path(spool),
        )
        return _parse_crawled(job, report, fetch_started=started)


def _parse_crawled(
    job: IngestJob, report: CrawlReport, *, fetch_started: float
) -> tuple[str, ParsedDocument, str]:
    _record(
        job,
        "fetch",
        "done",
        seconds=_since(fetch_started),
        pages=len(report.pages),
        skipped=len(report.skipped),
        note=report.stopped_because,
    )
    started = time.monotonic()
    services.document_record_progress(job=job, stage="parse", state="running")
    sections: list[Section] = []
    digest = hashlib.sha256()
    for page in report.pages:
        body = page.body
        digest.update(page.url.encode() + b"\0" + body)
        try:
            # Each page in a box of its own: a hostile page fails alone, the crawl goes on.
            parsed_page = parse_in_box(body, kind="html", source_url=page.url)
        except IngestionError:
            continue  # an empty or unreadable page among many: the others are still worth having
        # Each section cites the page it came from; keep a fragment the parser found on that page.
        sections.extend(
            section if section.anchor.startswith(page.url) else replace(section, anchor=page.url)
            for section in parsed_page.sections
        )
    if not sections:
        skipped = "; ".join(f"{url}: {reason}" for url, reason in report.skipped[:3])
        raise IngestionError(
            f"The crawl found no page with text we can read{' (' + skipped + ')' if skipped else ''}."
        )
    _record(job, "parse", "done", seconds=_since(started), pages=len(report.pages))
    parsed = ParsedDocument(kind="html", sections=sections, title=job.source_url, pages=len(report.pages))
    return "html", parsed, digest.hexdigest()


def _source_bytes(job: IngestJob) -> bytes:
    with tenant_context(job.tenant_id):
        data = selectors.document_source_bytes(tenant_id=job.tenant_id, document_id=job.document_id)
    if data is None:
        raise IngestionError("The uploaded file is missing; upload it again.")
    return data


def _path_name(url: str) -> str:
    """The last path segment of ``url``: its extension breaks the tie between text and Markdown."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- chunk and embed --------------------------------------------------------------------------------


def embedding_window(tenant_id: uuid.UUID, model_ref: str) -> int:
    with tenant_context(tenant_id):
        tenant = tenant_get(tenant_id=tenant_id)
        return provider_selectors.model_get(tenant=tenant, ref=model_ref).spec.context_window


def chunk_size_for(job: IngestJob) -> tuple[int, int]:
    """(chunk size, overlap) in tokens: the knowledge base's, capped to what every target model reads."""
    window = min(embedding_window(job.tenant_id, target.model_ref) for target in job.targets)
    size = max(16, min(job.chunk_size_tokens, window - HEADING_ALLOWANCE_TOKENS))
    overlap = min(job.chunk_overlap_tokens, size // 2 - 1)
    return size, max(0, overlap)


def _chunk(job: IngestJob, parsed: ParsedDocument) -> list[ChunkDraft]:
    size, overlap = chunk_size_for(job)
    drafts = chunk(parsed, size_tokens=size, overlap_tokens=overlap)
    if not drafts:
        raise IngestionError("This document contains no text we can read.")
    return drafts


def embedding_text(draft: ChunkDraft) -> str:
    """What is embedded for a chunk: its heading path gives a short passage the context it lacks."""
    return f"{draft.heading_label}\n\n{draft.text}" if draft.heading_path else draft.text


def _embed(
    job: IngestJob, targets: Sequence[IndexTarget], drafts: Sequence[ChunkDraft]
) -> dict[int, list[list[float]]]:
    started = time.monotonic()
    texts = [embedding_text(draft) for draft in drafts]
    batch_size = settings.KNOWLEDGE_EMBED_BATCH_SIZE
    total = len(texts) * len(targets)
    done = 0
    vectors: dict[int, list[list[float]]] = {}
    _record(job, "embed", "running", done=0, total=total)
    for target in targets:
        found: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            found.extend(_embed_batch(job, target, texts[start : start + batch_size]))
            done += len(texts[start : start + batch_size])
            _record(job, "embed", "running", done=done, total=total)
        vectors[target.index_version] = found
    _record(job, "embed", "done", done=total, total=total, seconds=_since(started))
    return vectors


def _embed_batch(job: IngestJob, target: IndexTarget, texts: list[str]) -> list[list[float]]:
    try:
        result = async_to_sync(gateway.embed)(
            tenant_id=job.tenant_id, model_ref=target.model_ref, texts=texts
        )
    except ProviderError as error:
        if error.retryable:
            raise TransientError(error.message) from error
        raise IngestionError(f"The embedding model refused the text: {error.message}") from error
    if len(result.vectors) != len(texts) or any(
        len(vector) != target.dimensions for vector in result.vectors
    ):
        raise IngestionError(
            f"The embedding model {target.model_ref} returned vectors of another size than the knowledge "
            f"base stores ({target.dimensions}); choose another model."
        )
    return result.vectors


# --- progress ---------------------------------------------------------------------------------------


def _record(job: IngestJob, stage: str, state: str, **details: Any) -> None:
    services.document_record_progress(job=job, stage=stage, state=state, **details)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _timed(job: IngestJob, stage: str, work: Callable[[], T]) -> T:
    started = time.monotonic()
    _record(job, stage, "running")
    result = work()
    _record(job, stage, "done", seconds=_since(started))
    return result
