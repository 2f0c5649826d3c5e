"""REST endpoints for foundation models, provider credentials, the tenant's own models, model settings
and usage.

Provider keys are write-only: no response carries more of a key than its last four characters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.serializers import StrictInputSerializer
from providers import selectors, services
from providers.models import CustomModel, ModelKind, Provider, ProviderCredential, TenantModelSettings
from tenants.api_base import TenantAPIView, TenantViewSet
from tenants.models import Role

# Nested input serializers carry names unique across the API: the OpenAPI component name is the class
# name, and drf-spectacular would otherwise document two different inputs under one name.
CREDENTIAL_PROVIDERS = [Provider.OPENAI, Provider.ANTHROPIC, Provider.OPENAI_COMPATIBLE]
# Wide enough for any provider's key format, small enough that a pasted document is refused.
API_KEY_MAX_LENGTH = 500


# --- output -----------------------------------------------------------------------------------------


class FoundationModelOutput(serializers.Serializer):
    ref = serializers.CharField(
        help_text="The model reference bots and settings use, e.g. openai:gpt-4o-mini."
    )
    provider = serializers.ChoiceField(choices=selectors.MODEL_PROVIDER_FILTERS)
    provider_label = serializers.CharField()
    display_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ModelKind.choices)
    context_window = serializers.IntegerField(
        help_text="Tokens the model accepts, input and output together."
    )
    max_output_tokens = serializers.IntegerField(allow_null=True)
    input_modalities = serializers.ListField(child=serializers.CharField())
    supports_vision = serializers.BooleanField()
    supports_image_embedding = serializers.BooleanField()
    input_price_per_million = serializers.DecimalField(
        max_digits=10, decimal_places=4, help_text="USD per million input tokens."
    )
    output_price_per_million = serializers.DecimalField(
        max_digits=10, decimal_places=4, help_text="USD per million output tokens."
    )
    embedding_dimensions = serializers.IntegerField(allow_null=True)
    released_on = serializers.DateField(allow_null=True)
    deprecated_on = serializers.DateField(allow_null=True)
    retires_on = serializers.DateField(allow_null=True)
    is_deprecated = serializers.BooleanField()
    is_retired = serializers.BooleanField(help_text="Retired models can no longer be enabled or chosen.")
    notes = serializers.CharField()
    is_enabled = serializers.BooleanField(help_text="Offered to this organisation's bots.")
    is_default = serializers.BooleanField(help_text="The default chat or embedding model.")


class ModelSettingsOutput(serializers.Serializer):
    enabled_models = serializers.ListField(child=serializers.CharField())
    default_chat_model = serializers.CharField()
    default_embedding_model = serializers.CharField()
    monthly_budget_usd = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="Spending cap per calendar month (UTC), all bots together; null: no cap. Once reached, "
        "bots refuse questions before calling a model.",
    )
    spent_this_month_usd = serializers.DecimalField(max_digits=14, decimal_places=4)
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="Deprecated models among the enabled ones."
    )


class CredentialOutput(serializers.ModelSerializer):
    masked_key = serializers.CharField(help_text="•••• and the key's last four characters; never more.")
    has_key = serializers.SerializerMethodField()

    class Meta:
        model = ProviderCredential
        fields = [
            "id",
            "provider",
            "name",
            "base_url",
            "masked_key",
            "has_key",
            "last_tested_at",
            "last_test_ok",
            "last_test_message",
            "created_at",
        ]

    def get_has_key(self, credential: ProviderCredential) -> bool:
        return bool(credential.encrypted_api_key)


class CustomModelOutput(serializers.ModelSerializer):
    ref = serializers.CharField()
    credential_name = serializers.CharField(source="credential.name")

    class Meta:
        model = CustomModel
        fields = [
            "id",
            "ref",
            "credential",
            "credential_name",
            "model_name",
            "display_name",
            "kind",
            "context_window",
            "max_output_tokens",
            "input_price_per_million",
            "output_price_per_million",
            "embedding_dimensions",
            "created_at",
        ]


class UsageNumbersOutput(serializers.Serializer):
    calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(
        max_digits=24, decimal_places=8, help_text="USD, as a decimal string."
    )


class UsageRowOutput(UsageNumbersOutput):
    key = serializers.CharField(help_text="The ISO date, the model reference, or the bot id ('' for none).")
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="The same, for people: a model's name, 'Without a bot', ..."
    )


class UsageOutput(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=selectors.USAGE_GROUP_BY)
    start = serializers.DateField()
    end = serializers.DateField()
    totals = UsageNumbersOutput()
    rows = UsageRowOutput(many=True)


# --- endpoints --------------------------------------------------------------------------------------


class FoundationModelListView(TenantAPIView):
    """The model catalog and this organisation's own models, with its enabled and default flags.

    A small, bounded list (a few dozen models), so it is returned whole rather than paginated.
    """

    class CatalogFilterInput(StrictInputSerializer):
        kind = serializers.ChoiceField(choices=ModelKind.choices, required=False)
        provider = serializers.ChoiceField(choices=selectors.MODEL_PROVIDER_FILTERS, required=False)
        capability = serializers.ChoiceField(choices=selectors.MODEL_CAPABILITY_FILTERS, required=False)

    @extend_schema(parameters=[CatalogFilterInput], responses=FoundationModelOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = self.CatalogFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.model_catalog(tenant=self.actor.tenant, **filters.validated_data)
        return Response(FoundationModelOutput(rows, many=True).data)


class ModelSettingsView(TenantAPIView):
    """Which models this organisation's bots may use, and the default chat and embedding models.

    Defaults are always enabled; retired models cannot be chosen.
    """

    write_role = Role.ADMIN

    class ModelSettingsInput(StrictInputSerializer):
        enabled_models = serializers.ListField(
            child=serializers.CharField(max_length=200), max_length=500, required=False
        )
        default_chat_model = serializers.CharField(max_length=200, required=False)
        default_embedding_model = serializers.CharField(max_length=200, required=False)
        monthly_budget_usd = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=Decimal(0), allow_null=True, required=False
        )

    def respond(self, settings_row: TenantModelSettings) -> Response:
        warnings = selectors.model_settings_warnings(tenant=self.actor.tenant)
        return Response(ModelSettingsOutput({"warnings": warnings, **_settings_fields(settings_row)}).data)

    @extend_schema(responses=ModelSettingsOutput)
    def get(self, request: Request) -> Response:
        return self.respond(selectors.model_settings(tenant=self.actor.tenant))

    @extend_schema(request=ModelSettingsInput, responses=ModelSettingsOutput)
    def patch(self, request: Request) -> Response:
        data = self.ModelSettingsInput(data=request.data)
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


class ProviderCredentialViewSet(TenantViewSet):
    """Keys for OpenAI and Anthropic, and OpenAI-compatible servers (Ollama, vLLM, LM Studio) by base URL.

    ``api_key`` is write-only: responses show only ``masked_key`` (its last four characters). ``POST
    .../{id}/test`` makes one cheap call with the credential and records the result.
    """

    queryset = ProviderCredential.objects.all()
    write_role = Role.ADMIN
    serializer_class = CredentialOutput
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    class CredentialCreateInput(StrictInputSerializer):
        provider = serializers.ChoiceField(choices=CREDENTIAL_PROVIDERS)
        name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        api_key = serializers.CharField(
            max_length=API_KEY_MAX_LENGTH,
            required=False,
            allow_blank=True,
            default="",
            write_only=True,
            help_text="Required for OpenAI and Anthropic; optional for OpenAI-compatible servers.",
        )
        base_url = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text="OpenAI-compatible servers only, e.g. https://llm.example.com/v1.",
        )

    class CredentialUpdateInput(StrictInputSerializer):
        name = serializers.CharField(max_length=100, required=False)
        api_key = serializers.CharField(
            max_length=API_KEY_MAX_LENGTH,
            required=False,
            allow_blank=True,
            write_only=True,
            help_text="Replaces the key; an empty key removes it (OpenAI-compatible servers only).",
        )
        base_url = serializers.CharField(max_length=200, required=False)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CredentialOutput(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CredentialOutput(self.get_object()).data)

    @extend_schema(request=CredentialCreateInput, responses={201: CredentialOutput})
    def create(self, request: Request) -> Response:
        data = self.CredentialCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_create(actor=self.actor, **data.validated_data)
        return Response(CredentialOutput(credential).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CredentialUpdateInput, responses=CredentialOutput)
    def partial_update(self, request: Request, pk: str) -> Response:
        credential = self.get_object()  # 404 before anything about the body is said
        data = self.CredentialUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = services.credential_update(
            actor=self.actor, credential_id=credential.pk, **data.validated_data
        )
        return Response(CredentialOutput(credential).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.credential_delete(actor=self.actor, credential_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=CredentialOutput)
    @action(detail=True, methods=["post"], url_path="test", url_name="test")
    def test_connection(self, request: Request, pk: str) -> Response:
        """Make one cheap call with this credential; the result is stored in ``last_test_*``."""
        from providers.gateway import credential_test  # the gateway imports the SDKs: load them on use

        credential = credential_test(actor=self.actor, credential_id=self.get_object().pk)
        return Response(CredentialOutput(credential).data)


class CustomModelViewSet(TenantViewSet):
    """Models this organisation serves itself behind an OpenAI-compatible credential."""

    queryset = CustomModel.objects.select_related("credential")
    write_role = Role.ADMIN
    serializer_class = CustomModelOutput
    http_method_names = ["get", "post", "delete", "head", "options"]

    class CustomModelCreateInput(StrictInputSerializer):
        credential = serializers.UUIDField(help_text="The id of an OpenAI-compatible provider credential.")
        model_name = serializers.CharField(max_length=200, help_text="The name the server knows it by.")
        display_name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
        kind = serializers.ChoiceField(choices=ModelKind.choices)
        context_window = serializers.IntegerField(min_value=1, max_value=100_000_000)
        max_output_tokens = serializers.IntegerField(
            min_value=1, max_value=100_000_000, required=False, allow_null=True, default=None
        )
        input_price_per_million = serializers.DecimalField(
            max_digits=10, decimal_places=4, min_value=0, required=False, default=Decimal(0)
        )
        output_price_per_million = serializers.DecimalField(
            max_digits=10, decimal_places=4, min_value=0, required=False, default=Decimal(0)
        )
        embedding_dimensions = serializers.IntegerField(
            min_value=1, max_value=65_536, required=False, allow_null=True, default=None
        )

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CustomModelOutput(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(CustomModelOutput(self.get_object()).data)

    @extend_schema(request=CustomModelCreateInput, responses={201: CustomModelOutput})
    def create(self, request: Request) -> Response:
        data = self.CustomModelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        model = services.custom_model_create(
            actor=self.actor, credential_id=fields.pop("credential"), **fields
        )
        return Response(CustomModelOutput(model).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, pk: str) -> Response:
        services.custom_model_delete(actor=self.actor, custom_model_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsageView(TenantAPIView):
    """Calls, tokens and cost by day, model or bot over a date range (inclusive; at most 366 days).

    Without dates: the last 30 days. An aggregate of at most a few hundred rows, returned whole rather
    than paginated; by day, every day of the range has a row.
    """

    class UsageRangeInput(StrictInputSerializer):
        group_by = serializers.ChoiceField(choices=selectors.USAGE_GROUP_BY, default="day")
        start = serializers.DateField(required=False, help_text="YYYY-MM-DD; default: 29 days before end.")
        end = serializers.DateField(required=False, help_text="YYYY-MM-DD; default: today.")

    @extend_schema(parameters=[UsageRangeInput], responses=UsageOutput)
    def get(self, request: Request) -> Response:
        data = self.UsageRangeInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        report = selectors.usage_report(tenant=self.actor.tenant, **data.validated_data)
        return Response(UsageOutput(report).data)
