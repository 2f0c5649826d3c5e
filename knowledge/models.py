"""Knowledge bases, their documents, and the chunks retrieval searches.

Several embedding sizes live side by side (384 for the built-in model, 1,536 and 3,072 for OpenAI's):
a chunk stores its vector in the column of its knowledge base's dimension, each column with its own
HNSW index (cosine). 3,072 dimensions exceed HNSW's 2,000 limit for ``vector``, so that column is
``halfvec`` (16-bit floats, up to 4,000 dimensions), whose recall loss is negligible for cosine search.

A knowledge base searches one *index version* at a time. Changing its embedding model writes the new
vectors under the next version in the background, then switches ``active_index_version`` in one
update: search keeps answering from the old version until the new one is complete.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HalfVectorField, HnswIndex, VectorField

from tenants.models import TenantOwnedModel, User

SUPPORTED_DIMENSIONS = (384, 1536, 3072)
EMBEDDING_COLUMNS = {384: "embedding_384", 1536: "embedding_1536", 3072: "embedding_3072"}


class RetrievalMode(models.TextChoices):
    VECTOR = "vector", "Vector (meaning)"
    FULL_TEXT = "full_text", "Full text (words)"
    HYBRID = "hybrid", "Hybrid (both, fused)"


class KnowledgeBase(TenantOwnedModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    embedding_model = models.CharField(max_length=200)  # a model reference, e.g. "local:all-MiniLM-L6-v2"
    embedding_dimensions = models.PositiveIntegerField()
    chunk_size_tokens = models.PositiveIntegerField(default=400)
    chunk_overlap_tokens = models.PositiveIntegerField(default=60)
    retrieval_top_k = models.PositiveIntegerField(default=5)
    retrieval_score_threshold = models.FloatField(default=0.0)
    retrieval_mode = models.CharField(
        max_length=10, choices=RetrievalMode.choices, default=RetrievalMode.HYBRID
    )
    active_index_version = models.PositiveIntegerField(default=1)
    building_index_version = models.PositiveIntegerField(null=True, blank=True)  # set while re-embedding
    building_embedding_model = models.CharField(max_length=200, blank=True)
    building_embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="knowledge_base_unique_name")]

    def __str__(self) -> str:
        return self.name


class SourceType(models.TextChoices):
    FILE = "file", "Uploaded file"
    URL = "url", "Web page"
    CRAWL = "crawl", "Website crawl"
    TEXT = "text", "Pasted text"
    QA = "qa", "Questions and answers"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Document(TenantOwnedModel):
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    source_type = models.CharField(max_length=10, choices=SourceType.choices)
    title = models.CharField(max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)  # shown, never used as a path
    source_url = models.URLField(max_length=2000, blank=True)
    crawl_max_pages = models.PositiveIntegerField(null=True, blank=True)
    source_text = models.TextField(blank=True)  # pasted text, or Q&A pairs as JSON
    content_type = models.CharField(max_length=100, blank=True)  # as sniffed from the content
    content_hash = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    failure_reason = models.TextField(blank=True)
    # Per stage: {"fetch": {"state": "done", "seconds": 0.4}, "embed": {"done": 120, "total": 300}, ...}
    progress = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)  # bumped by every re-ingest request
    ingested_version = models.PositiveIntegerField(null=True, blank=True)  # the version its chunks belong to
    pages = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["knowledge_base", "status"], name="document_kb_status")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_web_source(self) -> bool:
        return self.source_type in (SourceType.URL, SourceType.CRAWL)

    @property
    def source_label(self) -> str:
        """What a person recognises the document by: its file name, its URL, or its title."""
        return self.original_filename or self.source_url or self.title


class SourceFile(TenantOwnedModel):
    """An uploaded file's bytes, kept in PostgreSQL beside its document.

    In the database rather than on a disk: the web process that receives an upload and the worker that
    parses it need no shared volume, the bytes are tenant-isolated by the same Row-Level Security as
    everything else, a rolled-back upload leaves no orphan file, and deleting the document deletes them.
    Uploads are capped (``KNOWLEDGE_MAX_FILE_BYTES``, 25 MB by default), well within what ``bytea``
    stores comfortably (TOAST compresses and moves them out of line).
    """

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="source_file")
    content = models.BinaryField()
    size_bytes = models.PositiveBigIntegerField()


class Chunk(TenantOwnedModel):
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    index_version = models.PositiveIntegerField()
    document_version = models.PositiveIntegerField()
    position = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = models.CharField(max_length=500, blank=True)  # "Returns > Refunds > Timelines"
    page_number = models.PositiveIntegerField(null=True, blank=True)
    anchor = models.CharField(max_length=300, blank=True)  # URL fragment or page URL for crawls
    token_count = models.PositiveIntegerField()
    embedding_384 = VectorField(dimensions=384, null=True, blank=True)
    embedding_1536 = VectorField(dimensions=1536, null=True, blank=True)
    embedding_3072 = HalfVectorField(dimensions=3072, null=True, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("heading_path", "text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        indexes = [
            models.Index(fields=["knowledge_base", "index_version"], name="chunk_kb_version"),
            models.Index(fields=["document", "index_version"], name="chunk_document_version"),
            GinIndex(fields=["search_vector"], name="chunk_search_vector"),
            HnswIndex(
                name="chunk_embedding_384_hnsw",
                fields=["embedding_384"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            HnswIndex(
                name="chunk_embedding_1536_hnsw",
                fields=["embedding_1536"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            HnswIndex(
                name="chunk_embedding_3072_hnsw",
                fields=["embedding_3072"],
                m=16,
                ef_construction=64,
                opclasses=["halfvec_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.position}"
