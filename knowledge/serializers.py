"""Input and output shapes of the knowledge REST API (``knowledge.api``).

Nested input serializers carry names unique across the API: the OpenAPI component name is the class
name, and drf-spectacular would otherwise document two different inputs under one name.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from core.serializers import StrictInputSerializer
from knowledge import retrieval, selectors, services
from knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase, RetrievalMode, SourceType

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


def title_field(help_text: str | None = None) -> serializers.CharField:
    """A document's optional title; left out, the service names the document after its source."""
    return serializers.CharField(
        max_length=TITLE_MAX_LENGTH, required=False, allow_blank=True, default="", help_text=help_text
    )


@extend_schema_field({"type": "string", "format": "binary"})
class UploadedFileField(serializers.FileField):
    """A file part of a multipart body (documented as binary, not as a URL)."""


class DocumentUploadInput(StrictInputSerializer):
    """A file, as multipart/form-data."""

    file = UploadedFileField(
        help_text="PDF, Word (.docx), HTML, Markdown, plain text or CSV; the type is read from the content."
    )
    title = title_field("Default: the file's name.")


class DocumentTextInput(StrictInputSerializer):
    """Pasted text."""

    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    title = title_field("Default: the text's first line.")


class DocumentUrlInput(StrictInputSerializer):
    """One web page, fetched (and re-fetched on a schedule) by Groundwork."""

    url = serializers.CharField(
        max_length=URL_MAX_LENGTH, help_text="A public http(s) page; private addresses are refused."
    )
    title = title_field("Default: the URL.")


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
    title = title_field()


class DocumentQaPairInput(StrictInputSerializer):
    """One question with its answer."""

    question = serializers.CharField(allow_blank=True)
    answer = serializers.CharField(allow_blank=True)


class DocumentQaInput(StrictInputSerializer):
    """Questions with their answers."""

    qa = DocumentQaPairInput(many=True)
    title = title_field()


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


# --- knowledge bases and search -------------------------------------------------------------------


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


class KnowledgeBaseCreateInput(KnowledgeBaseSettingsFields):
    """A new knowledge base; unset settings take their defaults."""

    name = serializers.CharField(max_length=120)


class KnowledgeBaseUpdateInput(KnowledgeBaseSettingsFields):
    """The settings to change; the others stay as they are."""

    name = serializers.CharField(max_length=120, required=False)


class KnowledgeSearchInput(StrictInputSerializer):
    """A question, with optionally how many results and which retrieval mode."""

    query = serializers.CharField(max_length=retrieval.MAX_QUERY_CHARS)
    top_k = serializers.IntegerField(min_value=1, max_value=retrieval.MAX_TOP_K, required=False)
    mode = serializers.ChoiceField(
        choices=SEARCH_MODES,
        required=False,
        help_text="vector (meaning), full_text (words) or hybrid (both, fused).",
    )
