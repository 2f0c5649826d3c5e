"""The ingestion pipeline on the real services: documents go through the broker to a real worker process,
into PostgreSQL/pgvector, and come out ready with their citations, or failed with a reason.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.errors import ValidationFailed
from knowledge import pipeline, selectors, services, tasks
from knowledge.models import Chunk, Document, KnowledgeBase
from tenants.context import tenant_context
from tests.knowledge import corpus
from tests.knowledge.factories import make_knowledge_base
from tests.knowledge.helpers import (
    WAIT_SECONDS,
    assert_one_set_of_chunks,
    chunks_of,
    many_paragraphs,
    wait_until_settled,
)
from tests.providers.factories import add_credential
from tests.providers.helpers import OPENAI_KEY
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)


# --- helpers ----------------------------------------------------------------------------------------


def fresh_knowledge_base(world: World, **settings: Any) -> KnowledgeBase:
    return make_knowledge_base(world, f"Help {uuid.uuid4().hex[:6]}", **settings)


class Site:
    """Pages served from 127.0.0.1 (the worker may fetch loopback only because its test env says so)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = pages.get(self.path, (404, {}, b"missing"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (200, {"Content-Type": content_type}, body)
        return self.url + path


@pytest.fixture
def site(settings: Any) -> Iterator[Site]:
    settings.FETCH_ALLOW_LOOPBACK = True  # for the URL check at submission, in this process
    served = Site()
    threading.Thread(target=served.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield served
    served.server.shutdown()


# --- a corpus of every supported type, through the worker --------------------------------------------


def test_every_supported_type_ingests_to_ready_with_its_citations(celery_worker: str, site: Site) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    actor = world.actor()

    def upload(name: str, data: bytes) -> uuid.UUID:
        return services.document_upload(
            actor=actor, knowledge_base_id=base.pk, filename=name, content=data
        ).pk

    site.page("/robots.txt", b"User-agent: *\nAllow: /\n", "text/plain")
    site.page(
        "/help/",
        b"<html><body><main><h1>Help centre</h1><p>Start here for help with orders "
        b'and parcels.</p><a href="/help/returns">Returns</a></main></body></html>',
    )
    site.page("/help/returns", corpus.HELP_PAGE.encode())
    ids = {
        "pdf": upload("handbook.pdf", corpus.handbook_pdf()),
        "docx": upload("returns.docx", corpus.handbook_docx()),
        "html": upload("help.html", corpus.HELP_PAGE.encode()),
        "markdown": upload("guide.md", corpus.GUIDE_MARKDOWN.encode()),
        "csv": upload("products.csv", corpus.PRODUCTS_CSV.encode()),
        "text": upload("hours.txt", corpus.PLAIN_TEXT.encode("latin-1")),
        "pasted": services.document_add_text(
            actor=actor,
            knowledge_base_id=base.pk,
            title="Opening hours",
            text="# Hours\n\nOpen 9 to 5 on weekdays.",
        ).pk,
        "qa": services.document_add_qa(
            actor=actor,
            knowledge_base_id=base.pk,
            pairs=[{"question": "Do you ship to Norway?", "answer": "Yes, within five working days."}],
        ).pk,
        "url": services.document_add_url(
            actor=actor, knowledge_base_id=base.pk, url=site.url + "/help/returns"
        ).pk,
        "crawl": services.document_add_crawl(
            actor=actor, knowledge_base_id=base.pk, url=site.url + "/help/", max_pages=5
        ).pk,
    }

    documents = wait_until_settled(world, list(ids.values()))

    failed = {
        kind: documents[pk].failure_reason for kind, pk in ids.items() if documents[pk].status != "ready"
    }
    assert not failed
    chunks = {kind: assert_one_set_of_chunks(world, documents[pk]) for kind, pk in ids.items()}
    for kind, pk in ids.items():
        document = documents[pk]
        assert document.ingested_version == document.version == 1
        assert document.token_count == sum(chunk.token_count for chunk in chunks[kind])
        assert set(document.progress["stages"]) == set(services.STAGES)
        assert all(stage["state"] == "done" for stage in document.progress["stages"].values()), kind
        assert document.progress["stages"]["embed"]["done"] == document.chunk_count
        assert len(document.content_hash) == 64

    def chunk_with(kind: str, word: str) -> Chunk:
        return next(chunk for chunk in chunks[kind] if word in chunk.text)

    pdf = documents[ids["pdf"]]
    assert (pdf.content_type, pdf.pages) == ("pdf", 3)
    assert (chunk_with("pdf", "pgone").page_number, chunk_with("pdf", "pgone").heading_path) == (
        1,
        "Introduction",
    )
    assert (chunk_with("pdf", "pgsick").page_number, chunk_with("pdf", "pgsick").heading_path) == (
        3,
        "Leave > Sick leave",
    )
    assert chunk_with("docx", "Card refunds").heading_path == "Returns > Refunds > Timelines"
    assert chunk_with("docx", "weekday").heading_path == "Shipping"
    assert documents[ids["html"]].content_type == "html"
    assert chunk_with("qa", "Norway").heading_path == "Do you ship to Norway?"
    assert chunk_with("pasted", "weekdays").heading_path == "Hours"
    url_chunk = chunks["url"][0]
    assert url_chunk.anchor.startswith(site.url + "/help/returns")
    crawled_pages = {chunk.anchor.split("#")[0] for chunk in chunks["crawl"]}
    assert crawled_pages == {site.url + "/help/", site.url + "/help/returns"}
    assert documents[ids["crawl"]].pages == 2

    with tenant_context(world.tenant.pk):
        results = selectors.knowledge_search(
            tenant=world.tenant, knowledge_bases=[base], query="Are exchanges free for another size?", top_k=3
        )
    assert "Exchanges are free for another size." in results[0].text
    assert (results[0].document_id, results[0].source) == (ids["docx"], "returns.docx")


# --- idempotency ------------------------------------------------------------------------------------


def test_the_same_task_delivered_twice_leaves_one_set(celery_worker: str, enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world, chunk_size_tokens=60, chunk_overlap_tokens=10)
    document = services.document_add_text(
        actor=world.actor(), knowledge_base_id=base.pk, text=many_paragraphs(30)
    )
    arguments = [str(world.tenant.pk), str(document.pk)]

    first, second = tasks.ingest_document.delay(*arguments), tasks.ingest_document.delay(*arguments)

    assert sorted([first.get(timeout=WAIT_SECONDS), second.get(timeout=WAIT_SECONDS)]) == ["ready", "skipped"]
    settled = wait_until_settled(world, [document.pk])[document.pk]
    assert settled.status == "ready" and settled.attempts == 1
    assert len(assert_one_set_of_chunks(world, settled)) >= 30


def test_two_runs_of_one_version_racing_each_other_store_one_set(enqueue_nothing: None) -> None:
    """A redelivery that starts while the first run is still alive: both claim, both store, one set stays."""
    world = make_world()
    base = fresh_knowledge_base(world, chunk_size_tokens=60, chunk_overlap_tokens=10)
    document = services.document_add_text(
        actor=world.actor(), knowledge_base_id=base.pk, text=many_paragraphs(8)
    )

    first = services.document_claim(tenant_id=world.tenant.pk, document_id=document.pk)
    second = services.document_claim(tenant_id=world.tenant.pk, document_id=document.pk)
    assert first is not None and second is not None
    pipeline.run(second)
    pipeline.run(first)

    with tenant_context(world.tenant.pk):
        stored = Document.objects.get(pk=document.pk)
    assert stored.status == "ready" and stored.attempts == 2
    assert_one_set_of_chunks(world, stored)


def test_a_run_superseded_by_a_reingest_or_a_delete_stores_nothing(enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    document = services.document_add_text(actor=world.actor(), knowledge_base_id=base.pk, text="Old words.")
    stale = services.document_claim(tenant_id=world.tenant.pk, document_id=document.pk)
    assert stale is not None
    services.document_reingest(actor=world.actor(), document_id=document.pk)

    pipeline.run(stale)  # finishes after the re-ingest request: its chunks belong to no current version

    with tenant_context(world.tenant.pk):
        current = Document.objects.get(pk=document.pk)
    assert (current.status, current.version, current.chunk_count) == ("queued", 2, 0)
    assert chunks_of(world, document.pk) == []
    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=document.pk) == "ready"

    doomed = services.document_add_text(actor=world.actor(), knowledge_base_id=base.pk, text="Short lived.")
    job = services.document_claim(tenant_id=world.tenant.pk, document_id=doomed.pk)
    assert job is not None
    services.document_delete(actor=world.actor(), document_id=doomed.pk)
    pipeline.run(job)
    with tenant_context(world.tenant.pk):
        assert not Chunk.objects.filter(document_id=doomed.pk).exists()


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "make", "message"),
    [
        ("empty.txt", lambda: b"", "is empty"),
        ("photo.pdf", corpus.png_bytes, "PNG image"),
        (
            "report.pdf",
            lambda: corpus.HELP_PAGE.encode(),
            "named as a PDF document but contains an HTML page",
        ),
        ("locked.docx", lambda: corpus.ole_bytes(encrypted=True), "password-protected"),
        ("old.doc", corpus.ole_bytes, "legacy Office"),
        ("broken.docx", lambda: b"PK\x03\x04" + b"\x00" * 40, "damaged"),
    ],
)
def test_unreadable_uploads_are_refused_at_upload_and_nothing_is_stored(
    filename: str, make: Any, message: str, enqueue_nothing: None
) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)

    with pytest.raises(ValidationFailed, match=message):
        services.document_upload(
            actor=world.actor(), knowledge_base_id=base.pk, filename=filename, content=make()
        )

    with tenant_context(world.tenant.pk):
        assert not Document.objects.exists()


def test_a_traversal_filename_is_only_ever_a_label(enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    document = services.document_upload(
        actor=world.actor(),
        knowledge_base_id=base.pk,
        filename="../../etc/passwd.txt",
        content=b"Harmless words.",
    )
    assert (document.original_filename, document.title) == ("passwd.txt", "passwd")
    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=document.pk) == "ready"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_internal_urls_are_refused_when_submitted(url: str, enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    for add in (services.document_add_url, services.document_add_crawl):
        with pytest.raises(ValidationFailed) as refused:
            add(actor=world.actor(), knowledge_base_id=base.pk, url=url)
        assert refused.value.field_errors["url"]
    with tenant_context(world.tenant.pk):
        assert not Document.objects.exists()


def test_damaged_documents_and_internal_redirects_end_failed_with_a_reason(
    celery_worker: str, site: Site
) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    actor = world.actor()
    pdf = corpus.handbook_pdf()
    site.pages["/moved"] = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    expected = {
        services.document_upload(
            actor=actor,
            knowledge_base_id=base.pk,
            filename="secret.pdf",
            content=corpus.make_pdf([corpus.PdfPage(lines=["Secret."])], user_password="open sesame"),
        ).pk: "password-protected",
        services.document_upload(
            actor=actor, knowledge_base_id=base.pk, filename="cut.pdf", content=pdf[: len(pdf) // 3]
        ).pk: "damaged",
        services.document_upload(
            actor=actor, knowledge_base_id=base.pk, filename="scan.pdf", content=corpus.blank_pdf()
        ).pk: "no text we can read",
        services.document_upload(
            actor=actor, knowledge_base_id=base.pk, filename="bomb.docx", content=corpus.zip_bomb_docx()
        ).pk: "zip bomb",
        services.document_upload(
            actor=actor, knowledge_base_id=base.pk, filename="nothing.docx", content=corpus.empty_docx()
        ).pk: "contains no text",
        services.document_add_url(actor=actor, knowledge_base_id=base.pk, url=site.url + "/moved").pk: (
            "private or reserved address"
        ),
        services.document_add_url(actor=actor, knowledge_base_id=base.pk, url=site.url + "/gone").pk: "404",
    }

    documents = wait_until_settled(world, list(expected))

    for document_id, reason in expected.items():
        document = documents[document_id]
        assert document.status == "failed", (document.title, document.progress)
        assert reason in document.failure_reason, (document.title, document.failure_reason)
        assert document.progress["stage"] == "failed"
        assert chunks_of(world, document_id) == []


def test_a_provider_outage_is_retried_then_fails_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, enqueue_nothing: None
) -> None:
    """The task's retry policy (run in this process: the retries' timing is the point, not the queue)."""
    world = make_world()
    base = fresh_knowledge_base(world)
    document = services.document_add_text(actor=world.actor(), knowledge_base_id=base.pk, text="Some words.")

    def outage(**kwargs: Any) -> Any:
        raise pipeline.TransientError("The embedding provider is unavailable (HTTP 503).")

    monkeypatch.setattr(pipeline, "_embed", lambda job, targets, drafts: outage())
    # Run eagerly, a task's retries follow one another at once (the countdowns apply on a worker).
    result = tasks.ingest_document.apply(args=[str(world.tenant.pk), str(document.pk)])

    assert result.get() == "failed"
    with tenant_context(world.tenant.pk):
        failed = Document.objects.get(pk=document.pk)
    assert (failed.status, failed.attempts) == ("failed", tasks.MAX_RETRIES + 1)
    assert failed.failure_reason == (
        "The embedding provider is unavailable (HTTP 503). Gave up after 5 attempts; re-ingest to try again."
    )
    assert [tasks._retry_delay(retries) for retries in range(tasks.MAX_RETRIES)] == [10, 40, 160, 640]


def test_a_document_that_keeps_killing_workers_ends_failed(enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    document = services.document_add_text(actor=world.actor(), knowledge_base_id=base.pk, text="Some words.")
    for _ in range(services.MAX_ATTEMPTS):  # each claim is a run whose worker then died
        assert services.document_claim(tenant_id=world.tenant.pk, document_id=document.pk) is not None

    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=document.pk) == "skipped"
    with tenant_context(world.tenant.pk):
        failed = Document.objects.get(pk=document.pk)
    assert failed.status == "failed"
    assert "stopped unexpectedly 5 times" in failed.failure_reason


# --- the sweeps beat runs ---------------------------------------------------------------------------


def test_stalled_documents_are_queued_again_and_web_sources_resynced(
    monkeypatch: pytest.MonkeyPatch, site: Site, settings: Any
) -> None:
    queued: list[uuid.UUID] = []
    monkeypatch.setattr(services, "_enqueue_ingest", lambda document: queued.append(document.pk))
    world = make_world()
    base = fresh_knowledge_base(world)
    actor = world.actor()
    lost = services.document_add_text(actor=actor, knowledge_base_id=base.pk, text="Lost in the queue.")
    fresh = services.document_add_text(actor=actor, knowledge_base_id=base.pk, text="Just queued.")
    page = services.document_add_url(
        actor=actor, knowledge_base_id=base.pk, url=site.page("/a", b"<p>Hello</p>")
    )
    queued.clear()
    long_ago = "2020-01-01T00:00:00Z"
    with tenant_context(world.tenant.pk):
        Document.objects.filter(pk=lost.pk).update(updated_at=long_ago)
        Document.objects.filter(pk=page.pk).update(status="ready", ingested_at=long_ago, ingested_version=1)

    assert [pair[1] for pair in services.documents_recover_stalled()] == [lost.pk]
    assert queued == [lost.pk]
    assert services.documents_recover_stalled() == []  # touched: the new run gets a full period

    settings.KNOWLEDGE_RESYNC_HOURS = 24
    assert [pair[1] for pair in services.resync_due_web_sources()] == [page.pk]
    with tenant_context(world.tenant.pk):
        resynced = Document.objects.get(pk=page.pk)
    assert (resynced.status, resynced.version) == ("queued", 2)
    assert queued == [lost.pk, page.pk]
    assert fresh.pk not in queued


# --- changing the embedding model -------------------------------------------------------------------


@pytest.fixture
def openai_embeddings(settings: Any) -> Iterator[OpenAIStub]:
    settings.OPENAI_API_KEY = ""
    settings.MODEL_CALL_MAX_RETRIES = 0
    stub = OpenAIStub(api_key=OPENAI_KEY).start()
    stub.embedding_size = 1536
    settings.OPENAI_BASE_URL = stub.base_url
    yield stub
    stub.stop()


def test_a_new_embedding_model_is_built_beside_the_old_index_and_switched_to_when_complete(
    monkeypatch: pytest.MonkeyPatch, openai_embeddings: OpenAIStub, enqueue_nothing: None
) -> None:
    """OpenAI's 1,536 dimensions to the built-in 384: search answers from the complete old index until
    every document is in the new one, then from the new one."""
    reindexes: list[uuid.UUID] = []
    monkeypatch.setattr(services, "_enqueue_reindex", lambda base: reindexes.append(base.pk))
    world = make_world()
    actor = world.actor()
    add_credential(world, "openai", OPENAI_KEY, name="OpenAI")
    base = fresh_knowledge_base(world, embedding_model="openai:text-embedding-3-small")
    documents = [
        services.document_add_text(actor=actor, knowledge_base_id=base.pk, text=text)
        for text in ("Refunds take five days.", "Parcels ship every weekday.")
    ]
    for document in documents:
        assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=document.pk) == "ready"
    assert chunks_of(world, documents[0].pk)[0].embedding_1536 is not None

    updated = services.knowledge_base_update(
        actor=actor, knowledge_base_id=base.pk, embedding_model="local:all-MiniLM-L6-v2"
    )
    assert reindexes == [base.pk]
    assert (updated.active_index_version, updated.building_index_version) == (1, 2)

    def search(query: str) -> list[str]:
        with tenant_context(world.tenant.pk):
            current = KnowledgeBase.objects.get(pk=base.pk)
            found = selectors.knowledge_search(
                tenant=world.tenant, knowledge_bases=[current], query=query, top_k=1
            )
        return [result.text for result in found]

    assert (
        pipeline.ingest(tenant_id=world.tenant.pk, document_id=documents[0].pk, reindex_version=2) == "ready"
    )
    assert not services.knowledge_base_switch_index(tenant_id=world.tenant.pk, knowledge_base_id=base.pk)
    embedded_queries = len(openai_embeddings.requests_to("/v1/embeddings"))
    assert search("Parcels ship every weekday.") == ["Parcels ship every weekday."]  # the old, complete index
    assert len(openai_embeddings.requests_to("/v1/embeddings")) == embedded_queries + 1
    with tenant_context(world.tenant.pk):
        building = KnowledgeBase.objects.get(pk=base.pk)
        progress = selectors.reindex_progress(tenant=world.tenant, knowledge_base=building)
    assert progress is not None and (progress.documents_done, progress.documents_total) == (1, 2)

    pipeline.ingest(tenant_id=world.tenant.pk, document_id=documents[1].pk, reindex_version=2)
    assert services.knowledge_base_switch_index(tenant_id=world.tenant.pk, knowledge_base_id=base.pk)

    with tenant_context(world.tenant.pk):
        switched = KnowledgeBase.objects.get(pk=base.pk)
        versions = set(Chunk.objects.filter(knowledge_base=base).values_list("index_version", flat=True))
        counts = [Document.objects.get(pk=document.pk).chunk_count for document in documents]
    assert (switched.active_index_version, switched.building_index_version) == (2, None)
    assert (switched.embedding_model, switched.embedding_dimensions) == ("local:all-MiniLM-L6-v2", 384)
    assert versions == {2} and counts == [1, 1]
    assert chunks_of(world, documents[0].pk)[0].embedding_384 is not None
    assert search("How long do refunds take?") == ["Refunds take five days."]
    assert len(openai_embeddings.requests_to("/v1/embeddings")) == embedded_queries + 1  # now local


def test_qa_pairs_are_stored_as_submitted(enqueue_nothing: None) -> None:
    world = make_world()
    base = fresh_knowledge_base(world)
    document = services.document_add_qa(
        actor=world.actor(),
        knowledge_base_id=base.pk,
        pairs=[{"question": " Q? ", "answer": " A. "}, {"question": "", "answer": ""}],
    )
    assert json.loads(document.source_text) == [{"question": "Q?", "answer": "A."}]
    with pytest.raises(ValidationFailed, match="needs both"):
        services.document_add_qa(actor=world.actor(), knowledge_base_id=base.pk, pairs=[{"question": "Q?"}])
