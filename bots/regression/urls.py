"""Dashboard routes for regression suites (added to the "dashboard" namespace by config/urls.py).

Every route takes at most one id, named pk (tests/security enumerates id routes). Route names start with
"suite" or "run".
"""

from django.urls import URLPattern, URLResolver, path

from bots.regression import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots/<uuid:pk>/suites/", views.SuitesView.as_view(), name="suites"),
    path("bots/<uuid:pk>/model-gate/", views.SuiteModelGateView.as_view(), name="suite_model_gate"),
    path("suites/from-message/", views.SuiteAddMessageView.as_view(), name="suite_add_message"),
    path("suites/<uuid:pk>/", views.SuiteView.as_view(), name="suite"),
    path("suites/<uuid:pk>/settings/", views.SuiteUpdateView.as_view(), name="suite_update"),
    path("suites/<uuid:pk>/delete/", views.SuiteDeleteView.as_view(), name="suite_delete"),
    path("suites/<uuid:pk>/cases/", views.SuiteCaseCreateView.as_view(), name="suite_case_create"),
    path("suites/<uuid:pk>/import/", views.SuiteImportView.as_view(), name="suite_import"),
    path("suites/<uuid:pk>/export/", views.SuiteExportView.as_view(), name="suite_export"),
    path("suites/<uuid:pk>/run/", views.SuiteRunView.as_view(), name="suite_run"),
    path("suites/cases/<uuid:pk>/", views.SuiteCaseView.as_view(), name="suite_case"),
    path("suites/cases/<uuid:pk>/delete/", views.SuiteCaseDeleteView.as_view(), name="suite_case_delete"),
    path("runs/<uuid:pk>/", views.RunView.as_view(), name="run"),
    path("runs/<uuid:pk>/progress/", views.RunProgressView.as_view(), name="run_progress"),
    path("runs/<uuid:pk>/acknowledge/", views.RunAcknowledgeView.as_view(), name="run_acknowledge"),
]
