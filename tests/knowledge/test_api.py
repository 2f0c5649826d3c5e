"""The knowledge REST API: knowledge bases, documents (every JSON source and multipart uploads), chunks
and search; roles, bad input as problem+json, uploads refused by content and by size while they stream
in, private URLs refused, and tenant isolation down to search results.

Tests use ``db``: documents are queued but never enqueued (``transaction.on_commit`` does not fire inside
the test's transaction), and search tests run the pipeline in-process.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from core.uploads import SizeLimitedUploadHandler
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase, SourceFile
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tests.clients import assert_problem, post_json
from tests.knowledge.factories import add_text, ingested_text, make_knowledge_base
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

LOCAL_MODEL = "local:all-MiniLM-L6-v2"
BOUNDARY = "groundwork-test-boundary-7f3a"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + bytes(64)
HTML_PAGE = (
    b"<!doctype html><html><head><title>Sign in</title></head><body><p>Please sign in.</p></body></html>"
)
FAQ = (
    b"# Returns\n\nYou can return any item within 30 days of delivery for a full refund.\n\n"
    b"## Shipping\n\nOrders ship within two working days from our warehouse in Leeds.\n"
)
# A literal public address: accepted without depending on what DNS answers here.
PUBLIC_URL = "https://93.184.215.14/help/returns"
PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "file:///etc/passwd",
]


# --- helpers ----------------------------------------------------------------------------------------


def multipart(client: Client, path: str, filename: str, content: bytes, **fields: str) -> Any:
    """POST a multipart body built by hand: Django's test client would strip the file name's path, and
    what the server does with a hostile name is the point."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return client.generic("POST", path, body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def knowledge_rows(world: World) -> dict[str, int]:
    with tenant_context(world.tenant.pk):
        return {
            "knowledge_bases": KnowledgeBase.objects.count(),
            "documents": Document.objects.count(),
            "files": SourceFile.objects.count(),
            "chunks": Chunk.objects.count(),
            "audit": AuditEvent.objects.count(),
        }


def add_chunks(document: Document, texts: list[str]) -> list[Chunk]:
    with tenant_context(document.tenant_id):
        return Chunk.objects.bulk_create(
            Chunk(
                tenant_id=document.tenant_id,
                knowledge_base_id=document.knowledge_base_id,
                document=document,
                index_version=1,
                document_version=1,
                position=position,
                text=text,
                heading_path="Guide > Part",
                page_number=position + 1,
                anchor=f"#part-{position}",
                token_count=len(text.split()),
                embedding_384=[0.01] * 384,
            )
            for position, text in enumerate(texts)
        )


def documents_path(knowledge_base: KnowledgeBase | uuid.UUID) -> str:
    knowledge_base_id = getattr(knowledge_base, "pk", knowledge_base)
    return f"/api/v1/knowledge-bases/{knowledge_base_id}/documents"


def document_path(document: Document) -> str:
    return f"{documents_path(document.knowledge_base_id)}/{document.pk}"


@pytest.fixture(autouse=True)
def no_loopback_fetches(settings: Any) -> None:
    settings.FETCH_ALLOW_LOOPBACK = False  # whatever the environment says: the refusals are tested here


# --- knowledge bases --------------------------------------------------------------------------------


def test_a_knowledge_base_is_created_listed_read_changed_and_deleted(world: World, editor: Client) -> None:
    created = post_json(
        editor,
        "/api/v1/knowledge-bases",
        {"name": "Help centre", "description": "Public articles", "chunk_size_tokens": 300},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    knowledge_base_id = body["id"]
    assert created["Location"] == f"/api/v1/knowledge-bases/{knowledge_base_id}"
    assert body["name"] == "Help centre" and body["description"] == "Public articles"
    # Unset settings take the service's defaults; the embedding model is the organisation's default.
    assert (body["embedding_model"], body["embedding_dimensions"]) == (LOCAL_MODEL, 384)
    assert (body["chunk_size_tokens"], body["chunk_overlap_tokens"]) == (300, 60)
    assert (body["retrieval_top_k"], body["retrieval_score_threshold"], body["retrieval_mode"]) == (
        5,
        0.0,
        "hybrid",
    )
    assert body["counts"] == {
        "documents_total": 0,
        "documents_ready": 0,
        "documents_failed": 0,
        "documents_pending": 0,
        "chunks": 0,
    }
    assert body["switching_to"] is None
    assert body["created_at"] and body["updated_at"]

    listing = editor.get("/api/v1/knowledge-bases").json()
    assert [row["id"] for row in listing["results"]] == [knowledge_base_id]
    assert "next" in listing and "previous" in listing
    assert editor.get(f"/api/v1/knowledge-bases/{knowledge_base_id}").json() == body

    changed = editor.patch(
        f"/api/v1/knowledge-bases/{knowledge_base_id}",
        {"name": "Support articles", "retrieval_top_k": 8, "retrieval_mode": "vector"},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["name"], changed.json()["retrieval_top_k"], changed.json()["retrieval_mode"]) == (
        "Support articles",
        8,
        "vector",
    )

    assert editor.delete(f"/api/v1/knowledge-bases/{knowledge_base_id}").status_code == 204
    assert_problem(editor.get(f"/api/v1/knowledge-bases/{knowledge_base_id}"), 404)
    with tenant_context(world.tenant.pk):
        actions = sorted(
            AuditEvent.objects.filter(target_id=knowledge_base_id).values_list("action", flat=True)
        )
    assert actions == ["knowledge_base.created", "knowledge_base.deleted", "knowledge_base.updated"]


def test_counts_follow_the_documents_and_their_chunks(world: World, viewer: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    ready = add_text(world, knowledge_base, "Ready text")
    failed = add_text(world, knowledge_base, "Failed text")
    add_text(world, knowledge_base, "Queued text")
    add_chunks(ready, ["one", "two", "three"])
    with tenant_context(world.tenant.pk):
        Document.objects.filter(pk=ready.pk).update(status=DocumentStatus.READY, chunk_count=3)
        Document.objects.filter(pk=failed.pk).update(status=DocumentStatus.FAILED)
    counts = viewer.get(f"/api/v1/knowledge-bases/{knowledge_base.pk}").json()["counts"]
    assert counts == {
        "documents_total": 3,
        "documents_ready": 1,
        "documents_failed": 1,
        "documents_pending": 1,
        "chunks": 3,
    }


def test_a_new_embedding_model_shows_the_switch_under_way(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    document = add_text(world, knowledge_base, "Some text")
    with tenant_context(world.tenant.pk):
        Document.objects.filter(pk=document.pk).update(status=DocumentStatus.READY)
    response = editor.patch(
        f"/api/v1/knowledge-bases/{knowledge_base.pk}",
        {"embedding_model": "openai:text-embedding-3-small"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    # Search keeps the current model until every document is in the new index.
    assert body["embedding_model"] == LOCAL_MODEL
    assert body["switching_to"] == {
        "embedding_model": "openai:text-embedding-3-small",
        "documents_done": 0,
        "documents_total": 1,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "KB", "colour": "red"}, "colour"),
        ({"description": "no name"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "KB", "chunk_size_tokens": 10}, "chunk_size_tokens"),
        ({"name": "KB", "chunk_size_tokens": 100, "chunk_overlap_tokens": 60}, "chunk_overlap_tokens"),
        ({"name": "KB", "retrieval_top_k": 0}, "retrieval_top_k"),
        ({"name": "KB", "retrieval_score_threshold": 1.5}, "retrieval_score_threshold"),
        ({"name": "KB", "retrieval_mode": "fuzzy"}, "retrieval_mode"),
        ({"name": "KB", "embedding_model": "openai:gpt-4o-mini"}, "embedding_model"),
        ({"name": "KB", "embedding_model": "acme:nothing"}, "embedding_model"),
        ({"name": "KB", "chunk_size_tokens": "big"}, "chunk_size_tokens"),
    ],
)
def test_bad_knowledge_base_input_is_a_400_problem_and_stores_nothing(
    world: World, editor: Client, body: dict[str, Any], field: str
) -> None:
    before = knowledge_rows(world)
    problem = assert_problem(post_json(editor, "/api/v1/knowledge-bases", body), 400)
    assert field in problem["errors"], problem
    assert knowledge_rows(world) == before


def test_a_second_knowledge_base_with_the_same_name_is_a_conflict(
    editor: Client, knowledge_base: KnowledgeBase
) -> None:
    problem = assert_problem(post_json(editor, "/api/v1/knowledge-bases", {"name": knowledge_base.name}), 409)
    assert problem["errors"] == {"name": ["Already used."]}


def test_bad_changes_are_refused_and_change_nothing(editor: Client, knowledge_base: KnowledgeBase) -> None:
    path = f"/api/v1/knowledge-bases/{knowledge_base.pk}"
    before = editor.get(path).json()
    for body, field in [
        ({"chunk_overlap_tokens": 300}, "chunk_overlap_tokens"),
        ({"embedding_model": "openai:gpt-4o"}, "embedding_model"),
        ({"active_index_version": 3}, "active_index_version"),
        ({"embedding_dimensions": 1536}, "embedding_dimensions"),
    ]:
        problem = assert_problem(editor.patch(path, body, content_type="application/json"), 400)
        assert field in problem["errors"], problem
    assert editor.get(path).json() == before


def test_lists_are_cursor_paginated(world: World, viewer: Client, knowledge_base: KnowledgeBase) -> None:
    for number in range(3):
        make_knowledge_base(world, name=f"Base {number}")
        add_text(world, knowledge_base, f"Text number {number}")
    for path, total in [("/api/v1/knowledge-bases", 4), (documents_path(knowledge_base), 3)]:
        first = viewer.get(f"{path}?page_size=2").json()
        assert len(first["results"]) == 2 and first["next"] and first["previous"] is None
        second = viewer.get(first["next"]).json()
        ids = [row["id"] for row in first["results"] + second["results"]]
        assert len(ids) == len(set(ids)) == total and second["next"] is None


# --- documents: adding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "source_type", "title"),
    [
        ({"text": "Refunds take five days.\nSecond line.", "title": "Refunds"}, "text", "Refunds"),
        ({"text": "Refunds take five days.\nSecond line."}, "text", "Refunds take five days."),
        ({"url": PUBLIC_URL}, "url", PUBLIC_URL),
        ({"url": PUBLIC_URL, "title": "Returns page"}, "url", "Returns page"),
        ({"crawl": {"url": PUBLIC_URL, "max_pages": 20}}, "crawl", f"Crawl of {PUBLIC_URL}"),
        ({"crawl": {"url": PUBLIC_URL}, "title": "Help site"}, "crawl", "Help site"),
        (
            {"qa": [{"question": "Do you ship abroad?", "answer": "Yes, to the EU."}], "title": "Shipping"},
            "qa",
            "Shipping",
        ),
        ({"qa": [{"question": "Q?", "answer": "A."}, {"question": "R?", "answer": "B."}]}, "qa", None),
    ],
)
def test_each_json_source_queues_a_document(
    world: World,
    editor: Client,
    knowledge_base: KnowledgeBase,
    body: dict[str, Any],
    source_type: str,
    title: str | None,
) -> None:
    response = post_json(editor, documents_path(knowledge_base), body)
    assert response.status_code == 202, response.content
    document = response.json()
    assert response["Location"] == f"{documents_path(knowledge_base)}/{document['id']}"
    assert document["status"] == "queued" and document["source_type"] == source_type
    assert document["knowledge_base_id"] == str(knowledge_base.pk)
    assert document["title"] == (title or "2 questions and answers")
    assert document["stats"] == {"pages": 0, "chunk_count": 0, "token_count": 0}
    assert (document["version"], document["attempts"], document["ingested_at"]) == (1, 0, None)
    if source_type == "crawl":
        assert document["crawl_max_pages"] == body["crawl"].get("max_pages", 50)
    if source_type in ("url", "crawl"):
        assert document["source_url"] == PUBLIC_URL
    assert editor.get(response["Location"]).json() == document
    listed = editor.get(documents_path(knowledge_base)).json()["results"]
    assert [row["id"] for row in listed] == [document["id"]]


def test_a_multipart_upload_queues_a_document_with_its_bytes_stored(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    response = multipart(editor, documents_path(knowledge_base), "faq.md", FAQ)
    assert response.status_code == 202, response.content
    document = response.json()
    assert (document["source_type"], document["status"], document["title"]) == ("file", "queued", "faq")
    assert (document["original_filename"], document["content_type"]) == ("faq.md", "markdown")
    assert response["Location"].endswith(f"/documents/{document['id']}")
    with tenant_context(world.tenant.pk):
        stored = SourceFile.objects.get(document_id=document["id"])
    assert bytes(stored.content) == FAQ and stored.size_bytes == len(FAQ)

    titled = multipart(editor, documents_path(knowledge_base), "notes.txt", b"Plain notes.", title="Notes")
    assert titled.status_code == 202 and titled.json()["title"] == "Notes"


def test_the_same_file_twice_is_a_conflict(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    assert multipart(editor, documents_path(knowledge_base), "faq.md", FAQ).status_code == 202
    before = knowledge_rows(world)
    problem = assert_problem(multipart(editor, documents_path(knowledge_base), "copy.md", FAQ), 409)
    assert "already in the knowledge base" in problem["detail"]
    assert knowledge_rows(world) == before


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("report.pdf", PNG, "report.pdf"),
        ("report.pdf", HTML_PAGE, "named as a PDF document but contains"),
        ("photo.png", PNG, "photo.png"),
        ("empty.txt", b"   \n", "empty"),
    ],
)
def test_a_file_that_is_not_what_it_says_or_cannot_be_read_is_refused(
    world: World, editor: Client, knowledge_base: KnowledgeBase, filename: str, content: bytes, message: str
) -> None:
    before = knowledge_rows(world)
    problem = assert_problem(multipart(editor, documents_path(knowledge_base), filename, content), 400)
    assert message in problem["detail"], problem
    assert "file" in problem["errors"]
    assert knowledge_rows(world) == before


@pytest.mark.parametrize("filename", ["../../etc/passwd.txt", "..\\..\\windows\\passwd.txt"])
def test_a_traversal_file_name_is_kept_only_as_a_display_name(
    world: World, editor: Client, knowledge_base: KnowledgeBase, settings: Any, tmp_path: Path, filename: str
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    response = multipart(editor, documents_path(knowledge_base), filename, b"root:x:0:0:root:/root:/bin/sh\n")
    assert response.status_code == 202, response.content
    document = response.json()
    assert document["original_filename"] == "passwd.txt"
    assert document["title"] == "passwd"
    with tenant_context(world.tenant.pk):
        stored = Document.objects.get(pk=document["id"])
        assert SourceFile.objects.filter(document=stored).exists()  # the bytes live in the database
    assert "/" not in stored.original_filename and "\\" not in stored.original_filename
    assert list(tmp_path.iterdir()) == []  # and nothing was written to disk, under any name


@pytest.mark.parametrize("size", [5_000, 200_000], ids=["past-the-limit-while-streaming", "declared-too-big"])
def test_an_oversized_upload_is_413_and_stores_nothing(
    world: World, editor: Client, knowledge_base: KnowledgeBase, settings: Any, size: int
) -> None:
    settings.KNOWLEDGE_MAX_FILE_BYTES = 1_000
    before = knowledge_rows(world)
    receive = SizeLimitedUploadHandler.receive_data_chunk
    with mock.patch.object(
        SizeLimitedUploadHandler, "receive_data_chunk", autospec=True, side_effect=receive
    ) as received:
        response = multipart(editor, documents_path(knowledge_base), "big.txt", b"a" * size)
    problem = assert_problem(response, 413)
    assert "big.txt" in problem["detail"] or "The file" in problem["detail"]
    assert "limit; split it" in problem["detail"]
    assert knowledge_rows(world) == before
    if size == 5_000:
        # Within the multipart allowance, the body's length says nothing: the file's bytes, counted as
        # they arrive through DRF's parser, are what stops it.
        assert received.called
        assert "big.txt" in problem["detail"]
    else:
        assert not received.called  # refused on the declared length, before a byte of the file was read


def test_an_upload_at_the_limit_is_accepted(
    editor: Client, knowledge_base: KnowledgeBase, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_FILE_BYTES = 1_000
    response = multipart(editor, documents_path(knowledge_base), "exact.txt", b"a " * 500)
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("url", PRIVATE_URLS)
@pytest.mark.parametrize("shape", ["url", "crawl"])
def test_private_and_non_http_urls_are_refused_and_store_nothing(
    world: World, editor: Client, knowledge_base: KnowledgeBase, url: str, shape: str
) -> None:
    before = knowledge_rows(world)
    body = {"url": url} if shape == "url" else {"crawl": {"url": url}}
    problem = assert_problem(post_json(editor, documents_path(knowledge_base), body), 400)
    assert "url" in problem["errors"], problem
    assert "not fetched" in problem["detail"] or "Only http:// and https://" in problem["detail"]
    assert knowledge_rows(world) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "exactly one of text, url, crawl or qa"),
        ({"title": "Only a title"}, "exactly one of text, url, crawl or qa"),
        ({"text": "Hello", "url": PUBLIC_URL}, "this request has text and url"),
        ({"qa": [], "crawl": {"url": PUBLIC_URL}}, "this request has crawl and qa"),
        ([{"text": "Hello"}], "JSON object"),
        ('"just a string"', "JSON object"),
    ],
)
def test_a_body_without_exactly_one_source_is_a_clear_400(
    world: World, editor: Client, knowledge_base: KnowledgeBase, body: Any, expected: str
) -> None:
    before = knowledge_rows(world)
    problem = assert_problem(post_json(editor, documents_path(knowledge_base), body), 400)
    assert expected in problem["detail"], problem
    assert knowledge_rows(world) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "Hello", "colour": "red"}, "colour"),
        ({"text": "   "}, "text"),
        ({"text": 42, "title": ["x"]}, "title"),
        ({"url": PUBLIC_URL, "max_pages": 3}, "max_pages"),
        ({"url": "x" * 2001}, "url"),
        ({"crawl": PUBLIC_URL}, "crawl"),
        ({"crawl": {"url": PUBLIC_URL, "depth": 3}}, "crawl"),
        ({"crawl": {"url": PUBLIC_URL, "max_pages": 0}}, "crawl"),
        ({"crawl": {"url": PUBLIC_URL, "max_pages": 100_000}}, "max_pages"),
        ({"qa": "Q: A"}, "qa"),
        ({"qa": [{"question": "Q?", "answer": "A.", "source": "x"}]}, "qa"),
        ({"qa": [{"question": "Only a question?", "answer": ""}]}, "qa"),
        ({"qa": []}, "qa"),
    ],
)
def test_bad_document_fields_are_400_problems_by_field(
    world: World, editor: Client, knowledge_base: KnowledgeBase, body: dict[str, Any], field: str
) -> None:
    before = knowledge_rows(world)
    problem = assert_problem(post_json(editor, documents_path(knowledge_base), body), 400)
    assert field in problem["errors"], problem
    assert knowledge_rows(world) == before


def test_multipart_bodies_take_a_file_and_a_title_only(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    before = knowledge_rows(world)
    problem = assert_problem(
        multipart(editor, documents_path(knowledge_base), "a.txt", b"Some text.", text="smuggled"), 400
    )
    assert problem["errors"] == {"text": ["Unknown field."]}
    no_file = editor.generic(
        "POST",
        documents_path(knowledge_base),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nX\r\n--{BOUNDARY}--\r\n',
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert "file" in assert_problem(no_file, 400)["errors"]
    assert knowledge_rows(world) == before


def test_other_body_types_are_415(editor: Client, knowledge_base: KnowledgeBase) -> None:
    response = editor.post(documents_path(knowledge_base), "text=Hello", content_type="text/plain")
    assert_problem(response, 415)


# --- documents: reading, re-ingesting, deleting, chunks ------------------------------------------------


def test_a_document_is_read_reingested_and_deleted_with_its_chunks(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    document = add_text(world, knowledge_base, "Opening hours are nine to five.", title="Hours")
    add_chunks(document, ["Opening hours", "are nine to five", "on weekdays"])
    with tenant_context(world.tenant.pk):
        Document.objects.filter(pk=document.pk).update(
            status=DocumentStatus.READY, chunk_count=3, token_count=9, pages=1, attempts=1
        )
    body = editor.get(document_path(document)).json()
    assert (body["status"], body["title"], body["source_type"], body["content_type"]) == (
        "ready",
        "Hours",
        "text",
        "text",
    )
    assert body["stats"] == {"pages": 1, "chunk_count": 3, "token_count": 9}
    assert (body["failure_reason"], body["original_filename"], body["source_url"]) == ("", "", "")

    chunks = editor.get(f"{document_path(document)}/chunks").json()
    assert [row["text"] for row in chunks["results"]] == ["Opening hours", "are nine to five", "on weekdays"]
    assert chunks["results"][1] == {
        "id": chunks["results"][1]["id"],
        "position": 1,
        "text": "are nine to five",
        "heading_path": "Guide > Part",
        "page_number": 2,
        "anchor": "#part-1",
        "token_count": 4,
    }
    paged = editor.get(f"{document_path(document)}/chunks?page_size=2").json()
    assert [row["position"] for row in paged["results"]] == [0, 1]
    assert [row["position"] for row in editor.get(paged["next"]).json()["results"]] == [2]

    reingested = editor.post(f"{document_path(document)}/reingest")
    assert reingested.status_code == 202, reingested.content
    assert reingested["Location"] == document_path(document)
    assert (reingested.json()["status"], reingested.json()["version"]) == ("queued", 2)
    # The old chunks answer searches until the new run replaces them.
    assert len(editor.get(f"{document_path(document)}/chunks").json()["results"]) == 3

    assert editor.delete(document_path(document)).status_code == 204
    assert_problem(editor.get(document_path(document)), 404)
    assert knowledge_rows(world)["chunks"] == 0


def test_a_document_is_only_found_under_its_own_knowledge_base(
    world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    document = add_text(world, knowledge_base, "Text")
    elsewhere = make_knowledge_base(world, name="Elsewhere")
    wrong = f"{documents_path(elsewhere)}/{document.pk}"
    assert_problem(editor.get(wrong), 404)
    assert_problem(editor.get(f"{wrong}/chunks"), 404)
    assert_problem(editor.post(f"{wrong}/reingest"), 404)
    assert_problem(editor.delete(wrong), 404)
    assert editor.get(document_path(document)).status_code == 200  # untouched
    assert_problem(editor.get(f"{documents_path(knowledge_base)}/{uuid.uuid4()}"), 404)
    assert_problem(editor.get(f"{documents_path(knowledge_base)}/not-a-uuid"), 404)


# --- roles and tenants -----------------------------------------------------------------------------------


def test_a_viewer_reads_and_searches_but_cannot_write(
    world: World, viewer: Client, knowledge_base: KnowledgeBase
) -> None:
    document = add_text(world, knowledge_base, "Text")
    kb_path = f"/api/v1/knowledge-bases/{knowledge_base.pk}"
    before = knowledge_rows(world)
    refused = [
        post_json(viewer, "/api/v1/knowledge-bases", {"name": "Mine"}),
        viewer.patch(kb_path, {"name": "Renamed"}, content_type="application/json"),
        viewer.delete(kb_path),
        post_json(viewer, documents_path(knowledge_base), {"text": "More text"}),
        multipart(viewer, documents_path(knowledge_base), "faq.md", FAQ),
        viewer.delete(document_path(document)),
        viewer.post(f"{document_path(document)}/reingest"),
    ]
    for response in refused:
        assert_problem(response, 403)
    assert knowledge_rows(world) == before
    for path in (
        "/api/v1/knowledge-bases",
        kb_path,
        documents_path(knowledge_base),
        document_path(document),
        f"{document_path(document)}/chunks",
    ):
        assert viewer.get(path).status_code == 200, path
    search = post_json(viewer, f"{kb_path}/search", {"query": "text", "mode": "full_text"})
    assert search.status_code == 200, search.content


def test_another_tenants_ids_are_404_on_every_route(
    world: World, other_world: World, editor: Client, knowledge_base: KnowledgeBase
) -> None:
    theirs = make_knowledge_base(other_world, name="Their base")
    their_document = add_text(other_world, theirs, "Their secret text")
    add_chunks(their_document, ["Their secret text"])
    mine = add_text(world, knowledge_base, "My text")
    before = knowledge_rows(other_world)
    kb_path = f"/api/v1/knowledge-bases/{theirs.pk}"
    for response in [
        editor.get(kb_path),
        editor.patch(kb_path, {"name": "Taken"}, content_type="application/json"),
        editor.delete(kb_path),
        editor.get(documents_path(theirs)),
        post_json(editor, documents_path(theirs), {"text": "Planted"}),
        multipart(editor, documents_path(theirs), "faq.md", FAQ),
        editor.get(document_path(their_document)),
        editor.delete(document_path(their_document)),
        editor.post(f"{document_path(their_document)}/reingest"),
        editor.get(f"{document_path(their_document)}/chunks"),
        post_json(editor, f"{kb_path}/search", {"query": "secret"}),
        # Their document under my knowledge base, and mine under theirs.
        editor.get(f"{documents_path(knowledge_base)}/{their_document.pk}"),
        editor.get(f"{documents_path(knowledge_base)}/{their_document.pk}/chunks"),
        editor.delete(f"{documents_path(knowledge_base)}/{their_document.pk}"),
        editor.get(f"{documents_path(theirs)}/{mine.pk}"),
    ]:
        assert_problem(response, 404)
    assert knowledge_rows(other_world) == before
    listing = editor.get("/api/v1/knowledge-bases").json()["results"]
    assert [row["id"] for row in listing] == [str(knowledge_base.pk)]


# --- search -------------------------------------------------------------------------------------------


def chunk_ids(world: World, document: Document) -> set[str]:
    with tenant_context(world.tenant.pk):
        return {str(pk) for pk in Chunk.objects.filter(document=document).values_list("pk", flat=True)}


RETURNS_TEXT = (
    "Returns policy\n\nYou can return any unworn item within 30 days of delivery for a full refund. "
    "Refunds reach your card within five working days."
)


@pytest.mark.parametrize("mode", ["vector", "full_text", "hybrid"])
def test_search_finds_the_ingested_passage_with_its_source(
    world: World, viewer: Client, knowledge_base: KnowledgeBase, mode: str
) -> None:
    document = ingested_text(world, knowledge_base, RETURNS_TEXT, "Returns")
    other = ingested_text(
        world, knowledge_base, "Our warehouse in Leeds ships orders every weekday.", "Shipping"
    )
    response = post_json(
        viewer, f"/api/v1/knowledge-bases/{knowledge_base.pk}/search", {"query": "refund", "mode": mode}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["mode"], body["top_k"]) == (mode, 5)
    assert body["results"], body
    best = body["results"][0]
    assert best["chunk_id"] in chunk_ids(world, document)
    assert set(best) == {
        "chunk_id",
        "text",
        "score",
        "document_id",
        "document_title",
        "source",
        "page_number",
        "anchor",
        "heading_path",
        "knowledge_base_id",
    }
    assert "30 days" in best["text"] and isinstance(best["score"], float)
    assert (best["document_id"], best["document_title"]) == (str(document.pk), "Returns")
    assert best["knowledge_base_id"] == str(knowledge_base.pk)
    returned = {row["chunk_id"] for row in body["results"]}
    assert returned <= chunk_ids(world, document) | chunk_ids(world, other)


def test_search_defaults_come_from_the_knowledge_base(world: World, viewer: Client) -> None:
    knowledge_base = make_knowledge_base(world, retrieval_top_k=1, retrieval_mode="full_text")
    ingested_text(world, knowledge_base, RETURNS_TEXT, "Returns")
    ingested_text(
        world, knowledge_base, "Refund requests for damaged goods go to the support team.", "Damage"
    )
    body = post_json(
        viewer, f"/api/v1/knowledge-bases/{knowledge_base.pk}/search", {"query": "refund"}
    ).json()
    assert (body["mode"], body["top_k"], len(body["results"])) == ("full_text", 1, 1)
    body = post_json(
        viewer, f"/api/v1/knowledge-bases/{knowledge_base.pk}/search", {"query": "refund", "top_k": 2}
    ).json()
    assert (body["top_k"], len(body["results"])) == (2, 2)


def test_search_never_returns_another_tenants_chunks(
    world: World, other_world: World, viewer: Client
) -> None:
    mine = make_knowledge_base(world)
    theirs = make_knowledge_base(other_world)  # the same name and the same text in another tenant
    my_document = ingested_text(world, mine, RETURNS_TEXT, "Returns")
    their_document = ingested_text(other_world, theirs, RETURNS_TEXT, "Returns")
    their_chunks = chunk_ids(other_world, their_document)
    assert their_chunks
    for mode in ("vector", "full_text", "hybrid"):
        body = post_json(
            viewer,
            f"/api/v1/knowledge-bases/{mine.pk}/search",
            {"query": "refund within 30 days", "mode": mode},
        ).json()
        returned = {row["chunk_id"] for row in body["results"]}
        assert returned and returned <= chunk_ids(world, my_document), mode
        assert not returned & their_chunks
        assert {row["knowledge_base_id"] for row in body["results"]} == {str(mine.pk)}
    assert_problem(post_json(viewer, f"/api/v1/knowledge-bases/{theirs.pk}/search", {"query": "refund"}), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 2001}, "query"),
        ({"query": "refund", "top_k": 0}, "top_k"),
        ({"query": "refund", "top_k": 101}, "top_k"),
        ({"query": "refund", "top_k": "many"}, "top_k"),
        ({"query": "refund", "mode": "fuzzy"}, "mode"),
        ({"query": "refund", "knowledge_base_ids": []}, "knowledge_base_ids"),
        ({"query": "refund", "score_threshold": 0.5}, "score_threshold"),
    ],
)
def test_bad_search_input_is_a_400_problem(
    viewer: Client, knowledge_base: KnowledgeBase, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        post_json(viewer, f"/api/v1/knowledge-bases/{knowledge_base.pk}/search", body), 400
    )
    assert field in problem["errors"], problem


# --- schema -------------------------------------------------------------------------------------------


def test_the_schema_documents_the_knowledge_endpoints_without_generator_warnings() -> None:
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    mine = [
        message
        for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        if "knowledge" in message.lower()
    ]
    GENERATOR_STATS.reset()
    assert mine == []
    schema = response.json()
    paths = schema["paths"]
    base = "/api/v1/knowledge-bases"
    document = f"{base}/{{id}}/documents/{{document_id}}"
    expected = {
        base: {"get", "post"},
        f"{base}/{{id}}": {"get", "patch", "delete"},
        f"{base}/{{id}}/documents": {"get", "post"},
        document: {"get", "delete"},
        f"{document}/reingest": {"post"},
        f"{document}/chunks": {"get"},
        f"{base}/{{id}}/search": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) - {"parameters"} == methods, path
    components = schema["components"]["schemas"]

    def component(reference: dict[str, str]) -> dict[str, Any]:
        found: dict[str, Any] = components[reference["$ref"].rsplit("/", 1)[1]]
        return found

    adding = paths[f"{base}/{{id}}/documents"]["post"]
    upload = component(adding["requestBody"]["content"]["multipart/form-data"]["schema"])
    assert upload["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": upload["properties"]["file"]["description"],
    }
    alternatives = component(adding["requestBody"]["content"]["application/json"]["schema"])["oneOf"]
    assert [set(component(option)["properties"]) for option in alternatives] == [
        {"text", "title"},
        {"url", "title"},
        {"crawl", "title"},
        {"qa", "title"},
    ]
    assert "202" in adding["responses"]
    listed = component(paths[base]["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"next", "previous", "results"} <= set(listed["properties"])
    knowledge_base = components["KnowledgeBaseOutput"]["properties"]
    assert {"counts", "switching_to", "embedding_model", "retrieval_mode"} <= set(knowledge_base)
    search = component(
        paths[f"{base}/{{id}}/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert set(search["properties"]) == {"query", "top_k", "mode"}
    assert {"pages", "chunk_count", "token_count"} == set(components["DocumentStatsOutput"]["properties"])
