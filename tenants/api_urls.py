"""REST routes of the tenants app (mounted at /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants import api

router = SimpleRouter(trailing_slash=False)
router.register("members", api.MemberViewSet, basename="member")
router.register("invitations", api.InvitationViewSet, basename="invitation")
router.register("api-keys", api.ApiKeyViewSet, basename="api-key")
router.register("audit-events", api.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("tenant", api.TenantView.as_view(), name="tenant"),
    path("tenant/quotas", api.QuotasView.as_view(), name="tenant-quotas"),
    *router.urls,
]
