"""Dashboard routes for knowledge bases (mounted at /app/ in the "dashboard" namespace by config/urls.py).

Every route takes one id, named pk: tests/security enumerates id routes and fills in the parameters it
knows, and a document's routes find its knowledge base through the document.
"""

from django.urls import URLPattern, URLResolver, path

from knowledge import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("knowledge/", views.KnowledgeListView.as_view(), name="knowledge"),
    path("knowledge/new/", views.KnowledgeBaseCreateView.as_view(), name="knowledge_base_create"),
    path("knowledge/<uuid:pk>/", views.KnowledgeBaseView.as_view(), name="knowledge_base"),
    path(
        "knowledge/<uuid:pk>/settings/", views.KnowledgeBaseUpdateView.as_view(), name="knowledge_base_update"
    ),
    path(
        "knowledge/<uuid:pk>/delete/", views.KnowledgeBaseDeleteView.as_view(), name="knowledge_base_delete"
    ),
    path("knowledge/<uuid:pk>/upload/", views.DocumentUploadView.as_view(), name="knowledge_upload"),
    path("knowledge/<uuid:pk>/add/url/", views.UrlAddView.as_view(), name="knowledge_add_url"),
    path("knowledge/<uuid:pk>/add/crawl/", views.CrawlAddView.as_view(), name="knowledge_add_crawl"),
    path("knowledge/<uuid:pk>/add/text/", views.TextAddView.as_view(), name="knowledge_add_text"),
    path("knowledge/<uuid:pk>/add/qa/", views.QaAddView.as_view(), name="knowledge_add_qa"),
    path("knowledge/<uuid:pk>/search/", views.SearchView.as_view(), name="knowledge_search"),
    path("knowledge/<uuid:pk>/reindex/", views.ReindexProgressView.as_view(), name="knowledge_reindex"),
    path("knowledge/documents/<uuid:pk>/", views.DocumentView.as_view(), name="knowledge_document"),
    path(
        "knowledge/documents/<uuid:pk>/row/", views.DocumentRowView.as_view(), name="knowledge_document_row"
    ),
    path(
        "knowledge/documents/<uuid:pk>/status/",
        views.DocumentStatusView.as_view(),
        name="knowledge_document_status",
    ),
    path(
        "knowledge/documents/<uuid:pk>/reingest/",
        views.DocumentReingestView.as_view(),
        name="knowledge_document_reingest",
    ),
    path(
        "knowledge/documents/<uuid:pk>/delete/",
        views.DocumentDeleteView.as_view(),
        name="knowledge_document_delete",
    ),
]
