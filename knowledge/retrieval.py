"""Retrieval: the chunks of a bot's knowledge bases that answer a question, by meaning, by words, or both.

``search()`` runs inside the caller's tenant transaction (``tenant_context`` or a request's
``activate_tenant``). Row-Level Security already limits every query to that tenant; each query also
filters by tenant and by the knowledge bases' ids and active index versions explicitly, so a scope
mistake cannot widen to the whole tenant and RLS stays a backstop rather than the only guard.

Modes
- ``vector``: cosine similarity between the question's embedding and each chunk's. Knowledge bases
  are grouped by embedding model; each group is searched in its own column (384 / 1,536 / 3,072).
  ``score`` is the cosine similarity (1 - cosine distance).
- ``full_text``: PostgreSQL full text (``english`` configuration, the generated ``search_vector``
  with its GIN index). ``score`` is ``ts_rank_cd``. See :func:`_full_text_sql` for how the question
  becomes a ``tsquery``.
- ``hybrid``: reciprocal rank fusion (RRF, k = 60) of each vector group's list and the full-text list.
  ``score`` is the fused score, and ``vector_rank`` / ``text_rank`` say where each list put the chunk.

``score_threshold`` is a minimum cosine similarity. In ``vector`` mode it drops results below it. In
``hybrid`` mode it gates the vector lists only: a chunk enters the fusion through the vector side only
when its similarity reaches the threshold, while a chunk that matches the question's words enters
through the full-text list whatever its similarity, because exact words (error codes, product codes)
are what full text is for and a small embedding model scores them low. ``full_text`` ignores it
(``ts_rank_cd`` is not on a similarity scale).

Several knowledge bases on different embedding models: cosine similarities of different models are
not comparable (one model's 0.4 is another's 0.7), so their lists are never merged by raw score. In
``vector`` mode they are merged by rank within their own list (best of each first), ties broken by
similarity; with one model that is simply similarity order.

Vector path, chosen from the scope's size, never by the planner (bench/RESULTS.md has the
measurements, ``shared/notes/pgvector-filtered-search.md`` the facts behind them):
- every search first ranks the scope exactly, reading at most ``EXACT_SCAN_MAX_ROWS`` + 1 of its rows
  (through the (knowledge_base, index_version) btree, fenced in a MATERIALIZED CTE so the planner cannot
  swap in the HNSW index, which, filtered down to a small scope of a large table, comes back short).
  When the scope has no more rows than that, this ranking is exact and is the answer: one statement
  both counts the scope and searches it;
- a scope of up to ``SELECTIVE_SCAN_MAX_ROWS`` that is under ``HNSW_MIN_SCOPE_SHARE`` of the column's
  HNSW index (judged from the documents' chunk counts and the index's reltuples) is ranked exactly too:
  in a big table a filtered HNSW scan wades through other tenants' entries and is slower than reading
  the scope, and less exact;
- a larger scope is searched through the HNSW index with ``hnsw.iterative_scan = relaxed_order``, a
  raised ``hnsw.ef_search`` (the same settings serve the ``halfvec`` index of the 3,072 column) and
  sorting disabled so that the planner cannot trade the index for an exact scan of a big scope;
  candidates are over-fetched and re-ordered by exact distance. The settings are ``SET LOCAL`` inside a
  savepoint that is rolled back afterwards, so they never leak into the rest of the caller's transaction.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connection, transaction
from pgvector.django import HnswIndex
from psycopg import sql

from core.errors import ValidationFailed
from knowledge.models import EMBEDDING_COLUMNS, Chunk, DocumentStatus, KnowledgeBase, RetrievalMode
from tenants.context import active_tenant_id
from tenants.models import Tenant

# --- measured constants (bench/retrieval.py; numbers in bench/RESULTS.md) -----------------------------

# Scopes with at most this many embedded chunks are always searched exactly: below it the exact scan is
# as fast as HNSW or faster, and always returns k rows; HNSW restricted to a small scope of a large table
# may exhaust hnsw.max_scan_tuples before it finds k of the scope's rows.
EXACT_SCAN_MAX_ROWS = 2000
# Up to this many, a scope is still searched exactly when it is a small share of the column's HNSW index:
# a filtered HNSW scan visits about k / share index entries, so at 1M chunks a 2k-10k scope was both
# slower through HNSW (p95 46-88 ms against 27-32 ms) and less exact (recall 0.83-0.86), while at 100k
# chunks the same scopes (2-10% of the index) were 2-4 times faster through it at recall 0.99.
SELECTIVE_SCAN_MAX_ROWS = 10_000
HNSW_MIN_SCOPE_SHARE = 0.01

# hnsw.ef_search for the HNSW path (pgvector's default is 40). With relaxed_order the scan goes on past
# ef_search until LIMIT rows pass the filter; a larger list makes each step's candidates closer to exact.
HNSW_EF_SEARCH = 200
HNSW_EF_SEARCH_MAX = 1000  # pgvector's upper bound for the setting

# Candidates fetched from HNSW per result wanted, re-ordered by exact distance before the best are kept:
# a relaxed iterative scan returns near neighbours slightly out of order and misses a few.
HNSW_OVERFETCH = 4
HNSW_MIN_CANDIDATES = 40

# Hybrid: how deep each list goes before fusion, and the RRF constant of Cormack et al. (2009).
HYBRID_MIN_CANDIDATES = 40
HYBRID_CANDIDATES_PER_RESULT = 4
RRF_K = 60

FULL_TEXT_CONFIG = "english"
# A question is a sentence, not a document: the cap bounds the tsquery (and the embedding input)
# whatever a client sends.
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100

# The 3,072 column is halfvec (HNSW indexes vectors up to 2,000 dimensions, halfvecs up to 4,000).
_VECTOR_TYPES = {384: "vector", 1536: "vector", 3072: "halfvec"}
# Each embedding column's HNSW index, as the model declares it.
_HNSW_INDEXES = {
    index.fields[0]: str(index.name) for index in Chunk._meta.indexes if isinstance(index, HnswIndex)
}


@dataclass(frozen=True)
class SearchResult:
    chunk_id: uuid.UUID
    text: str
    score: float
    document_id: uuid.UUID
    document_title: str
    source: str  # the document's original filename, or its URL
    page_number: int | None
    anchor: str
    heading_path: str
    knowledge_base_id: uuid.UUID
    vector_rank: int | None  # 1-based place in its embedding group's vector list, for explaining hybrid
    text_rank: int | None  # 1-based place in the full-text list


class VectorPath(Enum):
    EXACT = "exact"
    HNSW = "hnsw"


def vector_path_for(scope_rows: int, index_rows: float = 0.0) -> VectorPath:
    """The vector path for a scope of ``scope_rows`` chunks in a column whose HNSW index has
    ``index_rows`` entries: never HNSW for a small scope, nor for a mid-sized one that is a small share
    of the index."""
    if scope_rows <= EXACT_SCAN_MAX_ROWS:
        return VectorPath.EXACT
    if scope_rows <= SELECTIVE_SCAN_MAX_ROWS and scope_rows < HNSW_MIN_SCOPE_SHARE * index_rows:
        return VectorPath.EXACT
    return VectorPath.HNSW


@dataclass(frozen=True)
class _Group:
    """The knowledge bases of one search that share an embedding model, hence a column."""

    model_ref: str
    dimensions: int
    versions: tuple[tuple[uuid.UUID, int], ...]  # (knowledge base id, active index version)

    @property
    def column(self) -> str:
        return EMBEDDING_COLUMNS[self.dimensions]

    @property
    def vector_type(self) -> str:
        return f"{_VECTOR_TYPES[self.dimensions]}({self.dimensions})"


@dataclass(frozen=True)
class _Hit:
    chunk_id: uuid.UUID
    value: float  # cosine similarity for vector lists, ts_rank_cd for the full-text list


def search(
    *,
    tenant: Tenant,
    knowledge_bases: Sequence[KnowledgeBase],
    query: str,
    top_k: int = 5,
    mode: str = RetrievalMode.HYBRID,
    score_threshold: float = 0.0,
    query_vectors: Mapping[str, list[float]] | None = None,
) -> list[SearchResult]:
    """The ``top_k`` chunks of ``knowledge_bases`` that best answer ``query``, best first.

    Runs in the caller's transaction, which must be scoped to ``tenant``. ``query_vectors`` maps an
    embedding model ref to the question's vector; models missing from it are embedded here through the
    gateway (metered), once per model. A remote embedding call holds the caller's transaction open while
    it runs, so callers that can should embed first (:func:`embed_query`) and pass the vectors.

    ``score_threshold`` is a minimum cosine similarity: in ``vector`` mode for the results, in ``hybrid``
    mode for what the vector lists contribute (full-text matches enter regardless), ignored by
    ``full_text`` (see the module docstring).
    """
    if mode not in RetrievalMode.values:
        raise ValidationFailed(f"Unknown retrieval mode {mode!r}; use vector, full_text or hybrid.")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValidationFailed(f"top_k must be between 1 and {MAX_TOP_K}.")
    _require_tenant_transaction(tenant)
    for knowledge_base in knowledge_bases:
        if knowledge_base.tenant_id != tenant.pk:
            # A programming error, not a user's: the caller mixed tenants. Never search it.
            raise ValueError(f"knowledge base {knowledge_base.pk} does not belong to tenant {tenant.pk}")
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query or not knowledge_bases:
        return []

    groups = _groups(knowledge_bases)
    vector_lists: list[list[_Hit]] = []
    text_list: list[_Hit] = []
    if mode in (RetrievalMode.VECTOR, RetrievalMode.HYBRID):
        vectors = _query_vectors(tenant, groups, query, query_vectors or {})
        depth = top_k if mode == RetrievalMode.VECTOR else _hybrid_depth(top_k)
        for group in groups:
            hits = _vector_hits(tenant.pk, group, vectors[group.model_ref], depth)
            vector_lists.append([hit for hit in hits if hit.value >= score_threshold])
    if mode in (RetrievalMode.FULL_TEXT, RetrievalMode.HYBRID):
        depth = top_k if mode == RetrievalMode.FULL_TEXT else _hybrid_depth(top_k)
        text_list = _full_text_hits(
            tenant.pk, groups, query, depth, all_terms_only=mode == RetrievalMode.HYBRID
        )

    ranked = _rank(mode, vector_lists, text_list)[:top_k]
    return _hydrate(tenant.pk, ranked)


def embed_query(
    *, tenant: Tenant, knowledge_bases: Sequence[KnowledgeBase], query: str
) -> dict[str, list[float]]:
    """The question's vector for each embedding model of ``knowledge_bases``: one gateway call each.

    Call it before opening a transaction and pass the result to :func:`search` as ``query_vectors``.
    """
    return _query_vectors(tenant, _groups(knowledge_bases), query.strip()[:MAX_QUERY_CHARS], {})


def _query_vectors(
    tenant: Tenant, groups: Sequence[_Group], query: str, known: Mapping[str, list[float]]
) -> dict[str, list[float]]:
    from providers import gateway  # imported on use: the gateway pulls in the whole provider layer

    vectors = dict(known)
    for group in groups:
        if group.model_ref not in vectors:
            result = async_to_sync(gateway.embed)(
                tenant_id=tenant.pk, model_ref=group.model_ref, texts=[query]
            )
            vectors[group.model_ref] = result.vectors[0]
        vector = vectors[group.model_ref]
        if len(vector) != group.dimensions:
            raise ValueError(
                f"the query vector for {group.model_ref} has {len(vector)} dimensions, "
                f"its knowledge bases {group.dimensions}"
            )
        if not all(math.isfinite(value) for value in vector):
            raise ValueError(f"the query vector for {group.model_ref} is not finite")
    return vectors


# --- scope ------------------------------------------------------------------------------------------


def _require_tenant_transaction(tenant: Tenant) -> None:
    if not connection.in_atomic_block:
        # SET LOCAL and the RLS tenant setting both live only as long as a transaction.
        raise RuntimeError("search() must run inside the tenant's transaction (tenant_context)")
    active = active_tenant_id()
    if active is None:
        raise RuntimeError("search() must run inside the tenant's transaction (no tenant is active)")
    if active != tenant.pk:
        # RLS would hide the tenant's rows and the search would silently find nothing.
        raise RuntimeError(f"search() for tenant {tenant.pk} runs in another tenant's transaction")


def _groups(knowledge_bases: Sequence[KnowledgeBase]) -> list[_Group]:
    by_model: dict[tuple[str, int], list[tuple[uuid.UUID, int]]] = {}
    for knowledge_base in knowledge_bases:
        if knowledge_base.embedding_dimensions not in EMBEDDING_COLUMNS:
            raise ValueError(
                f"knowledge base {knowledge_base.pk} has unsupported dimensions "
                f"{knowledge_base.embedding_dimensions}"
            )
        key = (knowledge_base.embedding_model, knowledge_base.embedding_dimensions)
        version = (knowledge_base.pk, knowledge_base.active_index_version)
        if version not in by_model.setdefault(key, []):
            by_model[key].append(version)
    return [
        _Group(model_ref=model_ref, dimensions=dimensions, versions=tuple(versions))
        for (model_ref, dimensions), versions in by_model.items()
    ]


def _compose(template: str, **parts: sql.Composable) -> str:
    """A statement from constant SQL and identifiers: psycopg quotes each part, values stay parameters."""
    return sql.SQL(template).format(**parts).as_string(None)


def _scope_sql(versions: Sequence[tuple[uuid.UUID, int]]) -> tuple[sql.Composable, list[Any]]:
    """``(knowledge base, version) IN (...)`` for the chunk alias ``c``; the values are parameters.

    Only the number of placeholders depends on the input. A row-IN list turns into one btree probe per
    knowledge base on chunk_kb_version.
    """
    pair = sql.SQL("(%s::uuid, %s::integer)")
    params: list[Any] = []
    for knowledge_base_id, index_version in versions:
        params += [knowledge_base_id, index_version]
    return sql.SQL("(c.knowledge_base_id, c.index_version) IN ({})").format(
        sql.SQL(", ").join([pair] * len(versions))
    ), params


def _vector_parts(group: _Group) -> dict[str, sql.Composable]:
    return {
        "column": sql.Identifier(group.column),
        "vector_type": sql.SQL(group.vector_type),  # from a constant table, never from input
    }


# --- vector -----------------------------------------------------------------------------------------


def _vector_literal(vector: Sequence[float]) -> str:
    # pgvector's text form; passed as a parameter and cast in SQL, never formatted into the statement.
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def exact_vector_sql(
    tenant_id: uuid.UUID, group: _Group, vector: Sequence[float], limit: int, cap: int
) -> tuple[str, list[Any]]:
    """Exact nearest neighbours within the scope, and the scope's size counted up to ``cap`` + 1.

    One pass does both: the MATERIALIZED CTE reads at most ``cap`` + 1 of the scope's rows with their
    distances, each result row carries how many it read, and a caller seeing more than ``cap`` knows
    the scope is large and takes the HNSW path instead (the rows read cost what a separate count would).
    The CTE is also an optimisation fence: the outer ORDER BY sorts the CTE's rows, which no index can
    serve, so the HNSW index cannot be chosen however the planner estimates the scope. It holds
    (id, distance) pairs, not copies of the vectors.
    """
    scope, scope_params = _scope_sql(group.versions)
    statement = _compose(
        "WITH scope AS MATERIALIZED ("
        " SELECT c.id, c.{column} <=> %s::{vector_type} AS distance FROM knowledge_chunk c"
        " WHERE c.tenant_id = %s AND {scope} AND c.{column} IS NOT NULL"
        " LIMIT %s"
        ")"
        " SELECT id, distance, (SELECT count(*) FROM scope) AS scope_rows FROM scope"
        " ORDER BY distance, id LIMIT %s",
        scope=scope,
        **_vector_parts(group),
    )
    return statement, [_vector_literal(vector), tenant_id, *scope_params, cap + 1, limit]


def hnsw_vector_sql(
    tenant_id: uuid.UUID, group: _Group, vector: Sequence[float], limit: int, candidates: int
) -> tuple[str, list[Any]]:
    """Approximate nearest neighbours through HNSW, re-ordered by exact distance.

    The inner query is the index scan (ORDER BY the distance expression, LIMIT ``candidates``); with
    relaxed_order its rows come slightly out of order, so the outer query re-sorts the materialized
    candidates by their exact distance and keeps ``limit``.
    """
    scope, scope_params = _scope_sql(group.versions)
    statement = _compose(
        "WITH candidates AS MATERIALIZED ("
        " SELECT c.id, c.{column} <=> %s::{vector_type} AS distance FROM knowledge_chunk c"
        " WHERE c.tenant_id = %s AND {scope} AND c.{column} IS NOT NULL"
        " ORDER BY distance LIMIT %s"
        ")"
        " SELECT id, distance FROM candidates ORDER BY distance, id LIMIT %s",
        scope=scope,
        **_vector_parts(group),
    )
    return statement, [_vector_literal(vector), tenant_id, *scope_params, candidates, limit]


def hnsw_candidates(limit: int) -> int:
    return max(limit * HNSW_OVERFETCH, HNSW_MIN_CANDIDATES)


def _vector_hits(tenant_id: uuid.UUID, group: _Group, vector: Sequence[float], limit: int) -> list[_Hit]:
    rows, scope_rows = _exact_rows(tenant_id, group, vector, limit, EXACT_SCAN_MAX_ROWS)
    if scope_rows > EXACT_SCAN_MAX_ROWS:
        estimate, index_rows = _scope_estimate(tenant_id, group)
        exact_rows_read = False
        if vector_path_for(estimate, index_rows) is VectorPath.EXACT:
            rows, scope_rows = _exact_rows(tenant_id, group, vector, limit, SELECTIVE_SCAN_MAX_ROWS)
            # Read whole, the scope is ranked exactly, whatever the estimate said.
            exact_rows_read = scope_rows <= SELECTIVE_SCAN_MAX_ROWS
        if not exact_rows_read:
            candidates = hnsw_candidates(limit)
            statement, params = hnsw_vector_sql(tenant_id, group, vector, limit, candidates)
            ef_search = min(max(HNSW_EF_SEARCH, candidates), HNSW_EF_SEARCH_MAX)
            rows = _with_hnsw_settings(ef_search, statement, params)
    return [_Hit(chunk_id=row[0], value=1.0 - float(row[1])) for row in rows]


def _exact_rows(
    tenant_id: uuid.UUID, group: _Group, vector: Sequence[float], limit: int, cap: int
) -> tuple[list[tuple[Any, ...]], int]:
    """The exact ranking of the scope's first ``cap`` + 1 rows, and how many rows that was."""
    statement, params = exact_vector_sql(tenant_id, group, vector, limit, cap)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    return rows, int(rows[0][2]) if rows else 0


def _scope_estimate(tenant_id: uuid.UUID, group: _Group) -> tuple[int, float]:
    """The scope's size as its ready documents count their chunks, and the column's HNSW index size.

    Both are kept by others (ingestion's per-document counts, VACUUM/ANALYZE's reltuples) and cost one
    small query; they only choose which path to try, and a wrong estimate costs time, never results.
    """
    statement = _compose(
        "SELECT"
        " (SELECT coalesce(sum(d.chunk_count), 0) FROM knowledge_document d"
        "  WHERE d.tenant_id = %s AND d.knowledge_base_id = ANY(%s) AND d.status = %s),"
        " (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = to_regclass(%s))"
    )
    knowledge_base_ids = [knowledge_base_id for knowledge_base_id, _ in group.versions]
    with connection.cursor() as cursor:
        cursor.execute(
            statement, [tenant_id, knowledge_base_ids, DocumentStatus.READY, _HNSW_INDEXES[group.column]]
        )
        row = cursor.fetchone()
    return (int(row[0]), float(row[1] or 0.0)) if row else (0, 0.0)


def _with_hnsw_settings(ef_search: int, statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the HNSW index with iterative scans, inside a savepoint rolled back afterwards.

    The rollback undoes the SET LOCALs, so the rest of the caller's transaction runs with its own
    settings; a failed query is rolled back with them and leaves the caller's transaction usable.
    """
    savepoint = transaction.savepoint()
    try:
        with connection.cursor() as cursor:
            # Casting a vector literal first loads pgvector's library in this session, so the hnsw.*
            # settings exist and set_config validates them; set on an unloaded library they would be
            # placeholders, and a misspelt value would only warn and fall back to the default.
            cursor.execute(
                "SELECT '[0]'::vector IS NOT NULL,"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('hnsw.ef_search', %s, true),"
                # The planner must not swap the index for a btree scan and a sort: pgvector prices an
                # HNSW scan by ef_search, so with the raised value it chose an exact scan of scopes of
                # 2k-10k rows (17-28 ms instead of 3-5 ms, bench/RESULTS.md). With sorting disabled the
                # index is the only plan that needs no sort of the scope; the re-ordering of the few
                # candidates still sorts, as it must in every plan.
                " set_config('enable_sort', 'off', true)",
                [str(ef_search)],
            )
            cursor.execute(statement, params)
            rows = cursor.fetchall()
    finally:
        transaction.savepoint_rollback(savepoint)
    return rows


# --- full text --------------------------------------------------------------------------------------


def _full_text_sql(
    tenant_id: uuid.UUID, groups: Sequence[_Group], query: str, limit: int, *, all_terms_only: bool
) -> tuple[str, list[Any]]:
    """Chunks matching the question's words, ranked by ts_rank_cd (cover density).

    Two tsqueries are made from the question:
    - ``all_terms``: ``websearch_to_tsquery`` (every term, quoted phrases, ``or`` and ``-word`` as in a web
      search engine; any input parses without error);
    - ``any_terms``: the same terms joined with OR (from ``plainto_tsquery``, which ignores the operators),
      because a question in a visitor's words ("what does error E-4012 mean?") rarely has every one of its
      words in the passage that answers it.
    Hyphenated codes stay phrases in both (E-4012 parses to ``'e-4012' <-> 'e' <-> '4012'``).

    ``full_text`` mode lists chunks with all the terms first, then those with some of them, each tier by
    ``ts_rank_cd`` against ``any_terms``. ``hybrid`` fuses only the first tier: the vector lists already
    find passages that share the question's meaning, and chunks that merely share a common word ("get",
    "pay") pushed good vector hits out of the top 5 when fused with equal weight (bench/RESULTS.md).
    """
    versions = [version for group in groups for version in group.versions]
    scope, scope_params = _scope_sql(versions)
    statement = _compose(
        "SELECT c.id, ts_rank_cd(c.search_vector, q.any_terms) AS rank"
        " FROM knowledge_chunk c, ("
        "  SELECT websearch_to_tsquery(%s::regconfig, %s) AS all_terms,"
        # The text form of a tsquery quotes every lexeme, and the parser never puts " & " inside one, so
        # the replacement only turns the AND operators into OR.
        "  replace(plainto_tsquery(%s::regconfig, %s)::text, ' & ', ' | ')::tsquery AS any_terms"
        " ) AS q"
        " WHERE c.tenant_id = %s AND {scope} AND c.search_vector @@ {match}"
        " ORDER BY c.search_vector @@ q.all_terms DESC, rank DESC, c.id LIMIT %s",
        scope=scope,
        match=sql.SQL("q.all_terms" if all_terms_only else "q.any_terms"),
    )
    params = [FULL_TEXT_CONFIG, query, FULL_TEXT_CONFIG, query, tenant_id, *scope_params, limit]
    return statement, params


def _full_text_hits(
    tenant_id: uuid.UUID, groups: Sequence[_Group], query: str, limit: int, *, all_terms_only: bool
) -> list[_Hit]:
    statement, params = _full_text_sql(tenant_id, groups, query, limit, all_terms_only=all_terms_only)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    return [_Hit(chunk_id=row[0], value=float(row[1])) for row in rows]


# --- fusion and results -----------------------------------------------------------------------------


@dataclass
class _Ranked:
    chunk_id: uuid.UUID
    score: float
    vector_rank: int | None = None
    text_rank: int | None = None
    similarity: float = -math.inf


def _hybrid_depth(top_k: int) -> int:
    return max(top_k * HYBRID_CANDIDATES_PER_RESULT, HYBRID_MIN_CANDIDATES)


def _rank(mode: str, vector_lists: Sequence[list[_Hit]], text_list: list[_Hit]) -> list[_Ranked]:
    ranked: dict[uuid.UUID, _Ranked] = {}
    for hits in vector_lists:
        for rank, hit in enumerate(hits, start=1):
            entry = ranked.setdefault(hit.chunk_id, _Ranked(chunk_id=hit.chunk_id, score=0.0))
            entry.vector_rank, entry.similarity = rank, hit.value
    for rank, hit in enumerate(text_list, start=1):
        entry = ranked.setdefault(hit.chunk_id, _Ranked(chunk_id=hit.chunk_id, score=0.0))
        entry.text_rank = rank
        if mode == RetrievalMode.FULL_TEXT:
            entry.score = hit.value
    entries = list(ranked.values())
    if mode == RetrievalMode.VECTOR:
        for entry in entries:
            entry.score = entry.similarity
        # Lists of different models interleave by rank (see the module docstring); one list: similarity.
        entries.sort(key=lambda entry: (entry.vector_rank or 0, -entry.similarity, entry.chunk_id))
    elif mode == RetrievalMode.FULL_TEXT:
        entries.sort(key=lambda entry: (entry.text_rank or 0, entry.chunk_id))
    else:
        for entry in entries:
            entry.score = sum(1.0 / (RRF_K + rank) for rank in (entry.vector_rank, entry.text_rank) if rank)
        entries.sort(
            key=lambda entry: (
                -entry.score,
                min(rank for rank in (entry.vector_rank, entry.text_rank) if rank),
                entry.chunk_id,
            )
        )
    return entries


def _hydrate(tenant_id: uuid.UUID, ranked: Sequence[_Ranked]) -> list[SearchResult]:
    # Plain values rather than model instances: building Chunk and Document objects cost more than the
    # query itself (bench/RESULTS.md).
    rows = (
        Chunk.objects.for_tenant(tenant_id)
        .filter(pk__in=[entry.chunk_id for entry in ranked])
        .values_list(
            "id",
            "text",
            "page_number",
            "anchor",
            "heading_path",
            "knowledge_base_id",
            "document_id",
            "document__title",
            "document__original_filename",
            "document__source_url",
        )
    )
    chunks = {row[0]: row for row in rows}
    results = []
    for entry in ranked:
        row = chunks.get(entry.chunk_id)
        if row is None:  # deleted between ranking and loading, by a re-ingest in another transaction
            continue
        _, text, page_number, anchor, heading_path, knowledge_base_id, document_id, title, filename, url = row
        results.append(
            SearchResult(
                chunk_id=entry.chunk_id,
                text=text,
                score=entry.score,
                document_id=document_id,
                document_title=title,
                source=filename or url,
                page_number=page_number,
                anchor=anchor,
                heading_path=heading_path,
                knowledge_base_id=knowledge_base_id,
                vector_rank=entry.vector_rank,
                text_rank=entry.text_rank,
            )
        )
    return results
