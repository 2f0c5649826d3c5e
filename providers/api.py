"""REST endpoints for foundation models, provider credentials, the tenant's own models, model settings
and usage.

Provider keys are write-only: no response carries more of a key than its last four characters. Viewsets
take list, retrieve and destroy from DRF's mixins (shaped by ``serializer_class``); a delete goes through
the app's service in ``perform_destroy``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.mixins import DestroyModelMixin, ListModelMixin, RetrieveModelMixin
from rest_framework.request import Request
from rest_framework.response import Response

from providers import selectors, services
from providers.models import CustomModel, ProviderCredential, TenantModelSettings
from providers.serializers import (
    CatalogFilterInput,
    CredentialCreateInput,
    CredentialOutput,
    CredentialUpdateInput,
    CustomModelCreateInput,
    CustomModelOutput,
    FoundationModelOutput,
    ModelSettingsInput,
    ModelSettingsOutput,
    UsageOutput,
    UsageRangeInput,
)
from tenants.api_base import TenantAPIView, TenantViewSet
from tenants.models import Role


class FoundationModelListView(TenantAPIView):
    """The model catalog and this organisation's own models, with its enabled and default flags.

    A small, bounded list (a few dozen models), so it is returned whole rather than paginated.
    """

    @extend_schema(parameters=[CatalogFilterInput], responses=FoundationModelOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = CatalogFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.model_catalog(tenant=self.actor.tenant, **filters.validated_data)
        return Response(FoundationModelOutput(rows, many=True).data)


class ModelSettingsView(TenantAPIView):
    """Which models this organisation's bots may use, and the default chat and embedding models.

    Defaults are always enabled; retired models cannot be chosen.
    """

    write_role = Role.ADMIN

    def respond(self, settings_row: TenantModelSettings) -> Response:
        warnings = selectors.model_settings_warnings(tenant=self.actor.tenant)
        return Response(ModelSettingsOutput({"warnings": warnings, **_settings_fields(settings_row)}).data)

    @extend_schema(responses=ModelSettingsOutput)
    def get(self, request: Request) -> Response:
        return self.respond(selectors.model_settings(tenant=self.actor.tenant))

    @extend_schema(request=ModelSettingsInput, responses=ModelSettingsOutput)
    def patch(self, request: Request) -> Response:
        data = ModelSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        row = None
        if "monthly_budget_usd" in values:
            row = services.monthly_budget_update(
                actor=self.actor, monthly_budget_usd=values.pop("monthly_budget_usd")
            )
        if values or row is None:
            row = services.model_settings_update(actor=self.actor, **values)
        return self.respond(row)


def _settings_fields(settings_row: TenantModelSettings) -> dict[str, Any]:
    return {
        "enabled_models": settings_row.enabled_models,
        "default_chat_model": settings_row.default_chat_model,
        "default_embedding_model": settings_row.default_embedding_model,
        "monthly_budget_usd": settings_row.monthly_budget_usd,
        "spent_this_month_usd": selectors.spend_this_month(tenant=settings_row.tenant),
    }


class ProviderCredentialViewSet(ListModelMixin, RetrieveModelMixin, DestroyModelMixin, TenantViewSet):
    """Keys for OpenAI and Anthropic, and OpenAI-compatible servers (Ollama, vLLM, LM Studio) by base URL.

    ``api_key`` is write-only: responses show only ``masked_key`` (its last four characters). ``POST
    .../{id}/test`` makes one cheap call with the credential and records the result.
    """

    queryset = ProviderCredential.objects.all()
    write_role = Role.ADMIN
    serializer_class = CredentialOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=CredentialCreateInput, responses={201: CredentialOutput})
    def create(self, request: Request) -> Response:
        data = CredentialCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_create(actor=self.actor, **data.validated_data)
        return Response(CredentialOutput(credential).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CredentialUpdateInput, responses=CredentialOutput)
    def partial_update(self, request: Request, pk: str) -> Response:
        credential = self.get_object()  # 404 before anything about the body is said
        data = CredentialUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_update(
            actor=self.actor, credential_id=credential.pk, **data.validated_data
        )
        return Response(CredentialOutput(credential).data)

    def perform_destroy(self, instance: ProviderCredential) -> None:
        services.credential_delete(actor=self.actor, credential_id=instance.pk)

    @extend_schema(request=None, responses=CredentialOutput)
    @action(detail=True, methods=["post"], url_path="test", url_name="test")
    def test_connection(self, request: Request, pk: str) -> Response:
        """Make one cheap call with this credential; the result is stored in ``last_test_*``."""
        from providers.gateway import credential_test  # the gateway imports the SDKs: load them on use

        credential = credential_test(actor=self.actor, credential_id=self.get_object().pk)
        return Response(CredentialOutput(credential).data)


class CustomModelViewSet(ListModelMixin, RetrieveModelMixin, DestroyModelMixin, TenantViewSet):
    """Models this organisation serves itself behind an OpenAI-compatible credential."""

    queryset = CustomModel.objects.select_related("credential")
    write_role = Role.ADMIN
    serializer_class = CustomModelOutput
    http_method_names = ["get", "post", "delete", "head", "options"]

    @extend_schema(request=CustomModelCreateInput, responses={201: CustomModelOutput})
    def create(self, request: Request) -> Response:
        data = CustomModelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        model = services.custom_model_create(
            actor=self.actor, credential_id=fields.pop("credential"), **fields
        )
        return Response(CustomModelOutput(model).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: CustomModel) -> None:
        services.custom_model_delete(actor=self.actor, custom_model_id=instance.pk)


class UsageView(TenantAPIView):
    """Calls, tokens and cost by day, model or bot over a date range (inclusive; at most 366 days).

    Without dates: the last 30 days. An aggregate of at most a few hundred rows, returned whole rather
    than paginated; by day, every day of the range has a row.
    """

    @extend_schema(parameters=[UsageRangeInput], responses=UsageOutput)
    def get(self, request: Request) -> Response:
        data = UsageRangeInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        report = selectors.usage_report(tenant=self.actor.tenant, **data.validated_data)
        return Response(UsageOutput(report).data)
