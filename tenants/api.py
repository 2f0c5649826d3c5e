"""REST endpoints for the tenant, its members and invitations, API keys and the audit log.

Viewsets take list, retrieve and destroy from DRF's mixins (shaped by ``serializer_class``); a delete
goes through the app's service in ``perform_destroy``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.mixins import DestroyModelMixin, ListModelMixin, RetrieveModelMixin
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import quotas, selectors, services
from tenants.api_base import TenantAPIView, TenantViewSet
from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Role
from tenants.serializers import (
    ApiKeyCreatedOutput,
    ApiKeyCreateInput,
    ApiKeyOutput,
    AuditEventOutput,
    InvitationOutput,
    MemberInviteInput,
    MemberOutput,
    MemberRoleInput,
    QuotasOutput,
    TenantOutput,
    TenantUpdateInput,
)


class TenantView(TenantAPIView):
    """The organisation the API key belongs to."""

    write_role = Role.ADMIN

    @extend_schema(responses=TenantOutput)
    def get(self, request: Request) -> Response:
        return Response(TenantOutput(self.actor.tenant).data)

    @extend_schema(request=TenantUpdateInput, responses=TenantOutput)
    def patch(self, request: Request) -> Response:
        data = TenantUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_update(actor=self.actor, **data.validated_data)
        return Response(TenantOutput(tenant).data)


class QuotasView(TenantAPIView):
    """The organisation's plan quotas: documents, stored bytes, crawl pages and regression runs per day,
    each with what is used of it."""

    @extend_schema(responses=QuotasOutput)
    def get(self, request: Request) -> Response:
        tenant = self.actor.tenant
        usages = [
            {"name": usage.quota.value, "used": usage.used, "limit": usage.limit, "resets_daily": usage.daily}
            for usage in quotas.usage(tenant)
        ]
        return Response(QuotasOutput({"plan": tenant.plan, "quotas": usages}).data)


class MemberViewSet(ListModelMixin, RetrieveModelMixin, DestroyModelMixin, TenantViewSet):
    """Members of the organisation. ``POST`` invites someone by email."""

    queryset = Membership.objects.select_related("user")
    write_role = Role.ADMIN
    serializer_class = MemberOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=MemberInviteInput, responses={201: InvitationOutput})
    def create(self, request: Request) -> Response:
        data = MemberInviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(actor=self.actor, **data.validated_data)
        return Response(InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberRoleInput, responses=MemberOutput)
    def partial_update(self, request: Request, pk: str) -> Response:
        membership = self.get_object()  # 404 before anything about the body is said
        data = MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            actor=self.actor, membership_id=membership.pk, role=data.validated_data["role"]
        )
        return Response(MemberOutput(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_remove(actor=self.actor, membership_id=instance.pk)


class InvitationViewSet(ListModelMixin, DestroyModelMixin, TenantViewSet):
    """Pending invitations. ``DELETE`` revokes one (its link stops working)."""

    queryset = Invitation.objects.filter(accepted_at__isnull=True)
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    serializer_class = InvitationOutput
    http_method_names = ["get", "delete", "head", "options"]

    def perform_destroy(self, instance: Invitation) -> None:
        services.invitation_revoke(actor=self.actor, invitation_id=instance.pk)


class ApiKeyViewSet(ListModelMixin, RetrieveModelMixin, DestroyModelMixin, TenantViewSet):
    """Secret API keys. The secret is returned once, by ``POST``; ``DELETE`` revokes a key."""

    queryset = ApiKey.objects.all()
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    serializer_class = ApiKeyOutput
    http_method_names = ["get", "post", "delete", "head", "options"]

    def filter_tenant_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # Each key's status and effective role depend on its creator's current membership.
        return selectors.with_creator_role(queryset.select_related("created_by"))

    @extend_schema(request=ApiKeyCreateInput, responses={201: ApiKeyCreatedOutput})
    def create(self, request: Request) -> Response:
        data = ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, secret = services.api_key_create(actor=self.actor, **data.validated_data)
        shown = selectors.api_key_get(tenant=self.actor.tenant, api_key_id=api_key.pk)
        body: dict[str, Any] = {**ApiKeyOutput(shown).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiKey) -> None:
        services.api_key_revoke(actor=self.actor, api_key_id=instance.pk)


class AuditEventViewSet(ListModelMixin, TenantViewSet):
    """Who changed what and when: memberships, roles, API keys and settings."""

    queryset = AuditEvent.objects.all()
    read_role = Role.ADMIN
    serializer_class = AuditEventOutput
    http_method_names = ["get", "head", "options"]
