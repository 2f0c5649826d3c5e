"""Input and output shapes of the providers REST API.

Input serializers carry names unique across the API: the OpenAPI component name is the class name, and
drf-spectacular would otherwise document two different inputs under one name.
"""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from core.serializers import StrictInputSerializer
from providers import selectors
from providers.models import CustomModel, ModelKind, Provider, ProviderCredential

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
        help_text="The same, for people: a model's name, a bot's name, 'A deleted bot', 'Not from a bot' "
        "(embedding knowledge, test searches, regression runs), ..."
    )


class UsageOutput(serializers.Serializer):
    group_by = serializers.ChoiceField(choices=selectors.USAGE_GROUP_BY)
    start = serializers.DateField()
    end = serializers.DateField()
    totals = UsageNumbersOutput()
    rows = UsageRowOutput(many=True)


# --- input ------------------------------------------------------------------------------------------


class CatalogFilterInput(StrictInputSerializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices, required=False)
    provider = serializers.ChoiceField(choices=selectors.MODEL_PROVIDER_FILTERS, required=False)
    capability = serializers.ChoiceField(choices=selectors.MODEL_CAPABILITY_FILTERS, required=False)


class ModelSettingsInput(StrictInputSerializer):
    enabled_models = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=500, required=False
    )
    default_chat_model = serializers.CharField(max_length=200, required=False)
    default_embedding_model = serializers.CharField(max_length=200, required=False)
    monthly_budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal(0), allow_null=True, required=False
    )


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


class UsageRangeInput(StrictInputSerializer):
    group_by = serializers.ChoiceField(choices=selectors.USAGE_GROUP_BY, default="day")
    start = serializers.DateField(required=False, help_text="YYYY-MM-DD; default: 29 days before end.")
    end = serializers.DateField(required=False, help_text="YYYY-MM-DD; default: today.")
