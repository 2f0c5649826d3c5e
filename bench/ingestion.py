"""Benchmark the ingestion pipeline end to end against its parse-only and embed-only parts, in one run.

    .venv/bin/python bench/ingestion.py                    # 20 PDFs of 10 pages + 6 DOCX/HTML/Markdown
    .venv/bin/python bench/ingestion.py --passive-worker   # and a second worker with OMP_WAIT_POLICY=PASSIVE
    .venv/bin/python bench/ingestion.py --quick            # 5 small documents, once: checks the script
    .venv/bin/python bench/ingestion.py --box              # the parse box: with and without, the PDF bomb

It measures issue 4's acceptance: ingestion pages (and chunks) per second end to end against parse-only
and embed-only, on the same documents in the same run; the ratio is the pipeline's overhead. The corpus
is support documentation generated from a fixed seed (bench/ingestion_corpus.py: PDFs of 250-400 words
a page with chapter and section headings in their outline, plus Word, HTML and Markdown documents).
The modes:

- ``parse``: ``knowledge.ingestion.sniff.sniff`` + ``knowledge.ingestion.parse.parse`` of each file in
  this process, then ``knowledge.ingestion.chunk.chunk`` with the chunk size and overlap the pipeline
  uses for the knowledge base (``pipeline.chunk_size_for``: min(400, 256 - 32) = 224, overlap 60 for
  the built-in model), timed separately.
- ``embed``: ``providers.adapters.local.embed_texts`` on exactly the texts the pipeline embeds
  (``pipeline.embedding_text(draft)`` of those drafts), per document in batches of
  ``settings.KNOWLEDGE_EMBED_BATCH_SIZE``, as ``pipeline._embed`` batches them. No database.
- ``worker``: the product path. A fresh knowledge base of a real tenant in a scratch database
  (``bench_ingestion``: created with the application role, migrated, dropped at the end); the slice's
  files go in through ``knowledge.services.document_upload`` inside one transaction, whose commit
  enqueues the ``ingest_document`` tasks on this script's own queue; a real Celery worker process
  (``celery -A config worker --pool=solo -Q <queue>``, started as tests/conftest.py's
  ``start_worker`` starts one, on the scratch database) ingests them. Timed from the first enqueue
  until the last document is ready (its ``ingested_at``); the worker's task run times come from its
  log, its CPU time from /proc.
- ``in-process``: the same uploads (their tasks captured instead of sent), then
  ``knowledge.pipeline.ingest`` for each document in this process: no broker, no worker. Its service,
  gateway and model calls are timed by wrappers, which says where the time goes.
- ``worker, passive OpenMP`` (with ``--passive-worker``): a second worker, on its own queue, started
  with ``OMP_WAIT_POLICY=PASSIVE``: its idle OpenMP threads sleep instead of spinning.

This process runs every model call in a new, short-lived thread, as the pipeline does
(``asyncio.to_thread`` inside the event loop ``async_to_sync`` makes for each call) and as the worker
does. That is not a detail: libgomp (PyTorch's OpenMP) lets idle threads spin-wait for new work, and
spins far less once a process holds more OpenMP threads than CPUs. A main thread that has run the model
once keeps its OpenMP pool for good, and every later call from another thread then runs with throttled
spinning: on this shared 2-core machine that did 12 chunks per CPU-second where the worker did 7, and
made the in-process pipeline look 1.6-1.9x faster than embedding alone. Keeping the main thread off the
model gives every mode the worker's OpenMP behaviour; ``--passive-worker`` measures what spinning costs.

Load from other processes on a shared machine must fall on all modes alike, so the corpus is cut into
slices (by default one document each; ``--slices N`` deals the documents round-robin into N) and each
slice runs through the modes back to back, the order rotating from slice to slice; a repetition is one
pass over all slices, and a mode's time in it is the sum over the slices. Best and median over the
repetitions are reported, and every ratio is also taken slice by slice (its median is the estimate
that load swings disturb least). This process and the workers warm up first (model loaded, one
document each); the cold first document is reported on its own. Output is Markdown; the results are
in bench/RESULTS.md.

The workers, their queues and the scratch database are removed on exit, on Ctrl-C and on errors; a
worker also gets SIGTERM if this process is killed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness and ingestion_corpus, beside this file
import harness
from harness import ROOT, CeleryWorker, fmt, load_average

harness.no_downloads()
# This process enqueues on its own queue, consumed only by the worker it starts (as the test suite does).
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"groundwork-bench-ingestion-{os.getpid()}"
harness.setup_django()

from asgiref.sync import async_to_sync  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from ingestion_corpus import CorpusFile, make_corpus, pdf_document  # noqa: E402

from config.celery import app as celery_app  # noqa: E402
from knowledge import pipeline, services, tasks  # noqa: E402
from knowledge.ingestion import ChunkDraft, IngestionError, ParsedDocument, box  # noqa: E402
from knowledge.ingestion.chunk import chunk as chunk_document  # noqa: E402
from knowledge.ingestion.parse import parse  # noqa: E402
from knowledge.ingestion.sniff import sniff  # noqa: E402
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase  # noqa: E402
from providers import gateway  # noqa: E402
from providers.adapters import local  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Role, User  # noqa: E402

QUEUE = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
DATABASE = "bench_ingestion"
MODEL_REF = "local:all-MiniLM-L6-v2"
SEED = 20_261_129
MODES = ("parse", "embed", "worker", "in-process")
PASSIVE = "worker, passive OpenMP"
OPENMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
T = TypeVar("T")
WAIT_SECONDS = 1800  # for the worker to finish one slice before the run is declared stuck
POLL_SECONDS = 0.2
PACKAGES = ("torch", "sentence-transformers", "pypdfium2", "celery", "django")


# --- the worker's log --------------------------------------------------------------------------------

TASK_DONE = re.compile(r"Task knowledge\.ingest_document\[[^\]]+\] succeeded in ([0-9.]+)s")


def task_seconds_since(worker: CeleryWorker, offset: int) -> list[float]:
    """Run times of the ingest tasks the worker logged after byte ``offset`` of its log."""
    with worker.log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return [float(value) for value in TASK_DONE.findall(text)]


# --- tenant, knowledge bases, uploads ---------------------------------------------------------------


@dataclass
class Setup:
    actor: Actor
    chunk_size: int
    overlap: int


def make_setup() -> Setup:
    owner = User.objects.create_user(email=f"bench-{uuid.uuid4().hex[:8]}@example.test")
    tenant = tenant_services.tenant_create(name="Ingestion bench", owner=owner)
    actor = Actor(tenant=tenant, role=Role.OWNER, user=owner)
    base = new_knowledge_base(actor, "chunk settings")
    # The pipeline's own rule: the knowledge base's size capped to what the model reads, minus headings.
    job = services.IngestJob(
        tenant_id=tenant.pk,
        document_id=uuid.uuid4(),
        knowledge_base_id=base.pk,
        version=1,
        source_type="file",
        source_url="",
        source_text="",
        original_filename="",
        content_type="",
        crawl_max_pages=None,
        chunk_size_tokens=base.chunk_size_tokens,
        chunk_overlap_tokens=base.chunk_overlap_tokens,
        targets=services._targets(base),
        reindex_only=False,
    )
    size, overlap = pipeline.chunk_size_for(job)
    return Setup(actor=actor, chunk_size=size, overlap=overlap)


def new_knowledge_base(actor: Actor, label: str) -> KnowledgeBase:
    base = services.knowledge_base_create(
        actor=actor, name=f"Bench {label} {uuid.uuid4().hex[:6]}", embedding_model=MODEL_REF
    )
    assert base.embedding_model == MODEL_REF
    return base


def upload_all(
    setup: Setup, base: KnowledgeBase, files: Sequence[CorpusFile], on_first_enqueue: Callable[[], None]
) -> list[uuid.UUID]:
    """Upload every file in one transaction: its commit enqueues the tasks, ``on_first_enqueue`` first."""
    with transaction.atomic():
        transaction.on_commit(on_first_enqueue)  # on_commit callbacks run in the order they were added
        return [
            services.document_upload(
                actor=setup.actor, knowledge_base_id=base.pk, filename=item.filename, content=item.data
            ).pk
            for item in files
        ]


@dataclass
class Documents:
    """What the pipeline stored for one mode's documents."""

    pages: int
    chunks: int
    tokens: int
    stage_seconds: dict[str, float]
    first_enqueue: float
    last_ready: float


def settled(setup: Setup, base: KnowledgeBase, expected: int) -> list[Document] | None:
    with tenant_context(setup.actor.tenant.pk):
        documents = list(Document.objects.filter(knowledge_base=base))
    failed = [document for document in documents if document.status == DocumentStatus.FAILED]
    if failed:
        reasons = "; ".join(f"{document.title}: {document.failure_reason}" for document in failed[:3])
        raise RuntimeError(f"{len(failed)} documents failed: {reasons}")
    if len(documents) == expected and all(document.status == DocumentStatus.READY for document in documents):
        return documents
    return None


def summarise(documents: Sequence[Document], first_enqueue: float) -> Documents:
    stage_seconds: dict[str, float] = defaultdict(float)
    for document in documents:
        for stage, state in (document.progress or {}).get("stages", {}).items():
            stage_seconds[stage] += float(state.get("seconds", 0.0))
    last = max(document.ingested_at for document in documents if document.ingested_at is not None)
    return Documents(
        pages=sum(document.pages for document in documents),
        chunks=sum(document.chunk_count for document in documents),
        tokens=sum(document.token_count for document in documents),
        stage_seconds=dict(stage_seconds),
        first_enqueue=first_enqueue,
        last_ready=last.timestamp(),
    )


# --- measurements -----------------------------------------------------------------------------------


@dataclass
class Parsed:
    name: str
    document: ParsedDocument
    drafts: list[ChunkDraft]


@dataclass
class Measurement:
    """One mode over some documents: seconds, CPU seconds, what it made, and named parts (summable)."""

    mode: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    documents: int = 0
    pages: int = 0
    chunks: int = 0
    detail: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, other: Measurement) -> None:
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        self.documents += other.documents
        self.pages += other.pages
        self.chunks += other.chunks
        for key, value in other.detail.items():
            self.detail[key] = self.detail.get(key, 0.0) + value
        for key, count in other.calls.items():
            self.calls[key] = self.calls.get(key, 0) + count


def measure_parse(files: Sequence[CorpusFile], setup: Setup) -> tuple[Measurement, list[Parsed]]:
    parsed: list[Parsed] = []
    parse_seconds = chunk_seconds = 0.0
    cpu = time.process_time()
    for item in files:
        started = time.perf_counter()
        kind = sniff(item.data, filename=item.filename)
        document = parse(item.data, kind=kind)
        middle = time.perf_counter()
        drafts = chunk_document(document, size_tokens=setup.chunk_size, overlap_tokens=setup.overlap)
        chunk_seconds += time.perf_counter() - middle
        parse_seconds += middle - started
        parsed.append(Parsed(item.filename, document, drafts))
    measurement = Measurement(
        mode="parse",
        seconds=parse_seconds + chunk_seconds,
        cpu_seconds=time.process_time() - cpu,
        documents=len(files),
        pages=sum(item.document.pages for item in parsed),
        chunks=sum(len(item.drafts) for item in parsed),
        detail={"sniff + parse": parse_seconds, "chunk": chunk_seconds},
    )
    return measurement, parsed


def batches_of(parsed: Sequence[Parsed]) -> list[list[str]]:
    """The texts of each embedding call the pipeline makes: per document, KNOWLEDGE_EMBED_BATCH_SIZE each."""
    size = settings.KNOWLEDGE_EMBED_BATCH_SIZE
    result = []
    for item in parsed:
        texts = [pipeline.embedding_text(draft) for draft in item.drafts]
        result += [texts[start : start + size] for start in range(0, len(texts), size)]
    return result


def in_fresh_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a new thread that ends with it, as the pipeline calls the model (see the
    module's docstring for why this process's main thread never runs it)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(function(*args))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def measure_embed(parsed: Sequence[Parsed]) -> tuple[Measurement, list[list[float]]]:
    batches = batches_of(parsed)
    vectors: list[list[float]] = []
    cpu = time.process_time()
    started = time.perf_counter()
    for batch in batches:
        vectors += in_fresh_thread(local.embed_texts, batch)
    seconds = time.perf_counter() - started
    measurement = Measurement(
        mode="embed",
        seconds=seconds,
        cpu_seconds=time.process_time() - cpu,
        documents=len(parsed),
        pages=sum(item.document.pages for item in parsed),
        chunks=len(vectors),
        calls={"embedding calls": len(batches)},
    )
    return measurement, vectors


def measure_worker(
    setup: Setup, files: Sequence[CorpusFile], worker: CeleryWorker, label: str, mode: str = "worker"
) -> Measurement:
    base = new_knowledge_base(setup.actor, label)
    marks: dict[str, float] = {}
    offset = worker.log_path.stat().st_size
    cpu = worker.cpu_seconds()

    def first_enqueue() -> None:
        marks["wall"] = time.time()
        marks["perf"] = time.perf_counter()

    def send(*arguments: str) -> None:
        tasks.ingest_document.apply_async(arguments, queue=worker.queue)

    uploading = time.perf_counter()
    with mock.patch.object(tasks.ingest_document, "delay", send):  # to this worker's queue
        document_ids = upload_all(setup, base, files, first_enqueue)
    upload_seconds = marks["perf"] - uploading
    deadline = time.monotonic() + WAIT_SECONDS
    while (documents := settled(setup, base, len(document_ids))) is None:
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited; see {worker.log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"documents not ready after {WAIT_SECONDS} s; see {worker.log_path}")
        time.sleep(POLL_SECONDS)
    stored = summarise(documents, marks["wall"])
    # The worker logs a task a moment after storing its document: wait for the last line.
    task_seconds = task_seconds_since(worker, offset)
    for _ in range(50):
        if len(task_seconds) >= len(document_ids):
            break
        time.sleep(0.1)
        task_seconds = task_seconds_since(worker, offset)
    return Measurement(
        mode=mode,
        seconds=stored.last_ready - stored.first_enqueue,
        cpu_seconds=worker.cpu_seconds() - cpu,
        documents=len(document_ids),
        pages=stored.pages,
        chunks=stored.chunks,
        detail={
            **{f"stage {stage}": seconds for stage, seconds in stored.stage_seconds.items()},
            "task run time": sum(task_seconds),
            "uploads before the first enqueue": upload_seconds,
        },
        calls={"tasks logged": len(task_seconds)},
    )


class Stopwatch:
    """Time spent in (and calls of) wrapped functions, by label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        return timed


# What the in-process mode times inside pipeline.ingest: (label, module, attribute). The pipeline calls
# each through its module's global, so replacing the attribute times every call.
INSTRUMENTED: tuple[harness.Step, ...] = (
    ("claim", services, "document_claim"),
    ("read source bytes", services, "document_source_bytes"),
    ("progress writes", services, "document_record_progress"),
    ("parse", pipeline, "parse"),
    ("chunk", pipeline, "chunk"),
    ("model window lookup", pipeline, "embedding_window"),
    ("embed call", pipeline, "_embed_batch"),
    ("model", local, "_encode"),
    ("store", services, "document_store"),
)


def measure_in_process(setup: Setup, files: Sequence[CorpusFile], label: str) -> Measurement:
    base = new_knowledge_base(setup.actor, label)
    queued: list[tuple[str, str]] = []
    # The uploads' commit would send the tasks to the worker: here they are collected and run in order.
    with mock.patch.object(tasks.ingest_document, "delay", lambda *args: queued.append(args)):
        upload_all(setup, base, files, lambda: None)
    assert len(queued) == len(files), f"{len(queued)} tasks captured for {len(files)} uploads"
    stopwatch = Stopwatch()
    cpu = time.process_time()
    wall = time.time()
    started = time.perf_counter()
    with harness.wrapped(INSTRUMENTED, stopwatch.wrap):
        for tenant_id, document_id in queued:
            outcome = pipeline.ingest(tenant_id=tenant_id, document_id=document_id)
            if outcome != "ready":
                raise RuntimeError(f"document {document_id}: {outcome}")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    documents = settled(setup, base, len(files))
    assert documents is not None
    stored = summarise(documents, wall)
    return Measurement(
        mode="in-process",
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        documents=len(files),
        pages=stored.pages,
        chunks=stored.chunks,
        detail={
            **{f"stage {stage}": value for stage, value in stored.stage_seconds.items()},
            **{f"call {name}": value for name, value in stopwatch.seconds.items()},
        },
        calls=dict(stopwatch.calls),
    )


def gateway_call_overhead(setup: Setup, calls: int) -> float:
    """Median seconds of one gateway.embed call with no text: model resolution, metering, event loop."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        async_to_sync(gateway.embed)(tenant_id=setup.actor.tenant.pk, model_ref=MODEL_REF, texts=[])
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def tokenizer_prepass_seconds(parsed: Sequence[Parsed]) -> float:
    """The adapter's own tokenizer pass that counts word pieces for metering, before encode()."""
    model = local.EMBEDDER.get()
    started = time.perf_counter()
    for batch in batches_of(parsed):
        model.tokenizer(batch, truncation=True, max_length=model.max_seq_length)
    return time.perf_counter() - started


def stored_vectors_match(setup: Setup, first: Parsed, vectors: Sequence[list[float]]) -> float:
    """Smallest cosine between a document's stored vectors (every copy) and embed-only's."""
    with tenant_context(setup.actor.tenant.pk):
        stored = list(
            Chunk.objects.filter(document__original_filename=first.name)
            .order_by("document_id", "position")
            .values_list("position", "embedding_384")
        )
    assert stored and len(stored) % len(first.drafts) == 0
    return min(
        float(sum(a * b for a, b in zip(vector, vectors[position], strict=True)))
        for position, vector in stored
    )


# --- report -----------------------------------------------------------------------------------------


def machine() -> list[str]:
    import torch

    postgres, pgvector = harness.postgres_versions()
    return [
        f"- CPU: {harness.cpu_model()}, {os.cpu_count()} cores; torch threads {torch.get_num_threads()}"
        " (this process; the worker keeps the same default); "
        + ", ".join(f"{name}={os.environ.get(name, 'unset')}" for name in OPENMP_VARIABLES),
        f"- {harness.versions(PACKAGES)}, PostgreSQL {postgres}, pgvector {pgvector}",
        f"- KNOWLEDGE_EMBED_BATCH_SIZE={settings.KNOWLEDGE_EMBED_BATCH_SIZE},"
        f" adapter BATCH_SIZE={local.BATCH_SIZE},"
        f" CONN_MAX_AGE={settings.DATABASES['default']['CONN_MAX_AGE']}",
    ]


def spread(values: Sequence[float]) -> str:
    """'median (min-max)' of ratios."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


RATIOS = (
    ("worker / embed-only", "worker", ("embed",)),
    ("worker / parse-only (sniff + parse + chunk)", "worker", ("parse",)),
    ("worker / (parse-only + embed-only)", "worker", ("parse", "embed")),
    ("in-process / embed-only", "in-process", ("embed",)),
    ("in-process / (parse-only + embed-only)", "in-process", ("parse", "embed")),
    ("worker / in-process", "worker", ("in-process",)),
)


def ratio(measured: dict[str, Measurement], numerator: str, denominator: Sequence[str]) -> float:
    return measured[numerator].seconds / sum(measured[mode].seconds for mode in denominator)


def by_load(slices: list[dict[str, Measurement]], ratios: Sequence[tuple[str, str, tuple[str, ...]]]) -> None:
    """The ratios over the slices grouped by how fast embed-only ran in them (how busy the machine was)."""
    if len(slices) < 6:
        return
    ranked = sorted(slices, key=lambda measured: measured["embed"].chunks / measured["embed"].seconds)
    third = len(ranked) // 3
    groups = [
        ("busiest third", ranked[:third]),
        ("middle", ranked[third:-third]),
        ("quietest third", ranked[-third:]),
    ]
    print("Slices grouped by embed-only's speed in them (how busy the machine was); ratios of summed times:")
    print()
    print("| slices | embed-only chunks/s | " + " | ".join(label for label, _, _ in ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    for name, group in groups:
        totals: dict[str, Measurement] = defaultdict(lambda: Measurement(""))
        for measured in group:
            for mode, measurement in measured.items():
                totals[mode].add(measurement)
        rates = [measured["embed"].chunks / measured["embed"].seconds for measured in group]
        print(
            f"| {name} ({len(group)}) | {min(rates):.1f}-{max(rates):.1f} | "
            + " | ".join(
                f"{ratio(totals, numerator, denominator):.2f}" for _, numerator, denominator in ratios
            )
            + " |"
        )
    print()


def report(
    modes: Sequence[str],
    runs: dict[str, list[Measurement]],
    slices: list[dict[str, Measurement]],
    *,
    files: Sequence[CorpusFile],
    parsed: Sequence[Parsed],
    setup: Setup,
    slice_count: int,
    loads: list[tuple[str, str]],
    other: dict[str, str],
) -> None:
    kinds = Counter(Path(item.filename).suffix.lstrip(".") for item in files)
    pages = sum(item.document.pages for item in parsed)
    chunks = sum(len(item.drafts) for item in parsed)
    tokens = sum(draft.token_count for item in parsed for draft in item.drafts)
    words = sum(len(section.text.split()) for item in parsed for section in item.document.sections)
    pdf_words = sum(
        len(section.text.split())
        for item in parsed
        if item.document.kind == "pdf"
        for section in item.document.sections
    )
    megabytes = sum(len(item.data) for item in files) / 1e6
    repetitions = len(runs["parse"])
    print("### Corpus")
    print()
    print(
        f"{len(files)} documents ({', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))}),"
        f" {megabytes:.1f} MB: {pages} PDF pages ({pdf_words / max(pages, 1):.0f} words a page after"
        f" cleaning), {words:,} words in all; {chunks:,} chunks of {tokens:,} tokens (mean"
        f" {tokens / chunks:.0f}; chunk size {setup.chunk_size}, overlap {setup.overlap});"
        f" {len(batches_of(parsed))} embedding calls of at most {settings.KNOWLEDGE_EMBED_BATCH_SIZE} texts."
        f" {slice_count} slices a repetition, {repetitions} repetition(s)."
    )
    print()
    print("### Machine")
    print()
    print("\n".join(machine()))
    print("- Load average (1 / 5 / 15 min): " + "; ".join(f"{label} {load}" for label, load in loads))
    print()
    print("### Throughput (wall clock; a repetition's time is the sum over its slices; best (median))")
    print()
    print(
        "| mode | documents | pages | chunks | seconds | pages/s | chunks/s | CPU s of its process"
        " | chunks per CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in modes:
        measured = runs[mode]
        seconds = [item.seconds for item in measured]
        fastest, middle = min(seconds), statistics.median(seconds)
        cpu = statistics.median(item.cpu_seconds for item in measured)
        first = measured[0]
        print(
            f"| {mode} | {first.documents} | {first.pages} | {first.chunks} | {fmt(fastest, 2)}"
            f" ({fmt(middle, 2)}) | {fmt(first.pages / fastest)} ({fmt(first.pages / middle)})"
            f" | {fmt(first.chunks / fastest)} ({fmt(first.chunks / middle)}) | {fmt(cpu, 1)}"
            f" | {fmt(first.chunks / cpu)} |"
        )
    print()
    print("Seconds per repetition:")
    print()
    print("| mode | " + " | ".join(f"rep {index + 1}" for index in range(repetitions)) + " |")
    print("|---|" + "---|" * repetitions)
    for mode in modes:
        print(f"| {mode} | " + " | ".join(fmt(item.seconds, 2) for item in runs[mode]) + " |")
    print()
    print("### Ratios of times (end to end / part; above 1 is overhead)")
    print()
    print("| ratio | per repetition | best rep / median rep | slice by slice: median (min-max) |")
    print("|---|---|---|---|")
    ratios = [*RATIOS, *([(f"{PASSIVE} / worker", PASSIVE, ("worker",))] if PASSIVE in modes else [])]
    for label, numerator, denominator in ratios:
        per_repetition = [
            ratio({mode: runs[mode][index] for mode in modes}, numerator, denominator)
            for index in range(repetitions)
        ]
        per_slice = [ratio(measured, numerator, denominator) for measured in slices]
        print(
            f"| {label} | {', '.join(f'{value:.2f}' for value in per_repetition)}"
            f" | {min(per_repetition):.2f} / {statistics.median(per_repetition):.2f} | {spread(per_slice)} |"
        )
    print()
    # Grouping by embed-only's speed would bias every ratio over embed-only (regression to the mean).
    by_load(slices, [item for item in ratios if not set(item[2]) & {"embed", "parse"}])

    def median_run(mode: str) -> Measurement:
        return sorted(runs[mode], key=lambda item: item.seconds)[(repetitions - 1) // 2]

    print(
        "### Where the time goes (each mode's lower-median repetition, the faster of two; seconds summed"
        " over documents)"
    )
    print()
    parse_run, embed_run = median_run("parse"), median_run("embed")
    print(
        f"- parse-only {fmt(parse_run.seconds, 2)} s: sniff + parse"
        f" {fmt(parse_run.detail['sniff + parse'], 2)} s, chunk {fmt(parse_run.detail['chunk'], 2)} s."
        f" embed-only {fmt(embed_run.seconds, 2)} s in"
        f" {embed_run.calls['embedding calls']} calls."
    )
    for mode in [mode for mode in modes if mode not in ("parse", "embed")]:
        run = median_run(mode)
        stages = {
            key.removeprefix("stage "): value for key, value in run.detail.items() if key.startswith("stage ")
        }
        print(
            f"- {mode} {fmt(run.seconds, 2)} s; its documents' progress records: "
            + ", ".join(f"{stage} {fmt(stages.get(stage, 0.0), 2)} s" for stage in services.STAGES)
            + f" (sum {fmt(sum(stages.values()), 2)} s)."
        )
    worker_run = median_run("worker")
    task_total = worker_run.detail["task run time"]
    print(
        f"- worker: {worker_run.calls['tasks logged']} task run times logged for {worker_run.documents}"
        f" documents, summing to {fmt(task_total, 2)} s; wall minus task run times (broker, queue, between"
        f" tasks) {fmt(worker_run.seconds - task_total, 2)} s. Uploads, before the first enqueue and not"
        f" timed: {fmt(worker_run.detail['uploads before the first enqueue'], 2)} s."
    )
    print()
    run = median_run("in-process")
    calls = {key.removeprefix("call "): value for key, value in run.detail.items() if key.startswith("call ")}
    model = calls.get("model", 0.0)
    rows: list[tuple[str, float, int]] = [
        ("claim (document_claim)", calls.get("claim", 0.0), run.calls.get("claim", 0)),
        (
            "read the uploaded bytes",
            calls.get("read source bytes", 0.0),
            run.calls.get("read source bytes", 0),
        ),
        ("parse", calls.get("parse", 0.0), run.calls.get("parse", 0)),
        ("chunk", calls.get("chunk", 0.0), run.calls.get("chunk", 0)),
        (
            "embedding window lookup (chunk_size_for)",
            calls.get("model window lookup", 0.0),
            run.calls.get("model window lookup", 0),
        ),
        ("model: tokenize + encode (local._encode)", model, run.calls.get("model", 0)),
        (
            "gateway.embed around the model (async_to_sync, resolve, metering)",
            calls.get("embed call", 0.0) - model,
            run.calls.get("embed call", 0),
        ),
        (
            "progress writes (document_record_progress)",
            calls.get("progress writes", 0.0),
            run.calls.get("progress writes", 0),
        ),
        ("store (document_store)", calls.get("store", 0.0), run.calls.get("store", 0)),
    ]
    rows.append(("the rest (hashing, embedding_text, Python)", run.seconds - sum(row[1] for row in rows), 0))
    outside = sum(seconds for label, seconds, _ in rows if not label.startswith(("model:", "parse", "chunk")))
    print(
        f"In-process, timed inside pipeline.ingest ({fmt(run.seconds, 2)} s, {run.documents} documents)."
        f" Everything but the model, parse and chunk: {fmt(outside, 2)} s,"
        f" {outside / run.documents * 1000:.0f} ms a document, {outside / model:.1%} of the model's time:"
    )
    print()
    print("| part | seconds | share | calls | ms per call |")
    print("|---|---|---|---|---|")
    for label, seconds, count in rows:
        per_call = f"{seconds / count * 1000:.1f}" if count else "-"
        print(f"| {label} | {fmt(seconds, 2)} | {seconds / run.seconds:.1%} | {count or '-'} | {per_call} |")
    print()
    print("Other measurements:")
    print()
    for label, value in other.items():
        print(f"- {label}: {value}")
    print()


# --- main -------------------------------------------------------------------------------------------


def run_mode(
    mode: str,
    part: Sequence[CorpusFile],
    parsed_by_name: dict[str, Parsed],
    setup: Setup,
    workers: dict[str, CeleryWorker],
    label: str,
) -> Measurement:
    if mode == "parse":
        measurement, parsed = measure_parse(part, setup)
        for item in parsed:  # the same drafts every time, or the modes would not do the same work
            assert [draft.text for draft in item.drafts] == [
                draft.text for draft in parsed_by_name[item.name].drafts
            ]
        return measurement
    if mode == "embed":
        return measure_embed([parsed_by_name[item.filename] for item in part])[0]
    if mode in workers:
        return measure_worker(setup, part, workers[mode], label, mode)
    return measure_in_process(setup, part, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="2 PDFs of 3 pages + 1 short one of each other kind"
    )
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--pages", type=int, default=10, help="pages per PDF")
    parser.add_argument("--others", type=int, default=2, help="how many each of DOCX, HTML and Markdown")
    parser.add_argument("--other-pages", type=int, default=3, help="pages' worth of text in each of those")
    parser.add_argument(
        "--slices", type=int, default=0, help="slices a repetition (modes interleaved); 0: one per document"
    )
    parser.add_argument("--repeat", type=int, default=2, help="repetitions over the whole corpus")
    parser.add_argument(
        "--passive-worker",
        action="store_true",
        help="also a second worker with OMP_WAIT_POLICY=PASSIVE, interleaved with the others",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-log", action="store_true", help="keep the workers' logs (kept on error)")
    parser.add_argument(
        "--box",
        action="store_true",
        help="the parse box instead: parse and ingest with and without it, and the PDF bomb before/after",
    )
    args = parser.parse_args()
    if args.quick:
        args.pdfs, args.pages, args.others, args.other_pages, args.repeat = 2, 3, 1, 1, 1
    if args.box:
        box_main(args)
        return
    modes = (*MODES, PASSIVE) if args.passive_worker else MODES

    harness.interrupt_on_signals()
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
    celery_app.conf.task_default_queue = QUEUE
    started = time.perf_counter()
    workers: dict[str, CeleryWorker] = {}
    slicing = f"{args.slices} slices" if args.slices else "slices of one document"
    print(
        f"# ingestion benchmark: {args.pdfs} PDFs x {args.pages} pages + {args.others} each of DOCX/HTML/"
        f"Markdown ({args.other_pages} pages' worth); {slicing}, {args.repeat} repetition(s);"
        f" modes {', '.join(modes)}",
        flush=True,
    )
    # Undone in reverse at the end, on errors, on Ctrl-C and on SIGTERM: the workers stop and their queues
    # go, the scratch database goes, then the logs (kept with --keep-log or when the run did not finish).
    with ExitStack() as stack:
        log_dir = stack.enter_context(
            harness.log_directory("bench-ingestion-", keep=args.keep_log, what="worker logs")
        )
        stack.enter_context(harness.scratch_database(DATABASE))
        call_command("migrate", verbosity=0)
        # The workers start while the corpus is made and the model loads here.
        workers["worker"] = stack.enter_context(harness.start_celery_worker(QUEUE, log_dir))
        if args.passive_worker:
            passive = harness.start_celery_worker(f"{QUEUE}-passive", log_dir, OMP_WAIT_POLICY="PASSIVE")
            workers[PASSIVE] = stack.enter_context(passive)
        setup = make_setup()
        files = make_corpus(
            pdfs=args.pdfs, pages=args.pages, others=args.others, other_pages=args.other_pages, seed=args.seed
        )
        slice_count = args.slices or len(files)
        slices = [files[index::slice_count] for index in range(slice_count)]
        print(
            f"  corpus: {len(files)} files, {sum(len(item.data) for item in files) / 1e6:.1f} MB", flush=True
        )

        # Warm-up, untimed: this process loads the model and parses everything once (the drafts every
        # mode works from); each worker ingests one small document.
        other: dict[str, str] = {}
        clock = time.perf_counter()
        in_fresh_thread(local.embed_texts, ["warm-up"])
        other["model load + first call in this process"] = f"{time.perf_counter() - clock:.1f} s"
        _, parsed = measure_parse(files, setup)
        parsed_by_name = {item.name: item for item in parsed}
        warm_up = [CorpusFile("warm-up.pdf", pdf_document(random.Random(1), "Troubleshooting", 2, 0))]  # noqa: S311
        for mode, worker in workers.items():
            harness.wait_for_celery_worker(worker)
            cold = measure_worker(setup, warm_up, worker, f"warm-up {mode}")
            other[f"{mode}: first document (2 pages, {cold.chunks} chunks), enqueue to ready, model load"] = (
                f"{cold.seconds:.1f} s"
            )
        other["gateway.embed with no text (resolve + metering + event loop), median of 20"] = (
            f"{gateway_call_overhead(setup, 20) * 1000:.1f} ms"
        )

        runs: dict[str, list[Measurement]] = {mode: [] for mode in modes}
        per_slice: list[dict[str, Measurement]] = []
        loads = [("before", load_average())]
        step = 0
        for repetition in range(args.repeat):
            totals = {mode: Measurement(mode) for mode in modes}
            for index, part in enumerate(slices):
                shift = step % len(modes)  # each mode takes each place in the order equally often
                order = modes[shift:] + modes[:shift]
                step += 1
                measured: dict[str, Measurement] = {}
                for mode in order:
                    label = f"{mode} {repetition + 1}.{index + 1}"
                    measured[mode] = run_mode(mode, part, parsed_by_name, setup, workers, label)
                    totals[mode].add(measured[mode])
                per_slice.append(measured)
                print(
                    f"  repetition {repetition + 1}, slice {index + 1}/{len(slices)}: "
                    + ", ".join(f"{mode} {measured[mode].seconds:.2f} s" for mode in order)
                    + f"; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            for mode in modes:
                runs[mode].append(totals[mode])
            loads.append((f"after repetition {repetition + 1}", load_average()))

        expected = sum(len(item.drafts) for item in parsed)
        for mode in modes:
            for measurement in runs[mode]:
                if measurement.chunks != expected:
                    raise RuntimeError(f"{mode} made {measurement.chunks} chunks; the parse made {expected}")
        other["the adapter's tokenizer pass (counts tokens for metering) over all embedding calls"] = (
            f"{tokenizer_prepass_seconds(parsed):.2f} s"
        )
        first_vectors = measure_embed(parsed[:1])[1]
        other[
            "smallest cosine between stored vectors (every copy of the first document) and embed-only's"
        ] = f"{stored_vectors_match(setup, parsed[0], first_vectors):.6f}"
        print()
        report(
            modes,
            runs,
            per_slice,
            files=files,
            parsed=parsed,
            setup=setup,
            slice_count=len(slices),
            loads=loads,
            other=other,
        )
        print(f"Total run time: {(time.perf_counter() - started) / 60:.1f} min")


# --- the parse box (--box): with and without it, and the PDF bomb before and after ---------------------

BOX_MODES = ("parse", "parse, boxed", "parse, fresh interpreter", "ingest", "ingest, boxed")
# The pipeline's chunking for the built-in model (pipeline.chunk_size_for: min(400, 256 - 32), overlap 60).
BOX_CHUNK_SIZE, BOX_OVERLAP = 224, 60
UNBOXED_BOMB_MEMORY_BYTES = 6 * 1024**3  # the "before" run's own cap, so it cannot take the machine down
UNBOXED_BOMB_SECONDS = 150
# One document parsed in a new interpreter (the alternative to the zygote): stdin in, JSON out, with the
# box's limits set before the parser modules are imported.
FRESH_INTERPRETER_SCRIPT = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from knowledge.ingestion.box import document_to_plain
from knowledge.ingestion.parse import parse
print(json.dumps(document_to_plain(parse(sys.stdin.buffer.read(), kind=sys.argv[2]))))
"""
# The bomb parsed in this interpreter's way, without a box, in a child: what a worker did before.
UNBOXED_BOMB_SCRIPT = """
import sys, time
from knowledge.ingestion.parse import parse
started = time.monotonic()
try:
    parse(open(sys.argv[1], "rb").read(), kind="pdf")
    print("parsed", flush=True)
except Exception as error:
    print(f"{type(error).__name__}: {error}", flush=True)
"""


def parse_fresh_interpreter(data: bytes, kind: str) -> ParsedDocument:
    limit = str(settings.INGESTION_BOX_MEMORY_BYTES)
    done = subprocess.run(  # noqa: S603 -- our own interpreter and script
        [sys.executable, "-c", FRESH_INTERPRETER_SCRIPT, limit, kind],
        input=data,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return box.document_from_plain(json.loads(done.stdout))


def measure_box_mode(mode: str, item: CorpusFile) -> Measurement:
    cpu = time.process_time()
    started = time.perf_counter()
    kind = sniff(item.data, filename=item.filename)
    if mode.endswith("boxed"):
        document = box.parse_in_box(item.data, kind=kind)
    elif mode.endswith("fresh interpreter"):
        document = parse_fresh_interpreter(item.data, kind)
    else:
        document = parse(item.data, kind=kind)
    parsed_at = time.perf_counter()
    chunks = 0
    if mode.startswith("ingest"):
        drafts = chunk_document(document, size_tokens=BOX_CHUNK_SIZE, overlap_tokens=BOX_OVERLAP)
        texts = [pipeline.embedding_text(draft) for draft in drafts]
        size = settings.KNOWLEDGE_EMBED_BATCH_SIZE
        for start in range(0, len(texts), size):
            in_fresh_thread(local.embed_texts, texts[start : start + size])
        chunks = len(drafts)
    return Measurement(
        mode=mode,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu,
        documents=1,
        pages=document.pages,
        chunks=chunks,
        detail={"parse": parsed_at - started},
    )


def bomb_unboxed(path: Path) -> dict[str, Any]:
    """The bomb parsed as before (in the process, no box) in a child capped at 6 GB and 150 s."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (UNBOXED_BOMB_MEMORY_BYTES, UNBOXED_BOMB_MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    started = time.monotonic()
    child = subprocess.Popen(  # noqa: S603 -- our own interpreter and script
        [sys.executable, "-c", UNBOXED_BOMB_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        preexec_fn=cap,  # the cap is set in the child before it runs the parser
    )
    killed = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > UNBOXED_BOMB_SECONDS:
            child.kill()
            killed = True
        time.sleep(0.05)
    seconds = time.monotonic() - started
    assert child.stdout is not None
    said = child.stdout.read().decode(errors="replace").strip()
    if killed:
        ended = f"killed by the bench's {UNBOXED_BOMB_SECONDS} s cap"
    elif os.WIFSIGNALED(status):
        ended = f"died of signal {signal.Signals(os.WTERMSIG(status)).name} (an allocation past the 6 GB cap)"
    else:
        ended = said or f"exit status {os.WEXITSTATUS(status)}"
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024, "ended": ended}


def bomb_boxed(data: bytes) -> dict[str, Any]:
    reports: list[dict[str, Any]] = []
    outcome = box._outcome

    def keep_report(report: dict[str, Any], answer: bytes, **kwargs: Any) -> Any:
        reports.append(report)
        return outcome(report, answer, **kwargs)

    started = time.monotonic()
    with mock.patch.object(box, "_outcome", side_effect=keep_report):
        try:
            box.parse_in_box(data, kind="pdf")
            ended = "parsed"
        except IngestionError as error:
            ended = f"failed: “{error.message}”"
    return {
        "seconds": time.monotonic() - started,
        "peak_rss_bytes": reports[0]["peak_rss_bytes"],
        "ended": ended,
    }


def box_main(args: argparse.Namespace) -> None:
    """``--box``: the corpus through each of BOX_MODES, document by document with the order rotating,
    then the 1 GB-inflating PDF before (unboxed, in a capped child) and after (boxed)."""
    from tests.knowledge.hostile_corpus import inflating_pdf

    files = make_corpus(
        pdfs=args.pdfs, pages=args.pages, others=args.others, other_pages=args.other_pages, seed=args.seed
    )
    print(
        f"# parse box benchmark: {len(files)} files ({args.pdfs} PDFs x {args.pages} pages + "
        f"{args.others} each of DOCX/HTML/Markdown), {args.repeat} repetition(s); "
        f"modes {', '.join(BOX_MODES)}",
        flush=True,
    )
    print(f"  load before: {load_average()}", flush=True)
    in_fresh_thread(local.embed_texts, ["warm-up"])
    for mode in BOX_MODES:  # warm-up, untimed: the zygote starts, the model and the parsers load
        measure_box_mode(mode, files[0])
    totals: dict[str, list[Measurement]] = {mode: [] for mode in BOX_MODES}
    ratios: dict[str, list[float]] = defaultdict(list)
    step = 0
    for repetition in range(args.repeat):
        run = {mode: Measurement(mode) for mode in BOX_MODES}
        for item in files:
            shift = step % len(BOX_MODES)
            step += 1
            measured = {}
            for mode in BOX_MODES[shift:] + BOX_MODES[:shift]:
                measured[mode] = measure_box_mode(mode, item)
                run[mode].add(measured[mode])
            for mode, baseline in (
                ("parse, boxed", "parse"),
                ("parse, fresh interpreter", "parse"),
                ("ingest, boxed", "ingest"),
            ):
                ratios[mode].append(measured[mode].seconds / measured[baseline].seconds)
        for mode in BOX_MODES:
            totals[mode].append(run[mode])
        print(f"  repetition {repetition + 1} done; load {load_average()}", flush=True)
    load_after = load_average()

    print(
        "\n| mode | pages/s (median of runs) | documents/s | s per document | overhead vs unboxed (total) "
        "| overhead (median per document) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for mode in BOX_MODES:
        seconds = statistics.median(run.seconds for run in totals[mode])
        pages = totals[mode][0].pages
        baseline = "ingest" if mode.startswith("ingest") else "parse"
        base_seconds = statistics.median(run.seconds for run in totals[baseline])
        total_overhead = "" if mode == baseline else f"{(seconds / base_seconds - 1) * 100:+.1f} %"
        per_document = "" if mode == baseline else f"{(statistics.median(ratios[mode]) - 1) * 100:+.1f} %"
        print(
            f"| {mode} | {fmt(pages / seconds)} | {fmt(len(files) / seconds, 2)} | "
            f"{seconds / len(files) * 1000:.0f} ms | {total_overhead} | {per_document} |"
        )
    print(f"\nload before / after the modes: see above / {load_after}")

    print("\n# the 1 GB-inflating PDF", flush=True)
    bomb = inflating_pdf()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as spooled:
        spooled.write(bomb)
        spooled.flush()
        load_before = load_average()
        before = bomb_unboxed(Path(spooled.name))
    load_between = load_average()
    after = bomb_boxed(bomb)
    limit = settings.INGESTION_BOX_MEMORY_BYTES / 2**20
    print(f"  file: {len(bomb) / 1e6:.1f} MB; box memory limit {limit:.0f} MB")
    print("| run | peak RSS | time | how it ended | load (1/5/15) |")
    print("| --- | ---: | ---: | --- | --- |")
    print('| issue 13\'s report (worker, no cap) | 21 GB | 103 s | "no text we can read" | — |')
    print(
        f"| before: in process, no box (child capped at 6 GB, {UNBOXED_BOMB_SECONDS} s) | "
        f"{before['peak_rss_bytes'] / 2**30:.2f} GB | {before['seconds']:.1f} s | {before['ended']} | "
        f"{load_before} |"
    )
    print(
        f"| after: boxed | {after['peak_rss_bytes'] / 2**20:.0f} MB | {after['seconds']:.1f} s | "
        f"{after['ended']} | {load_between} |"
    )
    box.stop_zygote()


if __name__ == "__main__":
    main()
