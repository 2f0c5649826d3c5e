"""REST routes of the knowledge app (mounted at /api/v1/)."""

from django.urls import URLPattern, URLResolver, path

from knowledge import api

DOCUMENT = "knowledge-bases/<uuid:id>/documents/<uuid:document_id>"

urlpatterns: list[URLPattern | URLResolver] = [
    path("knowledge-bases", api.KnowledgeBaseListView.as_view(), name="knowledge-base-list"),
    path("knowledge-bases/<uuid:id>", api.KnowledgeBaseDetailView.as_view(), name="knowledge-base-detail"),
    path(
        "knowledge-bases/<uuid:id>/documents",
        api.DocumentListView.as_view(),
        name="knowledge-document-list",
    ),
    path(DOCUMENT, api.DocumentDetailView.as_view(), name="knowledge-document-detail"),
    path(f"{DOCUMENT}/reingest", api.DocumentReingestView.as_view(), name="knowledge-document-reingest"),
    path(f"{DOCUMENT}/chunks", api.DocumentChunkListView.as_view(), name="knowledge-document-chunks"),
    path("knowledge-bases/<uuid:id>/search", api.KnowledgeSearchView.as_view(), name="knowledge-search"),
]
