"""Fair shares of the workers: a tenant's ingestion tasks beyond ``INGESTION_IN_FLIGHT_PER_TENANT`` wait
off the workers, so another tenant's document does not queue behind its whole backlog.

Three real worker processes (one task each, as ``--pool=solo`` runs) consume a queue of this module's
own. Tenant A adds ten web pages that its site answers slowly (the fetch holds the task for seconds
without using the CPU); tenant B adds one text after them. In a plain FIFO queue B would start only once
all of A's pages were taken, so at most two of A's (those on the other two workers) could finish after
B's. With the cap of two, the third worker hands A's waiting tasks back and takes B's at once.

What A had in flight is measured from the worker's side: a document is in flight from its page's
request (the run claimed it, holding a slot) until it was stored (``ingested_at``, just before the slot
is given back).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import transaction

from knowledge import services, tasks
from knowledge.models import Document
from tenants import quotas
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.knowledge.helpers import wait_until_settled
from tests.processes import WorkerProcess, start_worker, stop_worker
from tests.providers.factories import add_credential
from tests.providers.helpers import OPENAI_KEY
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2
WORKERS = 3
SLOW_PAGES = 10
PAGE_SECONDS = 4.0


@pytest.fixture(scope="module")
def queue() -> str:
    return f"groundwork-test-fair-share-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def embeddings() -> Iterator[OpenAIStub]:
    """OpenAI's wire stub embeds: three workers loading the built-in model at once would spend the
    test's time (and a shared machine's CPU) on loading, not on what is measured."""
    stub = OpenAIStub(api_key=OPENAI_KEY).start()
    stub.embedding_size = 1536
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def workers(
    queue: str, embeddings: OpenAIStub, django_db_setup: None, django_db_blocker: Any
) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        for number in range(WORKERS):
            started.append(
                start_worker(
                    queue=queue,
                    log_name=f"celery-worker-fair-share-{number}.log",
                    FETCH_ALLOW_LOOPBACK="true",
                    OPENAI_BASE_URL=embeddings.base_url,
                    OPENAI_API_KEY="",
                    MODEL_CALL_MAX_RETRIES="0",
                    INGESTION_IN_FLIGHT_PER_TENANT=str(CAP),
                    # Short waits keep the test short; the defaults (2 s doubling to 30 s) suit production.
                    INGESTION_SLOT_WAIT_SECONDS="0.5",
                    INGESTION_SLOT_MAX_WAIT_SECONDS="2",
                )
            )
        yield started
    finally:
        for worker in started:
            stop_worker(worker)


class SlowSite:
    """Pages that take ``PAGE_SECONDS`` to answer; records when each request arrived."""

    def __init__(self) -> None:
        self.requested: dict[str, float] = {}
        requested = self.requested

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested.setdefault(self.path, time.time())
                time.sleep(PAGE_SECONDS)
                words = " ".join(f"{self.path.strip('/')}word{n}" for n in range(80))
                body = f"<html><body><h1>{self.path}</h1><p>{words}</p></body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def slow_site(settings: Any) -> Iterator[SlowSite]:
    settings.FETCH_ALLOW_LOOPBACK = True  # for the URL check when the page is added, in this process
    site = SlowSite()
    threading.Thread(target=site.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield site
    site.server.shutdown()


@pytest.fixture
def documents_go_to_the_modules_workers(queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def enqueue(document: Document) -> None:
        arguments = [str(document.tenant_id), str(document.pk)]
        transaction.on_commit(lambda: tasks.ingest_document.apply_async(args=arguments, queue=queue))

    monkeypatch.setattr(services, "_enqueue_ingest", enqueue)


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_one_tenants_backlog_does_not_hold_another_tenants_document_behind_it(
    workers: list[WorkerProcess],
    slow_site: SlowSite,
    documents_go_to_the_modules_workers: None,
    embeddings: OpenAIStub,
    settings: Any,
) -> None:
    settings.OPENAI_BASE_URL = embeddings.base_url  # for the embedding model's check, in this process
    tenant_a, tenant_b = make_world("Backlog"), make_world("Newcomer")
    for world in (tenant_a, tenant_b):
        add_credential(world, "openai", OPENAI_KEY)
    base_a, base_b = (
        make_knowledge_base(world, embedding_model="openai:text-embedding-3-small")
        for world in (tenant_a, tenant_b)
    )
    backlog = [
        services.document_add_url(
            actor=tenant_a.actor(), knowledge_base_id=base_a.pk, url=f"{slow_site.url}/page-{number}"
        )
        for number in range(SLOW_PAGES)
    ]
    newcomer = add_text(tenant_b, base_b, "Opening hours: nine to five, Monday to Friday.")

    settled_a = wait_until_settled(tenant_a, [document.pk for document in backlog])
    settled_b = wait_until_settled(tenant_b, [newcomer.pk])[newcomer.pk]

    assert {document.status for document in settled_a.values()} == {"ready"}
    assert settled_b.status == "ready"
    assert settled_b.ingested_at is not None
    finished_after_b = [
        document
        for document in settled_a.values()
        if document.ingested_at is not None and document.ingested_at > settled_b.ingested_at
    ]
    # FIFO would leave at most WORKERS - 1 of A's documents to finish after B's.
    assert len(finished_after_b) > WORKERS - 1, (
        f"only {len(finished_after_b)} of A's documents finished after B's"
    )

    in_flight = []
    for document in settled_a.values():
        assert document.ingested_at is not None
        started = slow_site.requested[urlsplit(document.source_url).path]
        in_flight.append((started, document.ingested_at.timestamp()))
    assert most_at_once(in_flight) == CAP
    # Waiting for a slot spent none of a document's attempts (each waited several times; MAX_ATTEMPTS is
    # 5), and every slot was given back. Two attempts are possible: Redis is shared by every worker on
    # the machine, and one with a shorter visibility timeout (tests/knowledge/test_worker_killed.py)
    # redelivers any task still running past it, as a real redelivery.
    assert max(document.attempts for document in settled_a.values()) <= 2
    assert quotas.ingestion_slots_taken(tenant_a.tenant.pk) == 0
