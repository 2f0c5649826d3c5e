"""Dashboard routes for models and usage (mounted at /app/ in the "dashboard" namespace by config/urls.py)."""

from django.urls import path

from providers import views

urlpatterns = [
    path("models/", views.ModelsView.as_view(), name="models"),
    path("models/compare/", views.ModelCompareView.as_view(), name="models_compare"),
    path("models/settings/", views.ModelSettingsUpdateView.as_view(), name="model_settings"),
    path("models/providers/", views.CredentialCreateView.as_view(), name="credential_create"),
    # Ids are named pk: tests/security enumerates id routes and fills in the parameters it knows.
    path("models/providers/<uuid:pk>/", views.CredentialUpdateView.as_view(), name="credential_update"),
    path(
        "models/providers/<uuid:pk>/delete/", views.CredentialDeleteView.as_view(), name="credential_delete"
    ),
    path("models/providers/<uuid:pk>/test/", views.CredentialTestView.as_view(), name="credential_test"),
    path("models/own/", views.CustomModelCreateView.as_view(), name="custom_model_create"),
    path("models/own/<uuid:pk>/delete/", views.CustomModelDeleteView.as_view(), name="custom_model_delete"),
    path("usage/", views.UsageView.as_view(), name="usage"),
]
