"""Dashboard routes for regression suites (added to the "dashboard" namespace by config/urls.py).

Every route takes at most one id, named pk (tests/security enumerates id routes). Route names start with
"suite" or "run".
"""

from django.urls import URLPattern, URLResolver, path

from bots.regression.views import runs, suites

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots/<uuid:pk>/suites/", suites.SuitesView.as_view(), name="suites"),
    path("bots/<uuid:pk>/model-gate/", runs.SuiteModelGateView.as_view(), name="suite_model_gate"),
    path("suites/from-message/", suites.SuiteAddMessageView.as_view(), name="suite_add_message"),
    path("suites/<uuid:pk>/", suites.SuiteView.as_view(), name="suite"),
    path("suites/<uuid:pk>/settings/", suites.SuiteUpdateView.as_view(), name="suite_update"),
    path("suites/<uuid:pk>/delete/", suites.SuiteDeleteView.as_view(), name="suite_delete"),
    path("suites/<uuid:pk>/cases/", suites.SuiteCaseCreateView.as_view(), name="suite_case_create"),
    path("suites/<uuid:pk>/import/", suites.SuiteImportView.as_view(), name="suite_import"),
    path("suites/<uuid:pk>/export/", suites.SuiteExportView.as_view(), name="suite_export"),
    path("suites/<uuid:pk>/run/", runs.SuiteRunView.as_view(), name="suite_run"),
    path("suites/cases/<uuid:pk>/", suites.SuiteCaseView.as_view(), name="suite_case"),
    path("suites/cases/<uuid:pk>/delete/", suites.SuiteCaseDeleteView.as_view(), name="suite_case_delete"),
    path("runs/<uuid:pk>/", runs.RunView.as_view(), name="run"),
    path("runs/<uuid:pk>/progress/", runs.RunProgressView.as_view(), name="run_progress"),
    path("runs/<uuid:pk>/acknowledge/", runs.RunAcknowledgeView.as_view(), name="run_acknowledge"),
]
