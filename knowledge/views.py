"""Dashboard pages for knowledge bases: the list, a knowledge base with its documents, sources to add,
a test search and its settings, and one document with its chunks.

Views stay thin: they validate a form, call a service or selector, and render or redirect; what the
templates show of a document, a search result or a knowledge base is worked out in
``knowledge.presentation``. Everything that came from a document (titles, file names, URLs, chunk text)
is untrusted: the templates rely on Django's autoescaping and never mark it safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.forms import Form
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
from knowledge.forms import (
    CrawlForm,
    KnowledgeBaseForm,
    QaForm,
    RetrievalSettingsMixin,
    SearchForm,
    TextForm,
    UrlForm,
)
from knowledge.ingestion.sniff import SUPPORTED_TYPES_SENTENCE
from knowledge.models import Document, KnowledgeBase
from knowledge.presentation import present_document, present_knowledge_base, present_search
from knowledge.uploads import limit_knowledge_uploads
from providers import selectors as provider_selectors
from tenants.models import Role
from tenants.quotas import QuotaExceeded
from tenants.views_base import TenantFormView, TenantView

DOCUMENTS_PER_PAGE = 50
CHUNKS_PER_PAGE = 50
UPLOAD_ACCEPT = ".pdf,.docx,.html,.htm,.md,.markdown,.txt,.csv,.tsv"


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


class KnowledgeBaseCreateView(KnowledgeView, TenantFormView):
    read_role = Role.EDITOR  # the form is for people who may use it
    template_name = "knowledge/create.html"
    form_class = KnowledgeBaseForm

    def form_kwargs(self) -> dict[str, Any]:
        default = provider_selectors.model_settings(tenant=self.tenant).default_embedding_model
        return {"embedding_rows": self.embedding_rows(), "initial": {"embedding_model": default}}

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        # The chunking and retrieval settings are folded away unless one of them needs correcting.
        advanced = any(form[name].errors for name in RetrievalSettingsMixin.base_fields)
        return render(
            self.request, self.template_name, {"form": form, "advanced_open": advanced}, status=status
        )

    def perform(self, form: Form) -> KnowledgeBase:
        return services.knowledge_base_create(actor=self.actor, **form.cleaned_data)

    def success_url(self, result: KnowledgeBase) -> str:
        return knowledge_base_url(result.pk, "add-sources")

    def success_message(self, result: KnowledgeBase) -> str:
        return f"Created {result.name}. Add its first sources below."


# --- one knowledge base -----------------------------------------------------------------------------

SOURCE_TABS = ("upload", "url", "crawl", "text", "qa")


class KnowledgeBasePage(KnowledgeView):
    """A knowledge base's page, and the forms posted from it, which render it again with their errors."""

    template_name = "knowledge/detail.html"

    def knowledge_base(self, pk: uuid.UUID) -> KnowledgeBase:
        return selectors.knowledge_base_get(tenant=self.tenant, knowledge_base_id=pk)

    def settings_form(self, knowledge_base: KnowledgeBase, data: Any = None) -> KnowledgeBaseForm:
        current = knowledge_base.building_embedding_model or knowledge_base.embedding_model
        initial = {name: getattr(knowledge_base, name) for name in services.UPDATABLE_FIELDS}
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
        search = present_search(self.tenant, knowledge_base, search_form) if search_form.is_bound else None
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


class KnowledgeBaseFormView(KnowledgeBasePage, TenantFormView):
    """A form posted from a knowledge base's page: the page is rendered again with its errors."""

    http_method_names = ["post"]
    page_knowledge_base: KnowledgeBase

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.page_knowledge_base = self.knowledge_base(kwargs["pk"])  # another tenant's id: 404 first
        return super().post(request, *args, **kwargs)


class KnowledgeBaseUpdateView(KnowledgeBaseFormView):
    def make_form(self, data: Any = None) -> KnowledgeBaseForm:
        return self.settings_form(self.page_knowledge_base, data)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        return self.render_page(self.page_knowledge_base, settings_form=form, status=status)

    def perform(self, form: Form) -> KnowledgeBase:
        return services.knowledge_base_update(
            actor=self.actor, knowledge_base_id=self.page_knowledge_base.pk, **form.cleaned_data
        )

    def success_url(self, result: KnowledgeBase) -> str:
        return knowledge_base_url(self.page_knowledge_base.pk, "settings")

    def success_message(self, result: KnowledgeBase) -> str:
        if result.building_index_version is not None and (
            self.page_knowledge_base.building_embedding_model != result.building_embedding_model
        ):
            names = self.model_names()
            target = names.get(result.building_embedding_model, result.building_embedding_model)
            return (
                f"Settings saved. Re-embedding every document with {target}; search keeps using "
                "the current index until that is done."
            )
        return "Settings saved."


class KnowledgeBaseDeleteView(KnowledgeView):
    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = selectors.knowledge_base_get(tenant=self.tenant, knowledge_base_id=pk)
        services.knowledge_base_delete(actor=self.actor, knowledge_base_id=knowledge_base.pk)
        messages.success(request, f"Deleted {knowledge_base.name} with its documents.")
        return redirect("dashboard:knowledge")


# --- adding sources ---------------------------------------------------------------------------------


class SourceAddView(KnowledgeBaseFormView):
    """Validate one add-source form and call its service; errors show on the page, in its tab."""

    tab = ""
    add_source: Callable[..., Document]  # the service that adds this tab's kind of source

    def source_fields(self, form: Form) -> dict[str, Any]:
        """The service's arguments besides the actor and the knowledge base."""
        return dict(form.cleaned_data)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        return self.render_page(
            self.page_knowledge_base, tab=self.tab, status=status, **{f"{self.tab}_form": form}
        )

    def perform(self, form: Form) -> Document:
        return self.add_source(
            actor=self.actor, knowledge_base_id=self.page_knowledge_base.pk, **self.source_fields(form)
        )

    def success_url(self, result: Document) -> str:
        return knowledge_base_url(self.page_knowledge_base.pk, "documents")

    def success_message(self, result: Document) -> str:
        return f"Added “{result.title}”. It is being processed now."


class UrlAddView(SourceAddView):
    tab, form_class, add_source = "url", UrlForm, staticmethod(services.document_add_url)


class CrawlAddView(SourceAddView):
    tab, form_class, add_source = "crawl", CrawlForm, staticmethod(services.document_add_crawl)


class TextAddView(SourceAddView):
    tab, form_class, add_source = "text", TextForm, staticmethod(services.document_add_text)


class QaAddView(SourceAddView):
    tab, form_class, add_source = "qa", QaForm, staticmethod(services.document_add_qa)

    def source_fields(self, form: Form) -> dict[str, Any]:
        assert isinstance(form, QaForm)
        return {"pairs": form.pairs, "title": form.cleaned_data["title"]}


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
        try:
            document = services.document_reingest(actor=self.actor, document_id=document.pk)
        except QuotaExceeded as refused:  # a crawl with no pages left today: said where it was asked
            messages.error(request, refused.message)
            if request.POST.get("return_to") == "document":
                return redirect("dashboard:knowledge_document", pk=document.pk)
            return redirect(knowledge_base_url(document.knowledge_base_id, "documents"))
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


class SearchView(KnowledgeBasePage):
    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        knowledge_base = self.knowledge_base(pk)
        form = SearchForm(request.GET)
        return render(
            request,
            "knowledge/_search_results.html",
            {"search": present_search(self.tenant, knowledge_base, form), "knowledge_base": knowledge_base},
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
