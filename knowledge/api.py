"""REST endpoints for knowledge bases, their documents and chunks, and search.

Documents are added as a multipart upload (``file``) or as JSON with exactly one source (``text``,
``url``, ``crawl`` or ``qa``); they are processed in the background, so adding or re-ingesting one
answers 202 with the queued document and its ``Location`` to poll. Every object below a knowledge base
is looked up under that knowledge base: a document id with another knowledge base's id is a 404.
The input and output shapes are in ``knowledge.serializers``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import ValidationFailed
from core.pagination import CursorPagination
from knowledge import selectors, services
from knowledge.models import Document, KnowledgeBase
from knowledge.serializers import (
    DOCUMENT_JSON_INPUT,
    JSON_SOURCE_INPUTS,
    JSON_SOURCES,
    ChunkOutput,
    DocumentOutput,
    DocumentUploadInput,
    KnowledgeBaseCreateInput,
    KnowledgeBaseOutput,
    KnowledgeBaseUpdateInput,
    KnowledgeSearchInput,
    KnowledgeSearchOutput,
)
from knowledge.uploads import limit_knowledge_uploads
from tenants.api_base import TenantAPIView
from tenants.models import Role

# The knowledge base a URL's ``id`` names, looked up before the body is read (see TenantAPIView).
KNOWLEDGE_BASE_IN_URL = (selectors.knowledge_base_get, "knowledge_base_id")


class KnowledgeAPIView(TenantAPIView):
    """Base of this module's views: cursor pagination, and how a knowledge base is shaped."""

    pagination_class = CursorPagination

    def knowledge_base_body(self, knowledge_base: KnowledgeBase) -> Any:
        return KnowledgeBaseOutput(knowledge_base, context=self.output_context()).data


class KnowledgeBaseListView(KnowledgeAPIView):
    """Knowledge bases, with their document and chunk counts."""

    @extend_schema(responses=KnowledgeBaseOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.knowledge_base_list(tenant=self.actor.tenant), KnowledgeBaseOutput)

    @extend_schema(request=KnowledgeBaseCreateInput, responses={201: KnowledgeBaseOutput})
    def post(self, request: Request) -> Response:
        data = KnowledgeBaseCreateInput(data=request.data)
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

    url_object_lookup = KNOWLEDGE_BASE_IN_URL

    @extend_schema(responses=KnowledgeBaseOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(self.knowledge_base_body(self.url_object))

    @extend_schema(request=KnowledgeBaseUpdateInput, responses=KnowledgeBaseOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
        data = KnowledgeBaseUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        knowledge_base = services.knowledge_base_update(
            actor=self.actor, knowledge_base_id=self.url_object.pk, **data.validated_data
        )
        return Response(self.knowledge_base_body(knowledge_base))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: uuid.UUID) -> Response:
        services.knowledge_base_delete(actor=self.actor, knowledge_base_id=self.url_object.pk)
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
    url_object_lookup = KNOWLEDGE_BASE_IN_URL

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before anything can read the body: the size limit must be in place while a file streams in.
        limit_knowledge_uploads(request._request)
        super().initial(request, *args, **kwargs)

    @extend_schema(responses=DocumentOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        documents = selectors.document_list(tenant=self.actor.tenant, knowledge_base=self.url_object)
        return self.paginated(documents, DocumentOutput)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadInput, "application/json": DOCUMENT_JSON_INPUT},
        responses={202: DocumentOutput},
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = self.url_object
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

    url_object_lookup = KNOWLEDGE_BASE_IN_URL

    @extend_schema(request=KnowledgeSearchInput, responses=KnowledgeSearchOutput)
    def post(self, request: Request, id: uuid.UUID) -> Response:
        knowledge_base = self.url_object
        data = KnowledgeSearchInput(data=request.data)
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
