"""Dashboard pages for knowledge bases: the list, a knowledge base with its documents, sources to add,
a test search and its settings, and one document with its chunks.

Views stay thin: they validate a form, call a service or selector, and render or redirect. What a
document's ``progress`` record means for people (stages, percentages, timings) is worked out here, in
plain dictionaries the templates show. Everything that came from a document (titles, file names, URLs,
chunk text) is untrusted: the templates rely on Django's autoescaping and never mark it safe.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from core.errors import GroundworkError
from core.uploads import UploadTooLarge
from knowledge import selectors, services
from knowledge.forms import CrawlForm, KnowledgeBaseForm, QaForm, SearchForm, TextForm, UrlForm
from knowledge.ingestion.sniff import SUPPORTED_TYPES_SENTENCE
from knowledge.models import Document, DocumentStatus, KnowledgeBase, RetrievalMode, SourceType
from knowledge.retrieval import SearchResult
from knowledge.uploads import limit_knowledge_uploads
from providers import selectors as provider_selectors
from tenants.models import Role
from tenants.views_base import TenantView, form_with_errors

DOCUMENTS_PER_PAGE = 50
CHUNKS_PER_PAGE = 50
UPLOAD_ACCEPT = ".pdf,.docx,.html,.htm,.md,.markdown,.txt,.csv,.tsv"

# --- presentation -----------------------------------------------------------------------------------

STAGES = services.STAGES
STAGE_LABELS = {"fetch": "Fetch", "parse": "Parse", "chunk": "Chunk", "embed": "Embed", "store": "Store"}
# How much of the bar each stage fills: embedding is where the time goes.
STAGE_WEIGHTS = {"fetch": 15, "parse": 10, "chunk": 5, "embed": 60, "store": 10}
PENDING = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)

FILE_ICONS = {
    "pdf": "file-earmark-pdf",
    "docx": "file-earmark-word",
    "html": "filetype-html",
    "markdown": "markdown",
    "csv": "filetype-csv",
    "text": "file-earmark-text",
}
SOURCE_ICONS: dict[str, str] = {
    SourceType.URL: "globe2",
    SourceType.CRAWL: "diagram-3",
    SourceType.TEXT: "textarea-t",
    SourceType.QA: "patch-question",
}
CONTENT_TYPE_LABELS = {
    "pdf": "PDF",
    "docx": "Word document",
    "html": "HTML",
    "markdown": "Markdown",
    "text": "Plain text",
    "csv": "CSV table",
    "qa": "Questions and answers",
}
MODE_LABELS: dict[str, str] = {
    RetrievalMode.VECTOR: "Vector",
    RetrievalMode.FULL_TEXT: "Full text",
    RetrievalMode.HYBRID: "Hybrid",
}
MODE_SCORES: dict[str, str] = {
    RetrievalMode.VECTOR: "similarity",
    RetrievalMode.FULL_TEXT: "word match",
    RetrievalMode.HYBRID: "fused rank",
}


def _number(value: Any) -> float | None:
    """A number from the progress record (JSON written by the pipeline), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def web_link(url: str) -> str:
    """``url`` if it is an http(s) address a link may point at, else "" (shown as text instead)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def _stage_running_text(document: Document, name: str, done: float | None, total: float | None) -> str:
    counted = done is not None and total
    if name == "fetch":
        if document.source_type == SourceType.CRAWL:
            return f"Crawled {int(done or 0)} of {int(total or 0)} pages" if counted else "Crawling the site"
        if document.source_type == SourceType.URL:
            return "Fetching the page"
        return "Reading the source"
    if name == "embed" and counted:
        return f"Embedding {int(done or 0):,} of {int(total or 0):,}"
    return {
        "parse": "Extracting the text",
        "chunk": "Splitting into passages",
        "embed": "Embedding passages",
        "store": "Saving to the index",
    }.get(name, "Working")


def present_document(document: Document) -> dict[str, Any]:
    """A document with what its row and page show: icon, status, progress by stage, actions."""
    raw: dict[str, Any] = document.progress if isinstance(document.progress, dict) else {}
    recorded: dict[str, Any] = raw["stages"] if isinstance(raw.get("stages"), dict) else {}
    ready = document.status == DocumentStatus.READY
    stages = []
    filled = 0.0
    current_text = ""
    total_seconds = 0.0
    for name in STAGES:
        info: dict[str, Any] = recorded[name] if isinstance(recorded.get(name), dict) else {}
        state = str(info.get("state") or ("done" if ready else "waiting"))
        done, total, seconds = (
            _number(info.get("done")),
            _number(info.get("total")),
            _number(info.get("seconds")),
        )
        if state == "running" and document.status == DocumentStatus.FAILED:
            state = "failed"  # the stage the run stopped in
        if state == "done":
            fraction = 1.0
        elif state == "running":
            fraction = min(1.0, done / total) if done is not None and total else 0.1
            current_text = _stage_running_text(document, name, done, total)
        else:
            fraction = 0.0
        filled += STAGE_WEIGHTS[name] * fraction
        total_seconds += seconds or 0.0
        stages.append(
            {
                "name": name,
                "label": STAGE_LABELS[name],
                "state": state if state in ("done", "running", "failed") else "waiting",
                "done": int(done) if done is not None else None,
                "total": int(total) if total is not None else None,
                "seconds": seconds,
                "percent": int(fraction * 100),
            }
        )
    if document.status == DocumentStatus.QUEUED:
        percent, current_text = 0, "Waiting for a worker"
    elif document.status == DocumentStatus.PROCESSING:
        percent = max(3, min(99, int(filled)))
        current_text = current_text or "Starting"
    else:
        percent = 100 if ready else int(filled)
    is_web = document.is_web_source
    title = document.title
    if is_web and title == document.source_url:
        title = re.sub(r"^https?://", "", title)  # a page named by its address: the address, read easily
    return {
        "document": document,
        "title": title,
        "icon": (
            FILE_ICONS.get(document.content_type, "file-earmark")
            if document.source_type == SourceType.FILE
            else SOURCE_ICONS.get(document.source_type, "file-earmark")
        ),
        "is_pending": document.status in PENDING,
        "percent": percent,
        "current_text": current_text,
        "stages": stages,
        "total_seconds": round(total_seconds, 2) if total_seconds else None,
        "source_link": web_link(document.source_url) if is_web else "",
        "reingest_label": "Re-sync" if is_web else "Re-ingest",
        "content_type_label": CONTENT_TYPE_LABELS.get(document.content_type, document.content_type),
    }


def present_result(result: SearchResult, rank: int, mode: str, source_type: str = "") -> dict[str, Any]:
    """A search result with its place, a readable score, and where it came from (a link only to an
    http(s) address: a crawled page, or a web page with the passage's fragment; pasted text and Q&A,
    which have no file or address, are named by their kind)."""
    anchor = result.anchor
    page_url = web_link(anchor)
    source_url = web_link(result.source)
    if page_url:
        link = page_url
    elif source_url:
        link = source_url + anchor if anchor.startswith("#") else source_url
    else:
        link = ""
    location = [f"page {result.page_number}"] if result.page_number else []
    if anchor.startswith("#") and not link:
        location.append(anchor)  # a section of an uploaded HTML file
    kind = SourceType(source_type).label if source_type in SourceType.values else "Document"
    return {
        "result": result,
        "rank": rank,
        "score_label": MODE_SCORES.get(mode, "score"),
        "link": link,
        "source": link or result.source or kind,
        "source_icon": "link-45deg" if link else SOURCE_ICONS.get(source_type, "file-earmark-text"),
        "location": " · ".join(location),
        "headings": [part.strip() for part in result.heading_path.split(" > ") if part.strip()],
    }


def present_knowledge_base(knowledge_base: KnowledgeBase, model_names: dict[str, str]) -> dict[str, Any]:
    total = getattr(knowledge_base, "document_total", 0) or 0
    ready = getattr(knowledge_base, "documents_ready", 0) or 0
    pending = getattr(knowledge_base, "documents_pending", 0) or 0
    failed = getattr(knowledge_base, "documents_failed", 0) or 0

    def share(count: int) -> int:
        return round(100 * count / total) if total else 0

    return {
        "knowledge_base": knowledge_base,
        "model_name": model_names.get(knowledge_base.embedding_model, knowledge_base.embedding_model),
        "building_model_name": model_names.get(
            knowledge_base.building_embedding_model, knowledge_base.building_embedding_model
        ),
        "documents": total,
        "ready": ready,
        "pending": pending,
        "failed": failed,
        "chunks": getattr(knowledge_base, "chunk_total", 0) or 0,
        "ready_share": share(ready),
        "pending_share": share(pending),
        "failed_share": share(failed),
        "mode_label": MODE_LABELS.get(knowledge_base.retrieval_mode, knowledge_base.retrieval_mode),
    }


def _page(items: Any, number: Any, per_page: int) -> Page:
    return Paginator(items, per_page).get_page(number)


def knowledge_base_url(knowledge_base_id: uuid.UUID, anchor: str = "") -> str:
    return reverse("dashboard:knowledge_base", args=[knowledge_base_id]) + (f"#{anchor}" if anchor else "")


# --- the list and a new knowledge base --------------------------------------------------------------


class KnowledgeView(TenantView):
    def embedding_rows(self) -> list[dict[str, Any]]:
        return provider_selectors.available_models(tenant=self.tenant, kind="embedding")

    def model_names(self, rows: list[dict[str, Any]] | None = None) -> dict[str, str]:
        return {row["ref"]: row["display_name"] for row in rows or self.embedding_rows()}

    def can_write(self) -> bool:
        return self.actor.can(Role.EDITOR)


class KnowledgeListView(KnowledgeView):
    template_name = "knowledge/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        names = self.model_names()
        knowledge_bases = [
            present_knowledge_base(knowledge_base, names)
            for knowledge_base in selectors.knowledge_base_list(tenant=self.tenant)
        ]
        return render(
            request,
            self.template_name,
            {"knowledge_bases": knowledge_bases, "can_write": self.can_write()},
        )


class KnowledgeBaseCreateView(KnowledgeView):
    read_role = Role.EDITOR  # the form is for people who may use it
    template_name = "knowledge/create.html"

    def form(self, data: Any = None) -> KnowledgeBaseForm:
        rows = self.embedding_rows()
        default = provider_selectors.model_settings(tenant=self.tenant).default_embedding_model
        return KnowledgeBaseForm(data, embedding_rows=rows, initial={"embedding_model": default})

    def render_form(self, form: KnowledgeBaseForm, status: int = 200) -> HttpResponse:
        advanced = any(
            form[name].errors
            for name in (
                "chunk_size_tokens",
                "chunk_overlap_tokens",
                "retrieval_top_k",
                "retrieval_score_threshold",
                "retrieval_mode",
            )
        )
        return render(
            self.request, self.template_name, {"form": form, "advanced_open": advanced}, status=status
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_form(self.form())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self.form(request.POST)
        if form.is_valid():
            try:
                knowledge_base = services.knowledge_base_create(actor=self.actor, **form.cleaned_data)
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, f"Created {knowledge_base.name}. Add its first sources below.")
                return redirect(knowledge_base_url(knowledge_base.pk, "add-sources"))
        return self.render_form(form, status=400)


# --- one knowledge base -----------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "name",
    "description",
    "chunk_size_tokens",
    "chunk_overlap_tokens",
    "retrieval_top_k",
    "retrieval_score_threshold",
    "retrieval_mode",
)
SOURCE_TABS = ("upload", "url", "crawl", "text", "qa")


class KnowledgeBasePage(KnowledgeView):
    """A knowledge base's page, and the forms posted from it, which render it again with their errors."""

    template_name = "knowledge/detail.html"

    def knowledge_base(self, pk: uuid.UUID) -> KnowledgeBase:
        return selectors.knowledge_base_get(tenant=self.tenant, knowledge_base_id=pk)

    def settings_form(self, knowledge_base: KnowledgeBase, data: Any = None) -> KnowledgeBaseForm:
        current = knowledge_base.building_embedding_model or knowledge_base.embedding_model
        initial = {name: getattr(knowledge_base, name) for name in SETTINGS_FIELDS}
        initial["embedding_model"] = current
        return KnowledgeBaseForm(
            data,
            embedding_rows=self.embedding_rows(),
            keep=(knowledge_base.embedding_model, knowledge_base.building_embedding_model),
            initial=initial,
        )

    def render_page(
        self, knowledge_base: KnowledgeBase, *, status: int = 200, tab: str = "upload", **forms: Any
    ) -> HttpResponse:
        request = self.request
        rows = self.embedding_rows()
        names = self.model_names(rows)
        documents = _page(
            selectors.document_list(tenant=self.tenant, knowledge_base=knowledge_base),
            request.GET.get("page"),
            DOCUMENTS_PER_PAGE,
        )
        search_form = SearchForm(
            request.GET if "query" in request.GET else None,
            initial={"mode": knowledge_base.retrieval_mode, "top_k": knowledge_base.retrieval_top_k},
        )
        search = run_search(self, knowledge_base, search_form) if search_form.is_bound else None
        settings_form = forms.get("settings_form") or self.settings_form(knowledge_base)
        context = {
            "kb": present_knowledge_base(knowledge_base, names),
            "knowledge_base": knowledge_base,
            "documents": [present_document(document) for document in documents],
            "documents_page": documents,
            "reindex": selectors.reindex_progress(tenant=self.tenant, knowledge_base=knowledge_base),
            "can_write": self.can_write(),
            "tab": tab if tab in SOURCE_TABS else "upload",
            "url_form": forms.get("url_form") or UrlForm(),
            "crawl_form": forms.get("crawl_form") or CrawlForm(),
            "text_form": forms.get("text_form") or TextForm(),
            "qa_form": forms.get("qa_form") or QaForm(),
            "upload_errors": forms.get("upload_errors") or [],
            "settings_form": settings_form,
            "settings_open": "settings_form" in forms,
            "search_form": search_form,
            "search": search,
            "max_upload_bytes": settings.KNOWLEDGE_MAX_FILE_BYTES,
            "upload_accept": UPLOAD_ACCEPT,
            "supported_types": SUPPORTED_TYPES_SENTENCE,
            "crawl_limit": settings.CRAWL_MAX_PAGES_LIMIT,
        }
        return render(request, self.template_name, context, status=status)


class KnowledgeBaseView(KnowledgeBasePage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        return self.render_page(self.knowledge_base(pk))


class KnowledgeBaseUpdateView(KnowledgeBasePage):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)
        form = self.settings_form(knowledge_base, request.POST)
        if form.is_valid():
            try:
                updated = services.knowledge_base_update(
                    actor=self.actor, knowledge_base_id=knowledge_base.pk, **form.cleaned_data
                )
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                if updated.building_index_version is not None and (
                    knowledge_base.building_embedding_model != updated.building_embedding_model
                ):
                    names = self.model_names()
                    target = names.get(updated.building_embedding_model, updated.building_embedding_model)
                    messages.success(
                        request,
                        f"Settings saved. Re-embedding every document with {target}; search keeps using "
                        "the current index until that is done.",
                    )
                else:
                    messages.success(request, "Settings saved.")
                return redirect(knowledge_base_url(knowledge_base.pk, "settings"))
        return self.render_page(knowledge_base, settings_form=form, status=400)


class KnowledgeBaseDeleteView(KnowledgeView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = selectors.knowledge_base_get(tenant=self.tenant, knowledge_base_id=pk)
        services.knowledge_base_delete(actor=self.actor, knowledge_base_id=knowledge_base.pk)
        messages.success(request, f"Deleted {knowledge_base.name} with its documents.")
        return redirect("dashboard:knowledge")


# --- adding sources ---------------------------------------------------------------------------------


class SourceAddView(KnowledgeBasePage):
    """Validate one add-source form and call its service; errors show on the page, in its tab."""

    http_method_names = ["post"]
    tab = ""
    form_class: Any = None

    def add(self, knowledge_base: KnowledgeBase, form: Any) -> Document:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                document = self.add(knowledge_base, form)
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                messages.success(request, f"Added “{document.title}”. It is being processed now.")
                return redirect(knowledge_base_url(knowledge_base.pk, "documents"))
        return self.render_page(knowledge_base, tab=self.tab, status=400, **{f"{self.tab}_form": form})


class UrlAddView(SourceAddView):
    tab, form_class = "url", UrlForm

    def add(self, knowledge_base: KnowledgeBase, form: Any) -> Document:
        return services.document_add_url(
            actor=self.actor, knowledge_base_id=knowledge_base.pk, **form.cleaned_data
        )


class CrawlAddView(SourceAddView):
    tab, form_class = "crawl", CrawlForm

    def add(self, knowledge_base: KnowledgeBase, form: Any) -> Document:
        return services.document_add_crawl(
            actor=self.actor, knowledge_base_id=knowledge_base.pk, **form.cleaned_data
        )


class TextAddView(SourceAddView):
    tab, form_class = "text", TextForm

    def add(self, knowledge_base: KnowledgeBase, form: Any) -> Document:
        return services.document_add_text(
            actor=self.actor, knowledge_base_id=knowledge_base.pk, **form.cleaned_data
        )


class QaAddView(SourceAddView):
    tab, form_class = "qa", QaForm

    def add(self, knowledge_base: KnowledgeBase, form: Any) -> Document:
        return services.document_add_qa(
            actor=self.actor,
            knowledge_base_id=knowledge_base.pk,
            pairs=form.pairs,
            title=form.cleaned_data["title"],
        )


def _csrf_rejection(request: HttpRequest) -> HttpResponse | None:
    """The CSRF check the middleware skipped for the upload view (see ``DocumentUploadView``)."""

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    return CsrfViewMiddleware(view).process_view(request, view, (), {})


@method_decorator(csrf_exempt, name="dispatch")
class DocumentUploadView(KnowledgeBasePage):
    """Upload files: one per request from the page's script (each with its own progress bar), or
    several at once from the plain form without script.

    The upload size limit must be installed before anything parses the body, and the CSRF middleware
    parses it to find the form's token; so the middleware is told to skip this view and the same check
    runs here, after ``limit_uploads`` (Django's documented pattern for custom upload handlers).
    """

    http_method_names = ["post"]

    def wants_json(self) -> bool:
        return self.request.headers.get("X-Requested-With") == "XMLHttpRequest"

    def refuse(self, knowledge_base: KnowledgeBase, message: str, status: int) -> HttpResponse:
        if self.wants_json():
            return JsonResponse({"error": message}, status=status)
        return self.render_page(knowledge_base, tab="upload", upload_errors=[message], status=status)

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)  # another tenant's id: 404 before the body is read
        limit_knowledge_uploads(request)
        try:
            rejection = _csrf_rejection(request)
            if rejection is not None:
                return rejection
            files = request.FILES.getlist("file")
        except UploadTooLarge as error:
            return self.refuse(knowledge_base, error.message, status=413)
        if not files:
            return self.refuse(knowledge_base, "Choose a file to upload.", status=400)
        added: list[Document] = []
        errors: list[str] = []
        status = 201
        for upload in files:
            name = upload.name or ""
            try:
                document = services.document_upload(
                    actor=self.actor,
                    knowledge_base_id=knowledge_base.pk,
                    filename=name,
                    content=upload.read(),
                )
            except GroundworkError as error:
                errors.append(error.message)
                status = error.status
            else:
                added.append(document)
        if self.wants_json():
            if errors:
                return JsonResponse({"error": " ".join(errors)}, status=status)
            row = render_to_string(
                "knowledge/_document_row.html",
                {"item": present_document(added[0]), "can_write": True},
                request=request,
            )
            return JsonResponse({"row": row, "title": added[0].title}, status=201)
        if errors and not added:
            return self.render_page(knowledge_base, tab="upload", upload_errors=errors, status=status)
        for message in errors:
            messages.error(request, message)
        if added:
            names = ", ".join(f"“{document.title}”" for document in added)
            messages.success(request, f"Added {names}. Processing has started.")
        return redirect(knowledge_base_url(knowledge_base.pk, "documents"))


# --- documents --------------------------------------------------------------------------------------


class DocumentView(KnowledgeView):
    template_name = "knowledge/document.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        document = selectors.document_get(tenant=self.tenant, document_id=pk)
        chunks = _page(
            selectors.document_chunks(tenant=self.tenant, document=document),
            request.GET.get("page"),
            CHUNKS_PER_PAGE,
        )
        return render(
            request,
            self.template_name,
            {
                "item": present_document(document),
                "document": document,
                "knowledge_base": document.knowledge_base,
                "chunks": chunks,
                "can_write": self.can_write(),
            },
        )


class DocumentRowView(KnowledgeView):
    """One row of the documents table, polled while the document is queued or processing (the row
    stops polling once it is not), with the knowledge base's counts swapped in beside it."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        document = selectors.document_get(tenant=self.tenant, document_id=pk)
        return render_row(self, document)


def render_row(view: KnowledgeView, document: Document) -> HttpResponse:
    knowledge_base = selectors.knowledge_base_get(
        tenant=view.tenant, knowledge_base_id=document.knowledge_base_id
    )
    return render(
        view.request,
        "knowledge/_document_row_poll.html",
        {
            "item": present_document(document),
            "can_write": view.can_write(),
            "kb": present_knowledge_base(knowledge_base, view.model_names()),
        },
    )


class DocumentStatusView(KnowledgeView):
    """The status card of a document's page, polled while it is pending; once it is done the page
    reloads, to show the chunks."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        document = selectors.document_get(tenant=self.tenant, document_id=pk)
        item = present_document(document)
        response = render(request, "knowledge/_document_status.html", {"item": item, "document": document})
        if not item["is_pending"]:
            response["HX-Refresh"] = "true"
        return response


class DocumentReingestView(KnowledgeView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        document = selectors.document_get(tenant=self.tenant, document_id=pk)
        document = services.document_reingest(actor=self.actor, document_id=document.pk)
        document = selectors.document_get(tenant=self.tenant, document_id=document.pk)
        verb = "Re-syncing" if document.is_web_source else "Re-ingesting"
        if getattr(request, "htmx", False) and request.POST.get("return_to") != "document":
            return render_row(self, document)
        messages.success(request, f"{verb} “{document.title}”.")
        if request.POST.get("return_to") == "document":
            return redirect("dashboard:knowledge_document", pk=document.pk)
        return redirect(knowledge_base_url(document.knowledge_base_id, "documents"))


class DocumentDeleteView(KnowledgeView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        document = selectors.document_get(tenant=self.tenant, document_id=pk)
        services.document_delete(actor=self.actor, document_id=document.pk)
        messages.success(request, f"Deleted “{document.title}”; search no longer finds it.")
        return redirect(knowledge_base_url(document.knowledge_base_id, "documents"))


# --- test search and the model switch ---------------------------------------------------------------


def run_search(view: KnowledgeView, knowledge_base: KnowledgeBase, form: SearchForm) -> dict[str, Any]:
    """Search one knowledge base as a bot would: one mode, or all three side by side."""
    outcome: dict[str, Any] = {"error": "", "columns": [], "query": ""}
    if not form.is_valid():
        outcome["error"] = form.errors.get("query", ["Check the search settings."])[0]
        return outcome
    query = form.cleaned_data["query"]
    mode = form.cleaned_data["mode"] or knowledge_base.retrieval_mode
    top_k = form.cleaned_data["top_k"] or knowledge_base.retrieval_top_k
    modes = list(RetrievalMode.values) if form.cleaned_data["compare"] else [mode]
    outcome["query"] = query
    outcome["compare"] = len(modes) > 1
    documents = selectors.document_list(tenant=view.tenant, knowledge_base=knowledge_base)
    vectors: dict[str, list[float]] = {}
    for each in modes:
        try:
            if each != RetrievalMode.FULL_TEXT and not vectors:
                # Embedded once for all the modes that need it (a paid model is paid once).
                vectors = selectors.query_vectors(
                    tenant=view.tenant, knowledge_bases=[knowledge_base], query=query
                )
            results = selectors.knowledge_search(
                tenant=view.tenant,
                knowledge_bases=[knowledge_base],
                query=query,
                top_k=top_k,
                mode=each,
                query_vectors=vectors,
            )
        except GroundworkError as error:
            outcome["columns"].append(
                {"mode": each, "label": RetrievalMode(each).label, "error": error.message}
            )
            continue
        kinds = dict(
            documents.filter(pk__in={result.document_id for result in results}).values_list(
                "pk", "source_type"
            )
        )
        outcome["columns"].append(
            {
                "mode": each,
                "label": RetrievalMode(each).label,
                "error": "",
                "results": [
                    present_result(result, rank, each, kinds.get(result.document_id, ""))
                    for rank, result in enumerate(results, 1)
                ],
            }
        )
    return outcome


class SearchView(KnowledgeBasePage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)
        form = SearchForm(request.GET)
        return render(
            request,
            "knowledge/_search_results.html",
            {"search": run_search(self, knowledge_base, form), "knowledge_base": knowledge_base},
        )


class ReindexProgressView(KnowledgeBasePage):
    """The model-switch banner, polled while the switch runs; the page reloads once it is complete."""

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)
        reindex = selectors.reindex_progress(tenant=self.tenant, knowledge_base=knowledge_base)
        response = render(
            request,
            "knowledge/_reindex.html",
            {
                "reindex": reindex,
                "knowledge_base": knowledge_base,
                "kb": present_knowledge_base(knowledge_base, self.model_names()),
            },
        )
        if reindex is None:
            response["HX-Refresh"] = "true"
        return response
