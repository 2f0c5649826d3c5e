"""Foundation models: the shared catalog, each tenant's own servers, credentials, choices and usage.

A model is named everywhere by a *model reference*: ``"<provider>:<model id>"`` for catalog models
(``"openai:gpt-4o-mini"``, ``"local:all-MiniLM-L6-v2"``) and ``"custom:<uuid>"`` for a model a tenant
serves itself through an OpenAI-compatible endpoint. ``providers.selectors.model_get`` resolves either.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel, User


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"
    LOCAL = "local", "Built-in (local)"


class ModelKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class ModelSpec(models.Model):
    """What every model entry states: capabilities, limits and prices (USD per million tokens)."""

    display_name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    context_window = models.PositiveIntegerField(help_text="Tokens the model accepts (input + output).")
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_modalities = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    supports_vision = models.BooleanField(default=False)
    supports_image_embedding = models.BooleanField(default=False)
    input_price_per_million = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    output_price_per_million = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    embedding_dimensions = models.PositiveIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        abstract = True

    def cost_usd(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            Decimal(input_tokens) * self.input_price_per_million / million
            + Decimal(output_tokens) * self.output_price_per_million / million
        )


class FoundationModel(ModelSpec):
    """A catalog entry, shared by all tenants. Written only by ``manage.py sync_model_catalog``."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    model_id = models.CharField(max_length=120)
    released_on = models.DateField(null=True, blank=True)
    deprecated_on = models.DateField(null=True, blank=True)
    retires_on = models.DateField(null=True, blank=True)
    catalog_version = models.CharField(max_length=20)  # the data file's version that last wrote this row
    in_catalog = models.BooleanField(default=True)  # False once the data file no longer lists it

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="foundation_model_unique")
        ]
        ordering = ["provider", "kind", "display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.model_id}"

    @property
    def is_deprecated(self) -> bool:
        return self.deprecated_on is not None and self.deprecated_on <= timezone.localdate()

    @property
    def is_retired(self) -> bool:
        return self.retires_on is not None and self.retires_on <= timezone.localdate()


class ProviderCredential(TenantOwnedModel):
    """A tenant's key for OpenAI or Anthropic, or an OpenAI-compatible endpoint (base URL, optional key).

    The key is encrypted at rest (``providers.crypto``) and never leaves the server: only its last four
    characters are shown.
    """

    provider = models.CharField(max_length=20, choices=[c for c in Provider.choices if c[0] != "local"])
    name = models.CharField(max_length=100)
    base_url = models.URLField(blank=True, help_text="Required for OpenAI-compatible servers.")
    encrypted_api_key = models.TextField(blank=True)
    key_last_four = models.CharField(max_length=4, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="provider_credential_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    @property
    def masked_key(self) -> str:
        return f"••••{self.key_last_four}" if self.key_last_four else ""


class CustomModel(TenantOwnedModel, ModelSpec):
    """A model the tenant serves itself (Ollama, vLLM, LM Studio, llama.cpp) behind an endpoint credential."""

    credential = models.ForeignKey(ProviderCredential, on_delete=models.CASCADE, related_name="custom_models")
    model_name = models.CharField(
        max_length=200, help_text="The name the server knows it by, e.g. llama3.1:8b."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "credential", "model_name"], name="custom_model_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def ref(self) -> str:
        return f"custom:{self.pk}"


class TenantModelSettings(TenantOwnedModel):
    """Which models a tenant offers its bots, and its defaults."""

    enabled_models = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    default_chat_model = models.CharField(max_length=200, blank=True)
    default_embedding_model = models.CharField(max_length=200, blank=True)
    # Spending cap for a calendar month (UTC), all bots together; None: no cap.
    monthly_budget_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="tenant_model_settings_one_per_tenant")
        ]

    def __str__(self) -> str:
        return f"Model settings of {self.tenant_id}"


class CallOutcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


class UsageRecord(TenantOwnedModel):
    """One model call: what it used, cost and how long it took. Written for failures and cancels too."""

    bot_id = models.UUIDField(null=True, blank=True, db_index=True)
    model_ref = models.CharField(max_length=200)
    model_version = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    operation = models.CharField(max_length=10, choices=ModelKind.choices)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(default=0)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=CallOutcome.choices, default=CallOutcome.OK)
    error_code = models.CharField(max_length=40, blank=True)
    used_fallback = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="usage_tenant_time")]

    def __str__(self) -> str:
        return f"{self.operation} {self.model_ref} {self.outcome}"
