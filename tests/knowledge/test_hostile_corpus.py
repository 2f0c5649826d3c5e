"""The hostile corpus (tests/knowledge/hostile_corpus.py) through a real worker: each document ends
``failed`` once with a reason a tenant reads, within 60 seconds, the worker and its parse boxes never
pass 1.5 GB of RSS together (sampled every 20 ms, the worker already holding its embedding model), and
the same worker then ingests a normal document.

The worker is this module's own (a queue of its own, started with ``tests.processes.start_worker``) so
the test knows its pid and can switch on the box's test-only fault injection
(``INGESTION_BOX_TEST_FAULTS``) for the crash and hang cases: no real parser crashes or hangs on command.
Memory and time limits are the production defaults except the wall-clock deadline, shortened so the
hang case ends within the minute.

A 30 MB text file is refused at the edge (413) before any worker sees it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from knowledge import services, tasks
from knowledge.models import Document
from tenants.context import tenant_context
from tests.clients import assert_problem
from tests.knowledge import hostile_corpus
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.knowledge.helpers import wait_until_settled
from tests.processes import WorkerProcess, start_worker, stop_worker
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

GB = 1024**3
RSS_CEILING_BYTES = int(1.5 * GB)
CASE_SECONDS = 60
WALL_SECONDS = 20  # the box's wall-clock deadline in this worker (production: 180)
SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Case:
    filename: str
    reason: str  # a phrase the failure reason must hold


CASES = {
    "inflating-pdf": Case("report.pdf", "needs more memory to read than the 640 MB a document may use"),
    "docx-zip-bomb": Case("letter.docx", "zip bomb"),
    "nested-html": Case("nested.html", "This page contains no text we can read"),
    "parser-aborts": Case("abort.pdf", "The parser crashed on this PDF"),
    "parser-segfaults": Case("segfault.pdf", "The parser crashed on this PDF"),
    "parser-spins": Case("spin.pdf", "Reading this PDF took longer than"),
    "parser-sleeps": Case("sleep.pdf", f"Reading this PDF took longer than {WALL_SECONDS} seconds"),
}


def hostile_bytes(name: str) -> bytes:
    if name == "inflating-pdf":
        return hostile_corpus.inflating_pdf()
    if name == "docx-zip-bomb":
        return hostile_corpus.docx_zip_bomb()
    if name == "nested-html":
        return hostile_corpus.nested_html(100_000)
    return hostile_corpus.faulting_pdf(name.removeprefix("parser-").removesuffix("s"))


@pytest.fixture(scope="module")
def hostile_worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[WorkerProcess, str]]:
    queue = f"groundwork-test-hostile-{uuid.uuid4().hex[:8]}"
    worker = start_worker(
        queue=queue,
        log_name="celery-worker-hostile.log",
        INGESTION_BOX_TEST_FAULTS="true",
        INGESTION_BOX_WALL_SECONDS=str(WALL_SECONDS),
    )
    try:
        yield worker, queue
    finally:
        stop_worker(worker)


class PeakRss:
    """Samples the RSS of a process and all its descendants (the zygote, keepers and parsers), summed,
    in a background thread; ``peak_bytes`` is the highest sum seen."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self.peak_by_process: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes: dict[str, int] = {}
            for process in [self.root, *self.root.children(recursive=True)]:
                try:
                    sizes[f"{process.pid}:{process.name()}"] = process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            if sum(sizes.values()) > self.peak_bytes:
                self.peak_bytes = sum(sizes.values())
                self.peak_by_process = sizes
            time.sleep(SAMPLE_SECONDS)


def upload(world: World, filename: str, content: bytes) -> Document:
    base = make_knowledge_base(world, f"Hostile {filename}")
    return services.document_upload(
        actor=world.actor(), knowledge_base_id=base.pk, filename=filename, content=content
    )


def run_on(queue: str, world: World, document: Document) -> Document:
    tasks.ingest_document.apply_async(args=[str(world.tenant.pk), str(document.pk)], queue=queue)
    return wait_until_settled(world, [document.pk])[document.pk]


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_document_fails_once_with_a_reason_and_the_worker_goes_on(
    name: str, hostile_worker: tuple[WorkerProcess, str], enqueue_nothing: None
) -> None:
    worker, queue = hostile_worker
    world = make_world(f"Hostile {name}")
    normal_base = make_knowledge_base(world, "Normal")
    # A worker that has embedded once holds the embedding model (~0.6 GB): the state it meets files in.
    before = add_text(world, normal_base, "# Hours\n\nOpen from nine to five on weekdays.")
    assert run_on(queue, world, before).status == "ready"
    document = upload(world, CASES[name].filename, hostile_bytes(name))

    with PeakRss(worker.process.pid) as rss:
        started = time.monotonic()
        settled = run_on(queue, world, document)
        seconds = time.monotonic() - started

    assert settled.status == "failed", settled.progress
    assert CASES[name].reason in settled.failure_reason, settled.failure_reason
    assert settled.attempts == 1  # failed on its first run: no retry, no redelivery
    assert seconds < CASE_SECONDS
    assert rss.peak_bytes < RSS_CEILING_BYTES, rss.peak_by_process
    assert worker.process.poll() is None, "the worker died"

    normal = add_text(world, normal_base, "# Returns\n\nReturns within 30 days.")
    assert run_on(queue, world, normal).status == "ready"
    # The failed document stays failed: the task was not redelivered behind the normal one.
    with tenant_context(world.tenant.pk):
        again = Document.objects.get(pk=document.pk)
    assert (again.status, again.attempts) == ("failed", 1)


def test_a_30_mb_text_file_is_refused_at_the_edge_and_stores_nothing(world: World, editor: Client) -> None:
    base = make_knowledge_base(world)
    assert settings.KNOWLEDGE_MAX_FILE_BYTES < 30 * 1024 * 1024  # the production default, 25 MB
    content = hostile_corpus.oversized_text()
    upload_file = SimpleUploadedFile("huge.txt", content, content_type="text/plain")
    response = editor.post(f"/api/v1/knowledge-bases/{base.pk}/documents", {"file": upload_file})
    problem = assert_problem(response, 413)
    assert "limit; split it" in problem["detail"]
    with tenant_context(world.tenant.pk):
        assert not Document.objects.filter(knowledge_base=base).exists()
