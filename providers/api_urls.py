"""REST routes of the providers app (mounted at /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from providers import api

router = SimpleRouter(trailing_slash=False)
router.register("provider-credentials", api.ProviderCredentialViewSet, basename="provider-credential")
router.register("custom-models", api.CustomModelViewSet, basename="custom-model")

urlpatterns = [
    path("foundation-models", api.FoundationModelListView.as_view(), name="foundation-models"),
    path("model-settings", api.ModelSettingsView.as_view(), name="model-settings"),
    path("usage", api.UsageView.as_view(), name="usage"),
    *router.urls,
]
