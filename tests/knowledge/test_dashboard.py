"""The knowledge pages: the list, a new knowledge base, a knowledge base with its sources, documents,
test search and settings, and a document with its passages; read-only for viewers; uploads checked by
type and size; other tenants' ids are 404; everything from documents is shown escaped."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge import services
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from providers import services as provider_services
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.clients import member_client, text_of
from tests.knowledge.factories import add_text, ingest, make_knowledge_base
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

MARKDOWN = (
    b"# Returns\n\nYou can return any item within 30 days of delivery.\n\n"
    b"## Refunds\n\nRefunds reach your card in 5 days.\n"
)
CSV = b"sku,name,price\nA-100,Kettle,39\nA-200,Toaster,49\nA-300,Blender,89\n"
HOSTILE = "<script>alert('owned')</script>"


def documents_of(world: World, knowledge_base: KnowledgeBase) -> list[Document]:
    with tenant_context(world.tenant.pk):
        return list(Document.objects.filter(knowledge_base=knowledge_base).order_by("created_at"))


def kb_url(knowledge_base: KnowledgeBase, suffix: str = "") -> str:
    return f"/app/knowledge/{knowledge_base.pk}/{suffix}"


def doc_url(document: Document, suffix: str = "") -> str:
    return f"/app/knowledge/documents/{document.pk}/{suffix}"


def set_status(world: World, document: Document, status: str, **fields: Any) -> None:
    with tenant_context(world.tenant.pk):
        Document.objects.filter(pk=document.pk).update(status=status, **fields)


def upload(
    client: Client, knowledge_base: KnowledgeBase, name: str, content: bytes, *, xhr: bool = True
) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    headers = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"} if xhr else {}
    return client.post(
        kb_url(knowledge_base, "upload/"), {"file": SimpleUploadedFile(name, content)}, **headers
    )


# --- the list and a new knowledge base --------------------------------------------------------------


def test_the_list_is_an_invitation_to_create_the_first_knowledge_base(owner_client: Client) -> None:
    response = owner_client.get(reverse("dashboard:knowledge"))
    assert response.status_code == 200
    page = text_of(response)
    assert "No knowledge bases yet" in page
    assert "Create your first knowledge base" in page
    # The section is real now: the navigation no longer says "Soon" for it.
    html = response.content.decode()
    nav = html[html.index('aria-label="Main"') : html.index("gw-nav-heading")]
    knowledge_link = nav[nav.index("/app/knowledge/") : nav.index("/app/models/")]
    assert "Soon" not in knowledge_link and 'aria-current="page"' in knowledge_link


def test_the_list_shows_each_knowledge_base_with_its_counts_and_model(
    world: World, owner_client: Client
) -> None:
    knowledge_base = make_knowledge_base(world, description="Returns, refunds and shipping.")
    ready, failed, _queued = (add_text(world, knowledge_base, f"Text number {n}") for n in range(3))
    set_status(world, ready, DocumentStatus.READY, chunk_count=12)
    set_status(world, failed, DocumentStatus.FAILED, failure_reason="Unreadable.")
    make_knowledge_base(world, name="Product manuals")

    page = text_of(owner_client.get("/app/knowledge/"))
    assert "Help centre" in page and "Product manuals" in page
    assert "Returns, refunds and shipping." in page
    assert "3 documents" in page and "12 passages" in page
    assert "1 ready" in page and "1 in progress" in page and "1 failed" in page
    assert "all-MiniLM-L6-v2 (built-in)" in page
    assert "No documents yet" in page  # the second one


def test_the_new_knowledge_base_form_offers_the_enabled_embedding_models_with_the_default_chosen(
    world: World, owner_client: Client
) -> None:
    provider_services.model_settings_update(
        actor=world.actor(),
        enabled_models=["local:all-MiniLM-L6-v2", "openai:text-embedding-3-small"],
        default_embedding_model="openai:text-embedding-3-small",
    )
    html = owner_client.get("/app/knowledge/new/").content.decode()
    select = html[
        html.index('name="embedding_model"') : html.index("</select>", html.index('name="embedding_model"'))
    ]
    assert re.search(r'<option value="openai:text-embedding-3-small" selected>', select)
    assert "local:all-MiniLM-L6-v2" in select
    assert "text-embedding-3-large" not in select  # not enabled for this organisation
    assert "1,536 dimensions" in select


def test_creating_a_knowledge_base_opens_it(world: World, owner_client: Client) -> None:
    response = owner_client.post(
        "/app/knowledge/new/",
        {
            "name": "Help centre",
            "description": "What support answers from.",
            "embedding_model": "local:all-MiniLM-L6-v2",
            "chunk_size_tokens": 300,
            "chunk_overlap_tokens": 40,
            "retrieval_top_k": 6,
            "retrieval_score_threshold": 0.2,
            "retrieval_mode": "vector",
        },
    )
    with tenant_context(world.tenant.pk):
        knowledge_base = KnowledgeBase.objects.get(name="Help centre")
    assert response.status_code == 302
    assert response["Location"] == f"/app/knowledge/{knowledge_base.pk}/#add-sources"
    assert (knowledge_base.chunk_size_tokens, knowledge_base.retrieval_top_k) == (300, 6)
    assert knowledge_base.retrieval_mode == "vector" and knowledge_base.embedding_dimensions == 384
    page = text_of(owner_client.get(response["Location"]))
    assert "Created Help centre" in page and "Add sources" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"chunk_overlap_tokens": 300}, "Overlap must be at least 0 and less than half the chunk size."),
        ({"chunk_size_tokens": 10}, "Ensure this value is greater than or equal to 50."),
        ({"embedding_model": "openai:gpt-4o-mini"}, "Select a valid choice."),
    ],
)
def test_a_new_knowledge_base_with_bad_settings_shows_why(
    owner_client: Client, changes: dict[str, Any], message: str
) -> None:
    data = {
        "name": "Help centre",
        "embedding_model": "local:all-MiniLM-L6-v2",
        "chunk_size_tokens": 400,
        "chunk_overlap_tokens": 60,
        "retrieval_top_k": 5,
        "retrieval_score_threshold": 0,
        "retrieval_mode": "hybrid",
        **changes,
    }
    response = owner_client.post("/app/knowledge/new/", data)
    assert response.status_code == 400
    assert message in text_of(response)


def test_a_duplicate_name_is_refused_on_the_form(world: World, owner_client: Client) -> None:
    make_knowledge_base(world)
    response = owner_client.post(
        "/app/knowledge/new/",
        {
            "name": "Help centre",
            "embedding_model": "local:all-MiniLM-L6-v2",
            "chunk_size_tokens": 400,
            "chunk_overlap_tokens": 60,
            "retrieval_top_k": 5,
            "retrieval_score_threshold": 0,
            "retrieval_mode": "hybrid",
        },
    )
    assert response.status_code == 400
    assert "Already used." in text_of(response)


# --- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.EDITOR, Role.VIEWER])
def test_every_page_renders_for_every_member(world: World, role: Role) -> None:
    client = Client()
    client.force_login(world.owner if role == Role.OWNER else world.add_member(role).user)
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "# Shipping\n\nWe ship worldwide.", title="Shipping")
    for path in (
        "/app/knowledge/",
        kb_url(knowledge_base),
        doc_url(document),
        doc_url(document, "row/"),
        doc_url(document, "status/"),
        kb_url(knowledge_base, "reindex/"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
    page = text_of(client.get(kb_url(knowledge_base)))
    assert "Shipping" in page and "Test search" in page
    new_page = client.get("/app/knowledge/new/")
    assert new_page.status_code == (403 if role == Role.VIEWER else 200)


def test_a_viewer_sees_no_write_controls(world: World) -> None:
    viewer = member_client(world, Role.VIEWER)
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Notes")
    html = viewer.get(kb_url(knowledge_base)).content.decode()
    for control in (
        "data-upload-form",
        'id="add-sources"',
        "/upload/",
        "/add/url/",
        "/add/text/",
        "/reingest/",
        "/delete/",
        kb_url(knowledge_base, "settings/"),
        "Save settings",
        "New knowledge base",
        'data-bs-toggle="modal"',
    ):
        assert control not in html, control
    assert "Only editors and above can change knowledge bases." in text_of(viewer.get(kb_url(knowledge_base)))
    assert 'action="/app/knowledge/' + str(knowledge_base.pk) + '/#test-search"' in html  # search stays
    list_html = viewer.get("/app/knowledge/").content.decode()
    assert "/app/knowledge/new/" not in list_html
    document_html = viewer.get(doc_url(document)).content.decode()
    assert "/reingest/" not in document_html and "/delete/" not in document_html


def test_a_viewer_cannot_write_anything(world: World) -> None:
    viewer = member_client(world, Role.VIEWER)
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Notes")
    attempts = [
        ("/app/knowledge/new/", {"name": "Sneaky", "embedding_model": "local:all-MiniLM-L6-v2"}),
        (kb_url(knowledge_base, "settings/"), {"name": "Renamed"}),
        (kb_url(knowledge_base, "add/url/"), {"url": "https://docs.example.test/"}),
        (kb_url(knowledge_base, "add/crawl/"), {"url": "https://docs.example.test/", "max_pages": 5}),
        (kb_url(knowledge_base, "add/text/"), {"text": "More text"}),
        (kb_url(knowledge_base, "add/qa/"), {"question": ["Q"], "answer": ["A"]}),
        (doc_url(document, "reingest/"), {}),
        (doc_url(document, "delete/"), {}),
        (kb_url(knowledge_base, "delete/"), {}),
    ]
    for path, data in attempts:
        assert viewer.post(path, data).status_code == 403, path
    assert upload(viewer, knowledge_base, "guide.md", MARKDOWN).status_code == 403
    with tenant_context(world.tenant.pk):
        assert KnowledgeBase.objects.get(pk=knowledge_base.pk).name == "Help centre"
        assert Document.objects.filter(knowledge_base=knowledge_base).count() == 1
        assert Document.objects.get(pk=document.pk).version == 1


def test_an_editor_can_build_knowledge(world: World) -> None:
    editor = member_client(world, Role.EDITOR)
    knowledge_base = make_knowledge_base(world)
    response = editor.post(
        kb_url(knowledge_base, "add/text/"), {"title": "Notes", "text": "Opening hours: 9 to 5."}
    )
    assert response.status_code == 302
    assert [d.title for d in documents_of(world, knowledge_base)] == ["Notes"]


# --- adding sources ---------------------------------------------------------------------------------


def test_a_web_page_is_added(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    response = owner_client.post(kb_url(knowledge_base, "add/url/"), {"url": "docs.example.test/returns"})
    assert response.status_code == 302 and response["Location"].endswith("#documents")
    [document] = documents_of(world, knowledge_base)
    assert (document.source_type, document.source_url) == ("url", "https://docs.example.test/returns")
    assert document.status == DocumentStatus.QUEUED
    page = text_of(owner_client.get(response["Location"]))
    assert "is being processed now" in page and "Re-sync" in page and "Waiting for a worker" in page


def test_a_refused_address_is_explained_on_its_tab(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    response = owner_client.post(kb_url(knowledge_base, "add/url/"), {"url": "http://127.0.0.1/admin"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="nav-link active" id="tab-url"' in html
    assert "127.0.0.1" in text_of(response) and documents_of(world, knowledge_base) == []


def test_a_site_crawl_is_added_with_its_page_limit(world: World, owner_client: Client, settings: Any) -> None:
    settings.CRAWL_MAX_PAGES_LIMIT = 100
    knowledge_base = make_knowledge_base(world)
    too_many = owner_client.post(
        kb_url(knowledge_base, "add/crawl/"), {"url": "https://docs.example.test/", "max_pages": 500}
    )
    assert too_many.status_code == 400 and "A crawl reads at most 100 pages." in text_of(too_many)
    response = owner_client.post(
        kb_url(knowledge_base, "add/crawl/"), {"url": "https://docs.example.test/", "max_pages": 25}
    )
    assert response.status_code == 302
    [document] = documents_of(world, knowledge_base)
    assert (document.source_type, document.crawl_max_pages) == ("crawl", 25)
    assert document.title == "Crawl of https://docs.example.test/"


def test_pasted_text_is_added(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    empty = owner_client.post(kb_url(knowledge_base, "add/text/"), {"title": "Nothing", "text": "   "})
    assert empty.status_code == 400 and "Paste some text to add." in text_of(empty)
    assert 'class="nav-link active" id="tab-text"' in empty.content.decode()
    response = owner_client.post(
        kb_url(knowledge_base, "add/text/"), {"title": "", "text": "Opening hours\n\nWe open at nine."}
    )
    assert response.status_code == 302
    [document] = documents_of(world, knowledge_base)
    assert (document.source_type, document.title) == ("text", "Opening hours")


def test_question_and_answer_pairs_are_added(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    half = owner_client.post(
        kb_url(knowledge_base, "add/qa/"),
        {"question": ["Do you ship abroad?", "Gift wrap?"], "answer": ["Yes.", ""]},
    )
    assert half.status_code == 400
    assert "Pair 2 needs both a question and an answer." in text_of(half)
    assert 'value="Gift wrap?"' in half.content.decode()  # the rows come back as typed
    response = owner_client.post(
        kb_url(knowledge_base, "add/qa/"),
        {
            "title": "Shipping FAQ",
            "question": ["Do you ship abroad?", "Gift wrap?"],
            "answer": ["Yes.", "No."],
        },
    )
    assert response.status_code == 302
    [document] = documents_of(world, knowledge_base)
    assert document.source_type == "qa" and document.title == "Shipping FAQ"
    assert json.loads(document.source_text) == [
        {"question": "Do you ship abroad?", "answer": "Yes."},
        {"question": "Gift wrap?", "answer": "No."},
    ]


def test_an_upload_from_the_script_answers_with_the_new_row(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    response = upload(owner_client, knowledge_base, "returns-policy.md", MARKDOWN)
    assert response.status_code == 201
    body = response.json()
    [document] = documents_of(world, knowledge_base)
    assert (document.title, document.original_filename, document.content_type) == (
        "returns-policy",
        "returns-policy.md",
        "markdown",
    )
    assert body["title"] == "returns-policy"
    assert f'id="document-{document.pk}"' in body["row"]
    assert 'hx-trigger="every 2s"' in body["row"]  # the new row polls its progress at once


def test_several_files_upload_without_script_too(world: World, owner_client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    knowledge_base = make_knowledge_base(world)
    response = owner_client.post(
        kb_url(knowledge_base, "upload/"),
        {"file": [SimpleUploadedFile("guide.md", MARKDOWN), SimpleUploadedFile("prices.csv", CSV)]},
    )
    assert response.status_code == 302
    assert sorted(d.content_type for d in documents_of(world, knowledge_base)) == ["csv", "markdown"]
    assert "Added “guide”, “prices”." in text_of(owner_client.get(response["Location"]))


def test_an_upload_whose_name_lies_about_its_type_is_refused_readably(
    world: World, owner_client: Client
) -> None:
    knowledge_base = make_knowledge_base(world)
    response = upload(owner_client, knowledge_base, "report.pdf", MARKDOWN)
    assert response.status_code == 400
    assert response.json()["error"] == (
        '"report.pdf" is named as a PDF document but contains a Markdown document; '
        "upload the original file or give it the right extension."
    )
    plain = upload(owner_client, knowledge_base, "report.pdf", MARKDOWN, xhr=False)
    assert plain.status_code == 400 and "is named as a PDF document" in text_of(plain)
    image = upload(owner_client, knowledge_base, "photo.md", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    assert image.status_code == 400 and "a PNG image" in image.json()["error"]
    assert documents_of(world, knowledge_base) == []


def test_the_same_file_twice_is_refused(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    assert upload(owner_client, knowledge_base, "guide.md", MARKDOWN).status_code == 201
    again = upload(owner_client, knowledge_base, "copy.md", MARKDOWN)
    assert again.status_code == 409
    assert again.json()["error"] == "This file is already in the knowledge base as “guide”."


def test_an_oversized_upload_is_stopped_while_it_streams_in(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_FILE_BYTES = 1_048_576
    knowledge_base = make_knowledge_base(world)
    over = MARKDOWN + b"More text about returns.\n" * 42_000  # just over 1 MB
    response = upload(owner_client, knowledge_base, "big.md", over)
    assert response.status_code == 413
    # The message is the domain's (knowledge.uploads.limit_message), naming the file and the limit.
    message = response.json()["error"]
    assert re.fullmatch(
        r'"big\.md" is larger than the 1(\.0)?\sMB limit; split it or compress its images\.', message
    )
    plain = upload(owner_client, knowledge_base, "big.md", over, xhr=False)
    assert plain.status_code == 413 and "big.md&quot; is larger than the 1" in text_of(plain)
    # A body far over the limit is refused from its declared length, before any of it is read.
    far_over = upload(owner_client, knowledge_base, "huge.md", over * 2)
    assert far_over.status_code == 413 and "MB limit" in far_over.json()["error"]
    assert documents_of(world, knowledge_base) == []


def test_the_upload_checks_csrf_itself_after_installing_the_size_limit(world: World, settings: Any) -> None:
    """The CSRF middleware would parse the body (to find the form's token) before the view could
    install the size limit; so the view is exempt from it and runs the same check itself, after."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.KNOWLEDGE_MAX_FILE_BYTES = 1_048_576
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.owner)
    knowledge_base = make_knowledge_base(world)
    refused = client.post(kb_url(knowledge_base, "upload/"), {"file": SimpleUploadedFile("a.md", MARKDOWN)})
    assert refused.status_code == 403
    client.get(kb_url(knowledge_base))  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        kb_url(knowledge_base, "upload/"),
        {"file": SimpleUploadedFile("a.md", MARKDOWN)},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert accepted.status_code == 201
    # With the CSRF check enforced, a file over the limit is still stopped by the streaming limit (413),
    # not stored and then refused by the service (400).
    oversized = client.post(
        kb_url(knowledge_base, "upload/"),
        {"file": SimpleUploadedFile("big.md", MARKDOWN + b"More text.\n" * 100_000)},
        HTTP_X_CSRFTOKEN=token,
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",
    )
    assert oversized.status_code == 413 and "big.md" in oversized.json()["error"]


# --- documents: rows, progress, re-ingest, delete ---------------------------------------------------


def test_a_pending_row_polls_and_shows_its_stages_until_it_is_done(
    world: World, owner_client: Client
) -> None:
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Notes")
    progress = {
        "stage": "embed",
        "stages": {
            "fetch": {"state": "done", "seconds": 0.01},
            "parse": {"state": "done", "seconds": 0.02},
            "chunk": {"state": "done", "seconds": 0.01},
            "embed": {"state": "running", "done": 64, "total": 300},
            "store": {"state": "waiting"},
        },
    }
    set_status(world, document, DocumentStatus.PROCESSING, progress=progress)
    html = owner_client.get(doc_url(document, "row/")).content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Embedding 64 of 300" in html
    assert html.count("gw-stage gw-stage-done") == 3 and "gw-stage gw-stage-running" in html
    stats = html[html.index("<template>") :]
    assert 'id="kb-stats"' in stats and 'hx-swap-oob="true"' in stats  # the counts follow along
    status = owner_client.get(doc_url(document, "status/"))
    assert "HX-Refresh" not in status and "64 / 300" in text_of(status)

    set_status(world, document, DocumentStatus.READY, chunk_count=3, pages=1)
    html = owner_client.get(doc_url(document, "row/")).content.decode()
    assert "hx-trigger" not in html.split("</tr>")[0]  # polling stops by itself
    assert "Ready" in html
    assert owner_client.get(doc_url(document, "status/"))["HX-Refresh"] == "true"


def test_a_failed_document_shows_its_reason_in_its_row(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Scan")
    stopped = {
        "stage": "failed",
        "stages": {"fetch": {"state": "done", "seconds": 0.1}, "parse": {"state": "running"}},
    }
    set_status(
        world,
        document,
        DocumentStatus.FAILED,
        failure_reason="This PDF has no text layer; run OCR first.",
        progress=stopped,
    )
    page = text_of(owner_client.get(kb_url(knowledge_base)))
    assert "Failed" in page and "This PDF has no text layer; run OCR first." in page
    assert "Re-ingest" in page
    document_page = owner_client.get(doc_url(document))
    assert "Why it failed: This PDF has no text layer" in text_of(document_page)
    assert "Parse Stopped here" in text_of(document_page)  # the stage it stopped in, not a spinner
    assert 'hx-trigger="every 2s"' not in document_page.content.decode()


def test_reingesting_queues_the_document_again(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Notes")
    set_status(world, document, DocumentStatus.READY)
    row = owner_client.post(doc_url(document, "reingest/"), HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and 'hx-trigger="every 2s"' in row.content.decode()
    [again] = documents_of(world, knowledge_base)
    assert (again.status, again.version) == (DocumentStatus.QUEUED, 2)
    set_status(world, document, DocumentStatus.READY)
    response = owner_client.post(doc_url(document, "reingest/"), {"return_to": "document"})
    assert response.status_code == 302 and response["Location"] == doc_url(document)
    assert "Re-ingesting “Notes”." in text_of(owner_client.get(response["Location"]))


def test_deleting_a_document_removes_it_and_its_chunks(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    document = add_text(world, knowledge_base, "Some text", title="Old policy")
    html = owner_client.get(kb_url(knowledge_base)).content.decode()
    assert 'data-bs-target="#delete-document-modal"' in html and "onclick" not in html
    response = owner_client.post(doc_url(document, "delete/"))
    assert response.status_code == 302 and response["Location"] == kb_url(knowledge_base) + "#documents"
    assert documents_of(world, knowledge_base) == []
    assert "Deleted “Old policy”" in text_of(owner_client.get(response["Location"]))


def test_deleting_a_knowledge_base(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    add_text(world, knowledge_base, "Some text")
    response = owner_client.post(kb_url(knowledge_base, "delete/"))
    assert response.status_code == 302 and response["Location"] == "/app/knowledge/"
    with tenant_context(world.tenant.pk):
        assert not KnowledgeBase.objects.exists() and not Document.objects.exists()
        assert AuditEvent.objects.filter(action="knowledge_base.deleted").exists()


# --- settings ---------------------------------------------------------------------------------------


def test_settings_are_saved(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    response = owner_client.post(
        kb_url(knowledge_base, "settings/"),
        {
            "name": "Support answers",
            "description": "Updated",
            "embedding_model": "local:all-MiniLM-L6-v2",
            "chunk_size_tokens": 250,
            "chunk_overlap_tokens": 30,
            "retrieval_top_k": 8,
            "retrieval_score_threshold": 0.3,
            "retrieval_mode": "full_text",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("#settings")
    with tenant_context(world.tenant.pk):
        saved = KnowledgeBase.objects.get(pk=knowledge_base.pk)
    assert (saved.name, saved.chunk_size_tokens, saved.retrieval_mode) == (
        "Support answers",
        250,
        "full_text",
    )
    assert saved.building_index_version is None  # the same model: nothing to re-embed


def test_bad_settings_are_shown_on_the_settings_form(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    response = owner_client.post(
        kb_url(knowledge_base, "settings/"),
        {
            "name": "Help centre",
            "embedding_model": "local:all-MiniLM-L6-v2",
            "chunk_size_tokens": 100,
            "chunk_overlap_tokens": 60,
            "retrieval_top_k": 5,
            "retrieval_score_threshold": 0,
            "retrieval_mode": "hybrid",
        },
    )
    assert response.status_code == 400
    assert "Overlap must be at least 0 and less than half the chunk size." in text_of(response)


def test_changing_the_embedding_model_shows_the_switch_while_it_runs(
    world: World, owner_client: Client
) -> None:
    provider_services.model_settings_update(
        actor=world.actor(), enabled_models=["local:all-MiniLM-L6-v2", "openai:text-embedding-3-small"]
    )
    knowledge_base = make_knowledge_base(world)
    ready = add_text(world, knowledge_base, "Some text", title="Ready one")
    set_status(world, ready, DocumentStatus.READY)
    response = owner_client.post(
        kb_url(knowledge_base, "settings/"),
        {
            "name": "Help centre",
            "embedding_model": "openai:text-embedding-3-small",
            "chunk_size_tokens": 400,
            "chunk_overlap_tokens": 60,
            "retrieval_top_k": 5,
            "retrieval_score_threshold": 0,
            "retrieval_mode": "hybrid",
        },
    )
    assert response.status_code == 302
    page = text_of(owner_client.get(response["Location"]))
    assert "Re-embedding every document with text-embedding-3-small" in page
    assert "Switching to text-embedding-3-small: 0 of 1 documents" in page
    banner = owner_client.get(kb_url(knowledge_base, "reindex/"))
    assert 'hx-trigger="every 3s"' in banner.content.decode() and "HX-Refresh" not in banner
    with tenant_context(world.tenant.pk):
        KnowledgeBase.objects.filter(pk=knowledge_base.pk).update(
            building_index_version=None, building_embedding_model="", building_embedding_dimensions=None
        )
    assert owner_client.get(kb_url(knowledge_base, "reindex/"))["HX-Refresh"] == "true"


# --- another tenant's ids -----------------------------------------------------------------------------


def test_another_tenants_knowledge_is_not_found(
    world: World, other_world: World, owner_client: Client
) -> None:
    theirs = make_knowledge_base(other_world, name="Globex secrets")
    their_document = add_text(other_world, theirs, "Globex internal pricing", title="Pricing")
    for path in (
        kb_url(theirs),
        kb_url(theirs, "search/?query=pricing"),
        kb_url(theirs, "reindex/"),
        doc_url(their_document),
        doc_url(their_document, "row/"),
        doc_url(their_document, "status/"),
    ):
        assert owner_client.get(path).status_code == 404, path
    for path in (
        kb_url(theirs, "settings/"),
        kb_url(theirs, "delete/"),
        kb_url(theirs, "add/text/"),
        kb_url(theirs, "add/url/"),
        kb_url(theirs, "add/crawl/"),
        kb_url(theirs, "add/qa/"),
        doc_url(their_document, "reingest/"),
        doc_url(their_document, "delete/"),
    ):
        assert owner_client.post(path, {"text": "x", "name": "x"}).status_code == 404, path
    assert upload(owner_client, theirs, "guide.md", MARKDOWN).status_code == 404
    assert owner_client.get(f"/app/knowledge/{uuid.uuid4()}/").status_code == 404
    assert "Globex" not in owner_client.get("/app/knowledge/").content.decode()
    with tenant_context(other_world.tenant.pk):
        assert Document.objects.filter(knowledge_base=theirs).count() == 1


# --- test search and untrusted text -------------------------------------------------------------------


@pytest.fixture
def indexed(world: World) -> tuple[KnowledgeBase, Document]:
    """A knowledge base with one document ingested by the real pipeline (built-in embedding model)."""
    knowledge_base = make_knowledge_base(world)
    document = add_text(
        world,
        knowledge_base,
        "# Returns\n\nYou can return any item within 30 days of delivery for a full refund.\n\n"
        "## Damaged items\n\nPhotograph the damage and write to support; we send a courier.\n\n"
        f"## Odd markup\n\nSome pages quote {HOSTILE} literally, and <b>bold</b> text too.\n",
        title=f"Returns policy {HOSTILE}",
    )
    ingest(world, document)
    return knowledge_base, document


def test_the_search_fragment_shows_passages_with_score_and_source(
    world: World, owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    knowledge_base, document = indexed
    response = owner_client.get(
        kb_url(knowledge_base, "search/"),
        {"query": "how long do I have to return an item", "mode": "vector", "top_k": 2},
    )
    assert response.status_code == 200
    html = response.content.decode()
    page = text_of(response)
    assert "within 30 days of delivery" in page
    # A rank and the relevance in words beside a bar, not a raw score (which stays in the tooltip).
    assert re.search(r"Rank #1\b", page) and re.search(r"Rank #2\b", page)
    similar = re.findall(r"Relevance: (\d{1,3})% similar", page)
    assert len(similar) == 2 and int(similar[0]) >= int(similar[1]) > 0
    assert f'<progress class="gw-bar gw-relevance-bar" max="100" value="{similar[0]}"' in html
    assert re.search(r'title="Cosine similarity between the question and the passage: 0\.\d{3}"', html)
    assert f'href="/app/knowledge/documents/{document.pk}/"' in html
    assert "Returns" in page  # the heading path
    assert html.count('class="gw-result"') == 2

    full_text = text_of(
        owner_client.get(kb_url(knowledge_base, "search/"), {"query": "courier", "mode": "full_text"})
    )
    # A full-text rank means something only beside the others: the first is the best match.
    assert "we send a courier" in full_text and "Relevance: best match" in full_text


def test_comparing_all_three_modes_side_by_side(
    owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    knowledge_base, _ = indexed
    response = owner_client.get(
        kb_url(knowledge_base, "search/"), {"query": "refund", "compare": "on", "top_k": 3}
    )
    html = response.content.decode()
    assert "gw-results-compare" in html
    for label in ("Vector (meaning)", "Full text (words)", "Hybrid (both, fused)"):
        assert label in html


def test_an_empty_question_says_what_to_do(
    owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    knowledge_base, _ = indexed
    response = owner_client.get(kb_url(knowledge_base, "search/"), {"query": ""})
    assert response.status_code == 200 and "This field is required." in text_of(response)


def test_search_works_without_script_on_the_page_itself(
    owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    knowledge_base, _ = indexed
    page = text_of(owner_client.get(kb_url(knowledge_base), {"query": "courier", "mode": "full_text"}))
    assert "we send a courier" in page


def test_text_from_documents_is_always_escaped(
    world: World, owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    knowledge_base, document = indexed
    escaped = "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;"
    with tenant_context(world.tenant.pk):
        assert Chunk.objects.filter(document=document, text__contains=HOSTILE).exists()
    pages = {
        "knowledge base": owner_client.get(kb_url(knowledge_base)),
        "document": owner_client.get(doc_url(document)),
        "row": owner_client.get(doc_url(document, "row/")),
        "search": owner_client.get(
            kb_url(knowledge_base, "search/"), {"query": "pages quote script", "mode": "full_text"}
        ),
        "list": owner_client.get("/app/knowledge/"),
    }
    for name, response in pages.items():
        html = response.content.decode()
        assert HOSTILE not in html, name
        assert "<b>bold</b>" not in html, name
    for name in ("knowledge base", "document", "row", "search"):
        assert escaped in pages[name].content.decode(), name
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages["document"].content.decode()


def test_the_document_page_lists_its_passages_in_order(
    owner_client: Client, indexed: tuple[KnowledgeBase, Document]
) -> None:
    _, document = indexed
    response = owner_client.get(doc_url(document))
    page = text_of(response)
    assert "Passages 3" in page
    assert page.index("#1") < page.index("#2") < page.index("#3")
    assert "Returns &gt; Damaged items" in page
    assert "tokens" in page and "Ready since" in page
    for stage in ("Fetch", "Parse", "Split", "Embed", "Store"):
        assert stage in page


def test_a_web_source_links_out_safely(world: World, owner_client: Client) -> None:
    knowledge_base = make_knowledge_base(world)
    document = services.document_add_url(
        actor=world.actor(),
        knowledge_base_id=knowledge_base.pk,
        url="https://docs.example.test/returns?a=1&b=2",
    )
    html = owner_client.get(doc_url(document)).content.decode()
    link = '<a href="https://docs.example.test/returns?a=1&amp;b=2" rel="noopener noreferrer nofollow"'
    assert link in html
