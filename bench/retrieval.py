"""Benchmark tenant-filtered vector retrieval: the path search() chooses against plain HNSW and exact search.

    .venv/bin/python bench/retrieval.py --rows 100000 --builds 3
    .venv/bin/python bench/retrieval.py --rows 1000000

What it does, on the real migrated schema (knowledge_chunk with its RLS policy, indexes and generated
tsvector) in a scratch database ``bench_retrieval`` that it creates with the application role and drops
at the end (``--keep`` leaves it):

1. 200 tenants with Zipf-like sizes (the largest ~20% of the rows, the smallest 25 rows), one knowledge
   base each; 384-d clustered unit vectors: 1,000 shared topics (support documents of different tenants
   are about the same things, so a tenant's nearest neighbours in the whole table are mostly other
   tenants' chunks, which is what makes filtered HNSW hard), each tenant drawing from a few of them.
2. Loads with binary COPY (indexes dropped first), VACUUM ANALYZE, then rebuilds every index and times
   the HNSW build (m=16, ef_construction=64, maintenance_work_mem 8GB, one parallel worker: 2 cores).
3. For tenants bucketed by size, ``--queries`` questions each (a topic of the tenant plus noise), top 10,
   warm cache, one client, inside a tenant transaction (RLS on, as in production):
   - ``search()``: knowledge.retrieval.search end to end (scope count, path choice, query, loading the
     results through the ORM), vector mode;
   - ``exact``: the exact path's SQL (MATERIALIZED scope, ORDER BY distance), uncapped: the ground truth;
   - ``plain HNSW``: ``WHERE tenant AND kb ORDER BY embedding <=> q LIMIT 10`` with pgvector's defaults
     (ef_search 40, no iterative scan), as the planner runs it;
   - ``plain HNSW, forced``: the same with sorting disabled, so the planner must take the HNSW index;
   - ``iterative HNSW``: the HNSW path's SQL of search() (relaxed_order, ef_search, over-fetch, exact
     re-order, sorting disabled so the index is used), for every bucket, to see where the exact path
     stops paying;
   and a sweep of ef_search and candidates for the larger buckets.
   Recall@10 is against ``exact``; "short" counts queries that returned fewer than 10 rows.

Numbers and conclusions are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, beside this file
import harness
from harness import p50, p95, raw_params

harness.setup_django()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402
from psycopg import sql  # noqa: E402

from knowledge import retrieval  # noqa: E402
from knowledge.models import Document, DocumentStatus, KnowledgeBase, SourceType  # noqa: E402
from tenants.context import activate_tenant, tenant_context, unscoped  # noqa: E402
from tenants.models import Tenant  # noqa: E402

Vectors = npt.NDArray[np.float32]

DATABASE = "bench_retrieval"
MODEL_REF = "local:all-MiniLM-L6-v2"
DIMENSIONS = 384
TENANTS = 200
SMALLEST_TENANT = 25
LARGEST_SHARE = 0.20
TOPICS = 1000
NOISE = 0.05  # per coordinate: a chunk's cosine to its topic is ~0.7, two chunks of one topic ~0.5
TOP_K = 10
HNSW_INDEX = "chunk_embedding_384_hnsw"

# Size buckets (embedded chunks per tenant): "small" and "large" are the brief's; the ones between show
# where the exact path stops being the faster one.
BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("small (<1k)", 0, 999),
    ("1k-2k", 1000, 1999),
    ("2k-5k", 2000, 4999),
    ("5k-10k", 5000, 9999),
    ("large (>10k)", 10000, 10**9),
)
SWEEP_EF = (40, 100, 200, 400)
SWEEP_CANDIDATES = (10, 40)


# --- data ---------------------------------------------------------------------------------------------


def zipf_sizes(rows: int, tenants: int = TENANTS) -> list[int]:
    """Tenant sizes ~ rank^-s, s chosen so the largest holds LARGEST_SHARE of the rows, none below 25."""

    def sizes_for(exponent: float) -> list[int]:
        weights = np.arange(1, tenants + 1, dtype=np.float64) ** -exponent
        raw = weights / weights.sum() * rows
        return [max(SMALLEST_TENANT, int(size)) for size in raw]

    low, high = 0.1, 3.0
    for _ in range(60):
        middle = (low + high) / 2
        if sizes_for(middle)[0] / rows > LARGEST_SHARE:
            high = middle
        else:
            low = middle
    sizes = sizes_for(low)
    sizes[0] += rows - sum(sizes)  # exact total; the largest absorbs the rounding
    return sizes


def unit(vectors: Vectors) -> Vectors:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class BenchTenant:
    tenant: Tenant
    knowledge_base: KnowledgeBase
    document_id: uuid.UUID
    size: int
    topics: npt.NDArray[np.int64]


@dataclass
class World:
    centers: Vectors
    tenants: list[BenchTenant]


def make_tenants(sizes: Sequence[int], rng: np.random.Generator) -> World:
    centers = unit(rng.standard_normal((TOPICS, DIMENSIONS)).astype(np.float32))
    tenant_rows = [Tenant(name=f"Bench {index}", slug=f"bench-{index}") for index in range(len(sizes))]
    Tenant.objects.bulk_create(tenant_rows)
    result: list[BenchTenant] = []
    with unscoped(reason="benchmark set-up in a scratch database"):
        bases = KnowledgeBase.objects.bulk_create(
            [
                KnowledgeBase(
                    tenant=tenant, name="Docs", embedding_model=MODEL_REF, embedding_dimensions=DIMENSIONS
                )
                for tenant in tenant_rows
            ]
        )
        documents = Document.objects.bulk_create(
            [
                Document(
                    tenant=tenant,
                    knowledge_base=base,
                    source_type=SourceType.TEXT,
                    title="Bench",
                    status=DocumentStatus.READY,
                    chunk_count=size,  # as ingestion leaves it; search() estimates scopes from it
                )
                for tenant, base, size in zip(tenant_rows, bases, sizes, strict=True)
            ]
        )
    for tenant, base, document, size in zip(tenant_rows, bases, documents, sizes, strict=True):
        topics = rng.choice(TOPICS, size=int(np.clip(size // 50, 5, 60)), replace=False)
        result.append(BenchTenant(tenant, base, document.pk, size, topics))
    return World(centers=centers, tenants=result)


def tenant_vectors(world: World, bench_tenant: BenchTenant, rng: np.random.Generator) -> Vectors:
    picks = rng.choice(bench_tenant.topics, size=bench_tenant.size)
    noise = rng.standard_normal((bench_tenant.size, DIMENSIONS)).astype(np.float32) * NOISE
    return unit(world.centers[picks] + noise)


def query_vector(world: World, bench_tenant: BenchTenant, rng: np.random.Generator) -> Vectors:
    topic = rng.choice(bench_tenant.topics)
    noise = rng.standard_normal(DIMENSIONS).astype(np.float32) * NOISE
    return unit((world.centers[topic] + noise)[None, :])[0]


# --- the scratch database -----------------------------------------------------------------------------


@contextmanager
def timed(label: str, log: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    log[label] = time.perf_counter() - started
    print(f"  {label}: {log[label]:.1f} s", flush=True)


def load(world: World, rng: np.random.Generator, log: dict[str, float]) -> list[tuple[str, str]]:
    """COPY every tenant's chunks with the secondary indexes dropped; returns the dropped definitions."""
    columns = [
        *("id", "tenant_id", "created_at", "knowledge_base_id", "document_id", "index_version"),
        *("document_version", "position", "text", "heading_path", "anchor", "token_count", "embedding_384"),
    ]
    with psycopg.connect(**raw_params(DATABASE)) as raw:
        register_vector(raw)
        indexes = raw.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE tablename = 'knowledge_chunk' AND indexname <> 'knowledge_chunk_pkey'"
        ).fetchall()
        for name, _ in indexes:
            raw.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        # COPY FROM is refused on a table whose RLS applies to the user; FORCE makes it apply to the
        # owner (the application role). Lifted for the load only, and restored before any query.
        raw.execute("ALTER TABLE knowledge_chunk NO FORCE ROW LEVEL SECURITY")
        raw.commit()
        now = raw.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        statement = sql.SQL("COPY knowledge_chunk ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in columns)
        )
        with timed("generate + COPY", log), raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(
                [
                    *("uuid", "uuid", "timestamptz", "uuid", "uuid", "int4", "int4", "int4", "text"),
                    *("varchar", "varchar", "int4", "vector"),
                ]
            )
            for bench_tenant in world.tenants:
                vectors = tenant_vectors(world, bench_tenant, rng)
                tenant_id, base_id = bench_tenant.tenant.pk, bench_tenant.knowledge_base.pk
                for position, vector in enumerate(vectors):
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            tenant_id,
                            now,
                            base_id,
                            bench_tenant.document_id,
                            1,
                            1,
                            position,
                            f"Passage {position} about topic {position % 97}",
                            "Bench",
                            "",
                            8,
                            vector,
                        )
                    )
        raw.commit()
        raw.execute("ALTER TABLE knowledge_chunk FORCE ROW LEVEL SECURITY")
        raw.commit()
    return [(name, definition) for name, definition in indexes]


def maintenance_memory(rows: int) -> str:
    """Enough for the whole HNSW graph in memory (~2 KB a 384-d row at m=16), with room to spare.

    Not more: a parallel build allocates all of it as shared memory up front, which costs seconds.
    """
    return f"{max(256, rows * 4 // 1024)}MB"


def build_indexes(definitions: Sequence[tuple[str, str]], log: dict[str, float], rows: int) -> None:
    with psycopg.connect(**raw_params(DATABASE), autocommit=True) as raw:
        with timed("VACUUM ANALYZE", log):
            raw.execute("VACUUM ANALYZE knowledge_chunk")
        raw.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_memory(rows))))
        raw.execute("SET max_parallel_maintenance_workers = 1")  # the leader + 1 worker = 2 cores
        others = [(name, definition) for name, definition in definitions if name != HNSW_INDEX]
        for name, definition in others:
            with timed(f"index {name}", log):
                raw.execute(definition)  # type: ignore[arg-type]  # definitions read back from pg_indexes
        hnsw = dict(definitions)[HNSW_INDEX]
        with timed("HNSW build", log):
            raw.execute(hnsw)  # type: ignore[arg-type]
        raw.execute("ANALYZE knowledge_chunk")


def rebuild_hnsw(
    definitions: Sequence[tuple[str, str]], log: dict[str, float], label: str, rows: int
) -> None:
    with psycopg.connect(**raw_params(DATABASE), autocommit=True) as raw:
        raw.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_memory(rows))))
        raw.execute("SET max_parallel_maintenance_workers = 1")
        raw.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(HNSW_INDEX)))
        with timed(label, log):
            raw.execute(dict(definitions)[HNSW_INDEX])  # type: ignore[arg-type]


def sizes_report() -> dict[str, str]:
    with psycopg.connect(**raw_params(DATABASE)) as raw:
        rows = raw.execute(
            "SELECT relname, pg_size_pretty(pg_relation_size(oid)) FROM pg_class"
            " WHERE relname IN ('knowledge_chunk', 'chunk_embedding_384_hnsw', 'chunk_kb_version',"
            " 'chunk_search_vector', 'knowledge_chunk_pkey')"
        ).fetchall()
        toast = raw.execute("SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunk'))").fetchone()
    return {**dict(rows), "total (table + toast + indexes)": toast[0] if toast else "?"}


# --- measurements -------------------------------------------------------------------------------------


@dataclass
class Measure:
    latencies_ms: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    short: int = 0
    used_hnsw: int = 0
    plans: int = 0

    def add(self, milliseconds: float, ids: Sequence[Any], truth: Sequence[Any]) -> None:
        self.latencies_ms.append(milliseconds)
        self.recalls.append(len(set(ids) & set(truth)) / len(truth))
        self.short += len(ids) < TOP_K

    def row(self) -> str:
        recall = statistics.fmean(self.recalls)
        latency = f"{p50(self.latencies_ms):.2f} | {p95(self.latencies_ms):.2f}"
        hnsw = f"{self.used_hnsw}/{self.plans}" if self.plans else "-"
        return f"{recall:.3f} | {latency} | {self.short} | {hnsw}"


def run_sql(statement: str, params: Sequence[Any]) -> tuple[float, list[Any]]:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(statement, params)
        rows = cursor.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, [row[0] for row in rows]


def uses_hnsw(statement: str, params: Sequence[Any]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement, params)
        return any(HNSW_INDEX in row[0] for row in cursor.fetchall())


def set_local(**values: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT '[0]'::vector IS NOT NULL")  # load pgvector so hnsw.* are real settings
        for name, value in values.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name.replace("__", "."), value])


def plain_sql(bench_tenant: BenchTenant, vector: Vectors) -> tuple[str, list[Any]]:
    statement = (
        "SELECT id FROM knowledge_chunk WHERE tenant_id = %s AND knowledge_base_id = %s"
        " AND index_version = 1 ORDER BY embedding_384 <=> %s::vector(384) LIMIT %s"
    )
    return statement, [
        bench_tenant.tenant.pk,
        bench_tenant.knowledge_base.pk,
        retrieval._vector_literal(vector),
        TOP_K,
    ]


def group_of(bench_tenant: BenchTenant) -> retrieval._Group:
    return retrieval._groups([bench_tenant.knowledge_base])[0]


def in_tenant(bench_tenant: BenchTenant, work: Callable[[], Any]) -> Any:
    """Run ``work`` in its own tenant transaction (RLS on), rolled back so SET LOCALs never carry over."""
    with transaction.atomic():
        activate_tenant(bench_tenant.tenant.pk)
        try:
            return work()
        finally:
            transaction.set_rollback(True)


@dataclass
class Query:
    bench_tenant: BenchTenant
    vector: Vectors
    truth: list[Any] = field(default_factory=list)


def bucket_queries(world: World, low: int, high: int, count: int, rng: np.random.Generator) -> list[Query]:
    members = [item for item in world.tenants if low <= item.size <= high]
    if not members:
        return []
    return [
        Query(members[index % len(members)], query_vector(world, members[index % len(members)], rng))
        for index in range(count)
    ]


def measure_bucket(queries: Sequence[Query], sweep: bool, index_rows: int) -> dict[str, Measure]:
    results: dict[str, Measure] = {}

    def exact(query: Query) -> tuple[float, list[Any]]:
        statement, params = retrieval.exact_vector_sql(
            query.bench_tenant.tenant.pk, group_of(query.bench_tenant), query.vector, TOP_K, cap=10**9
        )
        return run_sql(statement, params)

    def iterative(query: Query, ef_search: int, candidates: int) -> tuple[float, list[Any]]:
        statement, params = retrieval.hnsw_vector_sql(
            query.bench_tenant.tenant.pk, group_of(query.bench_tenant), query.vector, TOP_K, candidates
        )
        set_local(hnsw__iterative_scan="relaxed_order", hnsw__ef_search=str(ef_search), enable_sort="off")
        return run_sql(statement, params)

    def plain(query: Query, forced: bool) -> tuple[float, list[Any]]:
        statement, params = plain_sql(query.bench_tenant, query.vector)
        if forced:
            set_local(enable_sort="off")
        return run_sql(statement, params)

    def search(query: Query) -> tuple[float, list[Any]]:
        started = time.perf_counter()
        with tenant_context(query.bench_tenant.tenant.pk):
            found = retrieval.search(
                tenant=query.bench_tenant.tenant,
                knowledge_bases=[query.bench_tenant.knowledge_base],
                query="bench",
                top_k=TOP_K,
                mode="vector",
                query_vectors={MODEL_REF: [float(value) for value in query.vector]},
            )
        return (time.perf_counter() - started) * 1000, [result.chunk_id for result in found]

    # Warm-up: every query once through the exact path and the index, untimed.
    for query in queries:
        in_tenant(query.bench_tenant, lambda query=query: exact(query))
        in_tenant(query.bench_tenant, lambda query=query: iterative(query, 200, 40))
    for query in queries:
        query.truth = in_tenant(query.bench_tenant, lambda query=query: exact(query))[1]

    configs: dict[str, Callable[[Query], tuple[float, list[Any]]]] = {
        "search()": search,
        "exact": lambda query: in_tenant(query.bench_tenant, lambda: exact(query)),
        "plain HNSW (defaults)": lambda query: in_tenant(query.bench_tenant, lambda: plain(query, False)),
        "plain HNSW, forced": lambda query: in_tenant(query.bench_tenant, lambda: plain(query, True)),
        "iterative HNSW ef 200, 40 candidates": lambda query: in_tenant(
            query.bench_tenant, lambda: iterative(query, 200, 40)
        ),
    }
    if sweep:
        for ef_search in SWEEP_EF:
            for candidates in SWEEP_CANDIDATES:
                if (ef_search, candidates) != (200, 40):
                    configs[f"iterative HNSW ef {ef_search}, {candidates} candidates"] = (
                        lambda query, ef_search=ef_search, candidates=candidates: in_tenant(
                            query.bench_tenant, lambda: iterative(query, ef_search, candidates)
                        )
                    )
    for name, run in configs.items():
        measure = results.setdefault(name, Measure())
        for query in queries:
            milliseconds, ids = run(query)
            measure.add(milliseconds, ids, query.truth)

    # Which plans used the HNSW index, once per distinct tenant.
    seen: set[uuid.UUID] = set()
    for query in queries:
        if query.bench_tenant.tenant.pk in seen:
            continue
        seen.add(query.bench_tenant.tenant.pk)
        plain_statement, plain_params = plain_sql(query.bench_tenant, query.vector)
        results["plain HNSW (defaults)"].plans += 1
        results["plain HNSW (defaults)"].used_hnsw += in_tenant(
            query.bench_tenant, lambda s=plain_statement, p=plain_params: uses_hnsw(s, p)
        )
        path = retrieval.vector_path_for(query.bench_tenant.size, index_rows)
        results["search()"].plans += 1
        if path is retrieval.VectorPath.HNSW:
            statement, params = retrieval.hnsw_vector_sql(
                query.bench_tenant.tenant.pk, group_of(query.bench_tenant), query.vector, TOP_K, 40
            )
            ef_search = str(max(retrieval.HNSW_EF_SEARCH, retrieval.hnsw_candidates(TOP_K)))
            results["search()"].used_hnsw += in_tenant(
                query.bench_tenant,
                lambda s=statement, p=params, ef=ef_search: (
                    set_local(hnsw__iterative_scan="relaxed_order", hnsw__ef_search=ef, enable_sort="off"),
                    uses_hnsw(s, p),
                )[1],
            )
    return results


# --- report -------------------------------------------------------------------------------------------


def report_bucket(
    name: str, queries: Sequence[Query], results: dict[str, Measure], index_rows: int
) -> list[str]:
    tenants = {query.bench_tenant.tenant.pk: query.bench_tenant.size for query in queries}
    sizes = sorted(tenants.values())
    path = retrieval.vector_path_for(sizes[0], index_rows).value
    if retrieval.vector_path_for(sizes[-1], index_rows).value != path:
        path = "exact/hnsw (by size)"
    lines = [
        f"**{name}**: {len(tenants)} tenants of {sizes[0]:,} to {sizes[-1]:,} chunks, {len(queries)} queries;"
        f" search() path: {path}",
        "",
        "| configuration | recall@10 | p50 ms | p95 ms | short | HNSW in plan |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {config} | {measure.row()} |" for config, measure in results.items()]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100, help="queries per size bucket")
    parser.add_argument("--builds", type=int, default=1, help="HNSW builds to measure (graphs differ)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    harness.interrupt_on_signals()  # the scratch database is dropped on SIGTERM and Ctrl-C too
    rng = np.random.default_rng(args.seed)
    log: dict[str, float] = {}
    started = time.perf_counter()
    print(f"# retrieval benchmark: {args.rows:,} chunks, {TENANTS} tenants", flush=True)
    with harness.scratch_database(DATABASE, keep=args.keep):
        with timed("migrate", log):
            call_command("migrate", verbosity=0)
        sizes = zipf_sizes(args.rows)
        world = make_tenants(sizes, rng)
        definitions = load(world, rng, log)
        build_indexes(definitions, log, args.rows)
        sizes_on_disk = sizes_report()

        query_rng = np.random.default_rng(args.seed + 1)
        buckets = [
            (name, bucket_queries(world, low, high, args.queries, query_rng)) for name, low, high in BUCKETS
        ]
        output: list[str] = []
        per_build: list[dict[str, dict[str, float]]] = []
        for build in range(args.builds):
            if build:
                rebuild_hnsw(definitions, log, f"HNSW build {build + 1}", args.rows)
            recalls: dict[str, dict[str, float]] = {}
            for name, queries in buckets:
                if not queries:
                    continue
                print(f"  measuring {name} (build {build + 1})", flush=True)
                results = measure_bucket(
                    queries, sweep=build == 0 and name not in ("small (<1k)",), index_rows=args.rows
                )
                if build == 0:
                    output += report_bucket(name, queries, results, args.rows)
                recalls[name] = {
                    config: statistics.fmean(measure.recalls) for config, measure in results.items()
                }
            per_build.append(recalls)

        counts = {name: sum(low <= size <= high for size in sizes) for name, low, high in BUCKETS}
        print()
        print(f"## {args.rows:,} chunks")
        print()
        print(f"Tenant sizes: largest {max(sizes):,}, smallest {min(sizes):,}; tenants per bucket: {counts}")
        print(f"Timings (s): { {key: round(value, 1) for key, value in log.items()} }")
        print(f"Sizes: {sizes_on_disk}")
        print(
            f"search() constants: EXACT_SCAN_MAX_ROWS={retrieval.EXACT_SCAN_MAX_ROWS},"
            f" SELECTIVE_SCAN_MAX_ROWS={retrieval.SELECTIVE_SCAN_MAX_ROWS},"
            f" HNSW_MIN_SCOPE_SHARE={retrieval.HNSW_MIN_SCOPE_SHARE},"
            f" HNSW_EF_SEARCH={retrieval.HNSW_EF_SEARCH}, candidates={retrieval.hnsw_candidates(TOP_K)}"
        )
        print()
        print("\n".join(output))
        if args.builds > 1:
            print("Recall@10 per HNSW build (spread between builds of the same data):")
            print()
            configs = ["search()", "plain HNSW (defaults)", "iterative HNSW ef 200, 40 candidates"]
            print(
                "| bucket | configuration | "
                + " | ".join(f"build {n + 1}" for n in range(args.builds))
                + " |"
            )
            print("| --- | --- |" + " --- |" * args.builds)
            for name, _, _ in BUCKETS:
                for config in configs:
                    values = [build.get(name, {}).get(config) for build in per_build]
                    if all(value is not None for value in values):
                        print(
                            f"| {name} | {config} | " + " | ".join(f"{value:.3f}" for value in values) + " |"
                        )
            print()
        print(f"Total run time: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
