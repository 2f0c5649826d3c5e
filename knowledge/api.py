"""REST endpoints for knowledge bases, their documents and chunks, and search.

Documents are added as a multipart upload (``file``) or as JSON with exactly one source (``text``,
``url``, ``crawl`` or ``qa``); they are processed in the background, so adding or re-ingesting one
answers 202 with the queued document and its ``Location`` to poll. Every object below a knowledge base
is looked up under that knowledge base: a document id with another knowledge base's id is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.pagination import CursorPagination
from core.serializers import StrictInputSerializer
from knowledge import retrieval, selectors, services
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase, RetrievalMode, SourceType
from knowledge.uploads import limit_knowledge_uploads
from tenants.api_base import TenantAPIView
from tenants.models import Role

# Nested input serializers carry names unique across the API: the OpenAPI component name is the class
# name, and drf-spectacular would otherwise document two different inputs under one name.

# The JSON sources of a document; a request names exactly one of them.
JSON_SOURCES = ("text", "url", "crawl", "qa")
TITLE_MAX_LENGTH = 300
URL_MAX_LENGTH = 2000
# Search modes as bare values: with RetrievalMode's labels the schema would give one choice set two
# enum names (RetrievalModeEnum and ModeEnum) and drf-spectacular would warn.
SEARCH_MODES = list(RetrievalMode.values)


# --- output -----------------------------------------------------------------------------------------


class KnowledgeBaseCountsOutput(serializers.Serializer):
    documents_total = serializers.IntegerField(source="document_total")
    documents_ready = serializers.IntegerField()
    documents_failed = serializers.IntegerField()
    documents_pending = serializers.IntegerField(help_text="Queued or processing.")
    chunks = serializers.SerializerMethodField(help_text="Chunks search sees, over all documents.")

    def get_chunks(self, knowledge_base: KnowledgeBase) -> int:
        return getattr(knowledge_base, "chunk_total", None) or 0


class KnowledgeBaseSwitchOutput(serializers.Serializer):
    embedding_model = serializers.CharField(
        help_text="The model the knowledge base is being re-embedded with."
    )
    documents_done = serializers.IntegerField()
    documents_total = serializers.IntegerField()


class KnowledgeBaseOutput(serializers.ModelSerializer):
    counts = KnowledgeBaseCountsOutput(source="*")
    switching_to = serializers.SerializerMethodField(
        help_text="While a new embedding model re-embeds the documents (search keeps using the current "
        "one until it is done): the new model and its progress. Otherwise null."
    )

    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "name",
            "description",
            "embedding_model",
            "embedding_dimensions",
            "chunk_size_tokens",
            "chunk_overlap_tokens",
            "retrieval_top_k",
            "retrieval_score_threshold",
            "retrieval_mode",
            "counts",
            "switching_to",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(KnowledgeBaseSwitchOutput(allow_null=True))
    def get_switching_to(self, knowledge_base: KnowledgeBase) -> dict[str, Any] | None:
        progress = selectors.reindex_progress(tenant=self.context["tenant"], knowledge_base=knowledge_base)
        if progress is None:
            return None
        return dict(KnowledgeBaseSwitchOutput(progress).data)


class DocumentStatsOutput(serializers.Serializer):
    pages = serializers.IntegerField(help_text="Pages (PDF) or web pages (crawl) read.")
    chunk_count = serializers.IntegerField()
    token_count = serializers.IntegerField()


class DocumentOutput(serializers.ModelSerializer):
    knowledge_base_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    source_type = serializers.ChoiceField(choices=SourceType.choices)
    progress = serializers.JSONField(
        help_text='Per stage while processing: {"stage": "embed", "stages": {"embed": {"state": '
        '"running", "done": 120, "total": 300}, ...}}.'
    )
    stats = DocumentStatsOutput(source="*")
    failure_reason = serializers.CharField(help_text="Why processing failed, for people; empty otherwise.")
    original_filename = serializers.CharField(help_text="The uploaded file's name, for display only.")
    content_type = serializers.CharField(help_text="As sniffed from the content: pdf, docx, html, text, ...")
    version = serializers.IntegerField(help_text="Raised by every re-ingest request.")
    attempts = serializers.IntegerField(help_text="Processing runs started for the current version.")

    class Meta:
        model = Document
        fields = [
            "id",
            "knowledge_base_id",
            "title",
            "source_type",
            "status",
            "progress",
            "stats",
            "failure_reason",
            "original_filename",
            "source_url",
            "crawl_max_pages",
            "content_type",
            "version",
            "attempts",
            "created_at",
            "updated_at",
            "ingested_at",
        ]


class ChunkOutput(serializers.ModelSerializer):
    heading_path = serializers.CharField(help_text='Headings above the passage, e.g. "Returns > Refunds".')
    anchor = serializers.CharField(help_text="A URL fragment, or the page's URL for a crawl.")

    class Meta:
        model = Chunk
        fields = ["id", "position", "text", "heading_path", "page_number", "anchor", "token_count"]


class SearchResultOutput(serializers.Serializer):
    chunk_id = serializers.UUIDField()
    text = serializers.CharField()
    score = serializers.FloatField(
        help_text="Cosine similarity (vector), ts_rank_cd (full_text) or the fused rank score (hybrid)."
    )
    document_id = serializers.UUIDField()
    document_title = serializers.CharField()
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The document's original file name, or its URL."
    )
    page_number = serializers.IntegerField(allow_null=True)
    anchor = serializers.CharField()
    heading_path = serializers.CharField()
    knowledge_base_id = serializers.UUIDField()


class KnowledgeSearchOutput(serializers.Serializer):
    results = SearchResultOutput(many=True)
    mode = serializers.ChoiceField(choices=SEARCH_MODES, help_text="The mode searched with.")
    top_k = serializers.IntegerField(help_text="The number of results asked for.")


# --- input ------------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "binary"})
class UploadedFileField(serializers.FileField):
    """A file part of a multipart body (documented as binary, not as a URL)."""


class DocumentUploadInput(StrictInputSerializer):
    """A file, as multipart/form-data."""

    file = UploadedFileField(
        help_text="PDF, Word (.docx), HTML, Markdown, plain text or CSV; the type is read from the content."
    )
    title = serializers.CharField(
        max_length=TITLE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Default: the file's name.",
    )


class DocumentTextInput(StrictInputSerializer):
    """Pasted text."""

    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    title = serializers.CharField(
        max_length=TITLE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Default: the text's first line.",
    )


class DocumentUrlInput(StrictInputSerializer):
    """One web page, fetched (and re-fetched on a schedule) by Groundwork."""

    url = serializers.CharField(
        max_length=URL_MAX_LENGTH, help_text="A public http(s) page; private addresses are refused."
    )
    title = serializers.CharField(
        max_length=TITLE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Default: the URL.",
    )


class DocumentCrawlSourceInput(StrictInputSerializer):
    """Where a crawl starts and how many pages it reads at most."""

    url = serializers.CharField(
        max_length=URL_MAX_LENGTH, help_text="Where the crawl starts (same site only)."
    )
    max_pages = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, default=None, help_text="Default: the platform's."
    )


class DocumentCrawlInput(StrictInputSerializer):
    """A website, crawled from one page within the same site."""

    crawl = DocumentCrawlSourceInput()
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default="")


class DocumentQaPairInput(StrictInputSerializer):
    """One question with its answer."""

    question = serializers.CharField(allow_blank=True)
    answer = serializers.CharField(allow_blank=True)


class DocumentQaInput(StrictInputSerializer):
    """Questions with their answers."""

    qa = DocumentQaPairInput(many=True)
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default="")


JSON_SOURCE_INPUTS: dict[str, type[StrictInputSerializer]] = {
    "text": DocumentTextInput,
    "url": DocumentUrlInput,
    "crawl": DocumentCrawlInput,
    "qa": DocumentQaInput,
}

DOCUMENT_JSON_INPUT = PolymorphicProxySerializer(
    component_name="DocumentAddInput",
    serializers=list(JSON_SOURCE_INPUTS.values()),
    resource_type_field_name=None,
)


# --- endpoints --------------------------------------------------------------------------------------


class KnowledgeAPIView(TenantAPIView):
    """Base of this module's views: cursor pagination, and how a knowledge base is shaped."""

    pagination_class = CursorPagination

    def knowledge_base_body(self, knowledge_base: KnowledgeBase) -> Any:
        return KnowledgeBaseOutput(knowledge_base, context=self.output_context()).data


class KnowledgeBaseSettingsFields(StrictInputSerializer):
    """The settings shared by creating and changing a knowledge base. Bounds come from the service's
    constants so the schema shows them; the service checks what depends on more than one field."""

    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    embedding_model = serializers.CharField(
        max_length=200,
        required=False,
        help_text="An embedding model reference, e.g. local:all-MiniLM-L6-v2. Default (on create): the "
        "organisation's default embedding model. Changing it re-embeds every document in the background.",
    )
    chunk_size_tokens = serializers.IntegerField(
        min_value=services.MIN_CHUNK_SIZE_TOKENS, max_value=services.MAX_CHUNK_SIZE_TOKENS, required=False
    )
    chunk_overlap_tokens = serializers.IntegerField(
        min_value=0, required=False, help_text="Less than half the chunk size."
    )
    retrieval_top_k = serializers.IntegerField(min_value=1, max_value=retrieval.MAX_TOP_K, required=False)
    retrieval_score_threshold = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, help_text="Minimum cosine similarity."
    )
    retrieval_mode = serializers.ChoiceField(choices=RetrievalMode.choices, required=False)


class KnowledgeBaseListView(KnowledgeAPIView):
    """Knowledge bases, with their document and chunk counts."""

    class KnowledgeBaseCreateInput(KnowledgeBaseSettingsFields):
        """A new knowledge base; unset settings take their defaults."""

        name = serializers.CharField(max_length=120)

    @extend_schema(responses=KnowledgeBaseOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.knowledge_base_list(tenant=self.actor.tenant), KnowledgeBaseOutput)

    @extend_schema(request=KnowledgeBaseCreateInput, responses={201: KnowledgeBaseOutput})
    def post(self, request: Request) -> Response:
        data = self.KnowledgeBaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.knowledge_base_create(actor=self.actor, **data.validated_data)
        knowledge_base = selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=created.pk)
        return Response(
            self.knowledge_base_body(knowledge_base),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("knowledge-base-detail", kwargs={"id": knowledge_base.pk})},
        )


class KnowledgeBaseDetailView(KnowledgeAPIView):
    """One knowledge base. New chunk settings apply to documents ingested from then on (re-ingest the
    others); a new ``embedding_model`` re-embeds everything in the background (see ``switching_to``)."""

    class KnowledgeBaseUpdateInput(KnowledgeBaseSettingsFields):
        """The settings to change; the others stay as they are."""

        name = serializers.CharField(max_length=120, required=False)

    @extend_schema(responses=KnowledgeBaseOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=id)
        return Response(self.knowledge_base_body(knowledge_base))

    @extend_schema(request=KnowledgeBaseUpdateInput, responses=KnowledgeBaseOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
        selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=id)  # 404 before the body
        data = self.KnowledgeBaseUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        knowledge_base = services.knowledge_base_update(
            actor=self.actor, knowledge_base_id=id, **data.validated_data
        )
        return Response(self.knowledge_base_body(knowledge_base))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: uuid.UUID) -> Response:
        services.knowledge_base_delete(actor=self.actor, knowledge_base_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _document_created(document: Document) -> Response:
    location = reverse(
        "knowledge-document-detail", kwargs={"id": document.knowledge_base_id, "document_id": document.pk}
    )
    return Response(
        DocumentOutput(document).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
    )


def _json_source(data: Any) -> str:
    """The one source a JSON body names, or a 400 that says what was wrong."""
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object with one of text, url, crawl or qa.")
    given = [name for name in JSON_SOURCES if name in data]
    if len(given) == 1:
        return given[0]
    if not given:
        message = (
            "Say what to add: upload a file (multipart, field “file”) or send JSON with exactly one of "
            "text, url, crawl or qa."
        )
    else:
        message = f"Add one source at a time; this request has {' and '.join(given)}."
    raise ValidationFailed(message, field_errors={"non_field_errors": [message]})


class DocumentListView(KnowledgeAPIView):
    """The documents of a knowledge base, newest first; ``POST`` adds one, processed in the background.

    Add a file as ``multipart/form-data`` (``file``, optional ``title``), or send JSON with exactly one
    source: ``{"text", "title"?}``, ``{"url", "title"?}``, ``{"crawl": {"url", "max_pages"?}, "title"?}``
    or ``{"qa": [{"question", "answer"}], "title"?}``. The answer is 202 with the queued document; poll
    its ``Location`` for ``status`` and ``progress``. A file over the size limit is refused with 413 as
    soon as that much of it has arrived; a file whose content is not what its name says, or that
    Groundwork cannot read, is refused with 400; URLs pointing at private addresses are refused.
    """

    parser_classes = [JSONParser, MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before anything can read the body: the size limit must be in place while a file streams in.
        limit_knowledge_uploads(request._request)
        super().initial(request, *args, **kwargs)

    @extend_schema(responses=DocumentOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=id)
        documents = selectors.document_list(tenant=self.actor.tenant, knowledge_base=knowledge_base)
        return self.paginated(documents, DocumentOutput)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadInput, "application/json": DOCUMENT_JSON_INPUT},
        responses={202: DocumentOutput},
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=id)
        if (request.content_type or "").startswith("multipart/"):
            return _document_created(self.upload(request, knowledge_base))
        source = _json_source(request.data)
        data = JSON_SOURCE_INPUTS[source](data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        common = {"actor": self.actor, "knowledge_base_id": knowledge_base.pk, "title": fields["title"]}
        if source == "text":
            document = services.document_add_text(**common, text=fields["text"])
        elif source == "url":
            document = services.document_add_url(**common, url=fields["url"])
        elif source == "crawl":
            crawl = fields["crawl"]
            document = services.document_add_crawl(**common, url=crawl["url"], max_pages=crawl["max_pages"])
        else:
            document = services.document_add_qa(**common, pairs=fields["qa"])
        return _document_created(document)

    def upload(self, request: Request, knowledge_base: KnowledgeBase) -> Document:
        data = DocumentUploadInput(data=request.data)  # parsing the body runs the upload size limit
        data.is_valid(raise_exception=True)
        uploaded = data.validated_data["file"]
        return services.document_upload(
            actor=self.actor,
            knowledge_base_id=knowledge_base.pk,
            filename=uploaded.name or "",
            content=b"".join(uploaded.chunks()),
            title=data.validated_data["title"],
        )


class DocumentDetailView(KnowledgeAPIView):
    """One document: its status, progress and stats. ``DELETE`` removes it with its chunks at once."""

    @extend_schema(responses=DocumentOutput)
    def get(self, request: Request, id: uuid.UUID, document_id: uuid.UUID) -> Response:
        document = selectors.document_get(
            tenant=self.actor.tenant, document_id=document_id, knowledge_base_id=id
        )
        return Response(DocumentOutput(document).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: uuid.UUID, document_id: uuid.UUID) -> Response:
        document = selectors.document_get(
            tenant=self.actor.tenant, document_id=document_id, knowledge_base_id=id
        )
        services.document_delete(actor=self.actor, document_id=document.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReingestView(KnowledgeAPIView):
    """Process the document again from its source (a web page is fetched again); its current chunks keep
    answering searches until the new ones replace them."""

    @extend_schema(request=None, responses={202: DocumentOutput})
    def post(self, request: Request, id: uuid.UUID, document_id: uuid.UUID) -> Response:
        document = selectors.document_get(
            tenant=self.actor.tenant, document_id=document_id, knowledge_base_id=id
        )
        return _document_created(services.document_reingest(actor=self.actor, document_id=document.pk))


class ChunkCursorPagination(CursorPagination):
    ordering = "position"


class DocumentChunkListView(KnowledgeAPIView):
    """The passages search sees for a document, in reading order."""

    pagination_class = ChunkCursorPagination

    @extend_schema(responses=ChunkOutput(many=True))
    def get(self, request: Request, id: uuid.UUID, document_id: uuid.UUID) -> Response:
        document = selectors.document_get(
            tenant=self.actor.tenant, document_id=document_id, knowledge_base_id=id
        )
        return self.paginated(
            selectors.document_chunks(tenant=self.actor.tenant, document=document), ChunkOutput
        )


class KnowledgeSearchView(KnowledgeAPIView):
    """Search one knowledge base; unset ``top_k`` and ``mode`` take the knowledge base's settings."""

    write_role = Role.VIEWER  # a POST only because a question does not belong in a URL; it changes nothing

    class KnowledgeSearchInput(StrictInputSerializer):
        """A question, with optionally how many results and which retrieval mode."""

        query = serializers.CharField(max_length=retrieval.MAX_QUERY_CHARS)
        top_k = serializers.IntegerField(min_value=1, max_value=retrieval.MAX_TOP_K, required=False)
        mode = serializers.ChoiceField(
            choices=SEARCH_MODES,
            required=False,
            help_text="vector (meaning), full_text (words) or hybrid (both, fused).",
        )

    @extend_schema(request=KnowledgeSearchInput, responses=KnowledgeSearchOutput)
    def post(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = selectors.knowledge_base_get(tenant=self.actor.tenant, knowledge_base_id=id)
        data = self.KnowledgeSearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        top_k = data.validated_data.get("top_k") or knowledge_base.retrieval_top_k
        mode = data.validated_data.get("mode") or knowledge_base.retrieval_mode
        results = selectors.knowledge_search(
            tenant=self.actor.tenant,
            knowledge_bases=[knowledge_base],
            query=data.validated_data["query"],
            top_k=top_k,
            mode=mode,
        )
        return Response(KnowledgeSearchOutput({"results": results, "mode": mode, "top_k": top_k}).data)
