"""REST routes of regression suites (mounted at /api/v1/ through ``bots.api_urls``)."""

from django.urls import URLPattern, URLResolver, path

from bots.regression import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("suites", api.SuiteListView.as_view(), name="regression-suite-list"),
    path("suites/<uuid:id>", api.SuiteDetailView.as_view(), name="regression-suite-detail"),
    path("suites/<uuid:id>/cases", api.CaseListView.as_view(), name="regression-case-list"),
    path("suites/<uuid:id>/cases/import", api.CaseImportView.as_view(), name="regression-case-import"),
    path("suites/<uuid:id>/cases/export", api.CaseExportView.as_view(), name="regression-case-export"),
    path(
        "suites/<uuid:id>/cases/from-message",
        api.CaseFromMessageView.as_view(),
        name="regression-case-from-message",
    ),
    path("suites/<uuid:id>/runs", api.RunListView.as_view(), name="regression-run-list"),
    path("cases/<uuid:id>", api.CaseDetailView.as_view(), name="regression-case-detail"),
    path("runs/<uuid:id>", api.RunDetailView.as_view(), name="regression-run-detail"),
    path("runs/<uuid:id>/report", api.RunReportView.as_view(), name="regression-run-report"),
    path(
        "runs/<uuid:id>/acknowledge-drift",
        api.RunAcknowledgeDriftView.as_view(),
        name="regression-run-acknowledge-drift",
    ),
    path("drift-alerts", api.DriftAlertListView.as_view(), name="regression-drift-alerts"),
    path("bots/<str:id>/model-gate", api.ModelGateView.as_view(), name="bot-model-gate"),
]
