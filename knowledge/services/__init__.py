"""Writes about knowledge: knowledge bases, their documents, and what the ingestion pipeline records.

Two kinds of callers:

- people and API keys, through an ``Actor`` (``knowledge_base_create``, ``document_upload``, ...): role
  checked, audited, one transaction scoped to the actor's tenant; a new or re-ingested document is
  queued for the worker when that transaction commits;
- the pipeline, with an explicit ``tenant_id`` (``document_claim``, ``document_store``, ...): each call
  is its own short transaction, so progress shows while the slow work (fetching, embedding) runs
  outside any transaction, and every write checks the document's ``version`` so that a re-ingest
  requested meanwhile wins over an older run.

One module per sub-domain, all of it importable from here (``services.document_upload(...)``):

- ``knowledge_bases``: creating, changing (a new embedding model starts a switch) and deleting them
- ``documents``: adding a source (file, text, URL, crawl, Q&A), re-ingesting and deleting a document
- ``pipeline_records``: what a run records: its claim, each stage's progress, the chunks, a failure
- ``indexes``: switching a knowledge base to its new index version; scratch indexes for regression runs
- ``sweeps``: what beat runs across tenants: re-syncing web sources, re-queueing stalled documents
"""

from __future__ import annotations

from django.db import transaction

from knowledge.models import Document, KnowledgeBase
from knowledge.services.documents import (
    MAX_ANSWER_CHARACTERS,
    MAX_QA_PAIRS,
    MAX_QUESTION_CHARACTERS,
    MAX_TEXT_CHARACTERS,
    document_add_crawl,
    document_add_qa,
    document_add_text,
    document_add_url,
    document_delete,
    document_reingest,
    document_upload,
)
from knowledge.services.indexes import (
    SCRATCH_INDEX_VERSION_BASE,
    knowledge_base_note_waiting,
    knowledge_base_switch_index,
    knowledge_base_touch,
    scratch_index_build,
    scratch_index_drop,
    scratch_index_version,
)
from knowledge.services.knowledge_bases import (
    MAX_CHUNK_SIZE_TOKENS,
    MIN_CHUNK_SIZE_TOKENS,
    UPDATABLE_FIELDS,
    EmbeddingChoice,
    embedding_choice,
    knowledge_base_create,
    knowledge_base_delete,
    knowledge_base_update,
)
from knowledge.services.pipeline_records import (
    MAX_ATTEMPTS,
    STAGES,
    DocumentStats,
    IndexTarget,
    IngestJob,
    _targets,
    document_claim,
    document_fail,
    document_fail_unfinished,
    document_note_waiting,
    document_record_progress,
    document_store,
)
from knowledge.services.sweeps import documents_recover_stalled, resync_due_web_sources

__all__ = [
    "MAX_ANSWER_CHARACTERS",
    "MAX_ATTEMPTS",
    "MAX_CHUNK_SIZE_TOKENS",
    "MAX_QA_PAIRS",
    "MAX_QUESTION_CHARACTERS",
    "MAX_TEXT_CHARACTERS",
    "MIN_CHUNK_SIZE_TOKENS",
    "SCRATCH_INDEX_VERSION_BASE",
    "STAGES",
    "UPDATABLE_FIELDS",
    "DocumentStats",
    "EmbeddingChoice",
    "IndexTarget",
    "IngestJob",
    "_targets",  # bench/ingestion.py builds an IngestJob by hand with it
    "document_add_crawl",
    "document_add_qa",
    "document_add_text",
    "document_add_url",
    "document_claim",
    "document_delete",
    "document_fail",
    "document_fail_unfinished",
    "document_note_waiting",
    "document_record_progress",
    "document_reingest",
    "document_store",
    "document_upload",
    "documents_recover_stalled",
    "embedding_choice",
    "knowledge_base_create",
    "knowledge_base_delete",
    "knowledge_base_note_waiting",
    "knowledge_base_switch_index",
    "knowledge_base_touch",
    "knowledge_base_update",
    "resync_due_web_sources",
    "scratch_index_build",
    "scratch_index_drop",
    "scratch_index_version",
]


# --- queueing work after the transaction commits --------------------------------------------------------
# The modules of this package call these as ``services._enqueue_ingest(...)``, looked up here when they
# run rather than imported: replacing them on this package (tests keep documents off the queue that way)
# then reaches every caller.


def _enqueue_ingest(document: Document) -> None:
    from knowledge import tasks  # the tasks module imports the pipeline, which imports this one

    tenant_id, document_id = str(document.tenant_id), str(document.pk)
    transaction.on_commit(lambda: tasks.ingest_document.delay(tenant_id, document_id))


def _enqueue_reindex(knowledge_base: KnowledgeBase) -> None:
    from knowledge import tasks

    tenant_id, knowledge_base_id = str(knowledge_base.tenant_id), str(knowledge_base.pk)
    transaction.on_commit(lambda: tasks.reindex_knowledge_base.delay(tenant_id, knowledge_base_id))
