"""Reads about models, credentials, a tenant's model settings and usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncDay

from providers.models import (
    CustomModel,
    FoundationModel,
    ModelKind,
    ModelSpec,
    Provider,
    ProviderCredential,
    TenantModelSettings,
    UsageRecord,
)
from tenants.errors import NotFound
from tenants.models import Tenant

DEFAULT_CHAT_MODEL = "local:no-llm"
DEFAULT_EMBEDDING_MODEL = "local:all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ResolvedModel:
    """Everything needed to call one model for one tenant."""

    ref: str
    provider: str  # Provider value; custom models resolve to openai_compatible
    provider_model_id: str  # what the provider's API calls it
    spec: ModelSpec
    credential: ProviderCredential | None  # None: the platform's key (or none needed, for local models)

    @property
    def display_name(self) -> str:
        return self.spec.display_name


def catalog_list(
    *,
    kind: str | None = None,
    provider: str | None = None,
    capability: str | None = None,
    include_removed: bool = False,
) -> QuerySet[FoundationModel]:
    models = FoundationModel.objects.all()
    if not include_removed:
        models = models.filter(in_catalog=True)
    if kind:
        models = models.filter(kind=kind)
    if provider:
        models = models.filter(provider=provider)
    if capability == "vision":
        models = models.filter(supports_vision=True)
    elif capability == "image_embedding":
        models = models.filter(supports_image_embedding=True)
    return models.order_by("provider", "kind", "display_name")


def custom_model_list(*, tenant: Tenant) -> QuerySet[CustomModel]:
    return CustomModel.objects.for_tenant(tenant).select_related("credential").order_by("display_name")


def credential_list(*, tenant: Tenant) -> QuerySet[ProviderCredential]:
    return ProviderCredential.objects.for_tenant(tenant).order_by("provider", "name")


def credential_get(*, tenant: Tenant, credential_id: uuid.UUID | str) -> ProviderCredential:
    credential = ProviderCredential.objects.for_tenant(tenant).filter(pk=credential_id).first()
    if credential is None:
        raise NotFound("No such provider credential.")
    return credential


def credential_for_provider(*, tenant: Tenant, provider: str) -> ProviderCredential | None:
    """The tenant's own key for OpenAI or Anthropic, if it has one."""
    return (
        ProviderCredential.objects.for_tenant(tenant).filter(provider=provider).order_by("created_at").first()
    )


def model_settings(*, tenant: Tenant) -> TenantModelSettings:
    """The tenant's settings; an unsaved default (local models only) when it never chose."""
    found = TenantModelSettings.objects.for_tenant(tenant).first()
    return found or TenantModelSettings(
        tenant=tenant,
        enabled_models=[DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL],
        default_chat_model=DEFAULT_CHAT_MODEL,
        default_embedding_model=DEFAULT_EMBEDDING_MODEL,
    )


def model_get(*, tenant: Tenant, ref: str) -> ResolvedModel:
    """Resolve a model reference for this tenant, with the credential its calls will use."""
    provider, _, name = ref.partition(":")
    if provider == "custom":
        try:
            custom = custom_model_list(tenant=tenant).get(pk=uuid.UUID(name))
        except (ValueError, CustomModel.DoesNotExist):
            raise NotFound(f"No such model “{ref}”.") from None
        return ResolvedModel(
            ref=ref,
            provider=Provider.OPENAI_COMPATIBLE,
            provider_model_id=custom.model_name,
            spec=custom,
            credential=custom.credential,
        )
    entry = FoundationModel.objects.filter(provider=provider, model_id=name, in_catalog=True).first()
    if entry is None:
        raise NotFound(f"No such model “{ref}”.")
    credential = (
        None if provider == Provider.LOCAL else credential_for_provider(tenant=tenant, provider=provider)
    )
    return ResolvedModel(
        ref=ref, provider=provider, provider_model_id=entry.model_id, spec=entry, credential=credential
    )


def available_models(*, tenant: Tenant, kind: str | None = None) -> list[dict[str, Any]]:
    """Catalog and custom models as one list of plain rows, with the tenant's enabled/default flags."""
    settings_row = model_settings(tenant=tenant)
    enabled = set(settings_row.enabled_models)
    rows: list[dict[str, Any]] = []
    for entry in catalog_list(kind=kind):
        rows.append(
            _row(
                entry.ref,
                entry,
                entry.get_provider_display(),
                enabled,
                settings_row,
                deprecated=entry.is_deprecated,
                retired=entry.is_retired,
                released_on=entry.released_on,
                deprecated_on=entry.deprecated_on,
            )
        )
    customs = custom_model_list(tenant=tenant)
    if kind:
        customs = customs.filter(kind=kind)
    for custom in customs:
        rows.append(
            _row(
                custom.ref,
                custom,
                f"{custom.credential.name} (OpenAI-compatible)",
                enabled,
                settings_row,
                deprecated=False,
                retired=False,
                released_on=None,
                deprecated_on=None,
            )
        )
    return rows


def _row(
    ref: str,
    spec: ModelSpec,
    provider_label: str,
    enabled: set[str],
    settings_row: TenantModelSettings,
    *,
    deprecated: bool,
    retired: bool,
    released_on: date | None,
    deprecated_on: date | None,
) -> dict[str, Any]:
    return {
        "ref": ref,
        "provider": ref.partition(":")[0],
        "provider_label": provider_label,
        "display_name": spec.display_name,
        "kind": spec.kind,
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "input_modalities": spec.input_modalities,
        "supports_vision": spec.supports_vision,
        "supports_image_embedding": spec.supports_image_embedding,
        "input_price_per_million": spec.input_price_per_million,
        "output_price_per_million": spec.output_price_per_million,
        "embedding_dimensions": spec.embedding_dimensions,
        "released_on": released_on,
        "deprecated_on": deprecated_on,
        "is_deprecated": deprecated,
        "is_retired": retired,
        "notes": spec.notes,
        "is_enabled": ref in enabled,
        "is_default": ref in (settings_row.default_chat_model, settings_row.default_embedding_model),
    }


def usage_list(*, tenant: Tenant) -> QuerySet[UsageRecord]:
    return UsageRecord.objects.for_tenant(tenant).order_by("-created_at")


USAGE_GROUPINGS = {"day": TruncDay("created_at"), "model": F("model_ref"), "bot": F("bot_id")}


def usage_summary(*, tenant: Tenant, start: date, end: date, group_by: str) -> list[dict[str, Any]]:
    """Calls, tokens and cost per day, model or bot between two dates (inclusive).

    Each row is ``{<group_by>: day | model ref | bot id, "calls", "input_tokens", "output_tokens",
    "cost_usd"}``; days oldest first, models and bots most expensive first.
    """
    if group_by not in USAGE_GROUPINGS:
        raise ValueError(f"cannot group usage by {group_by!r}")
    grouped = (
        usage_list(tenant=tenant)
        .filter(created_at__date__gte=start, created_at__date__lte=end)
        .annotate(group=USAGE_GROUPINGS[group_by])
        .values("group")
        .annotate(
            calls=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("group")
    )
    rows: list[dict[str, Any]] = []
    for row in grouped:
        group = row["group"]
        rows.append(
            {
                group_by: group.date() if group_by == "day" else group,
                "calls": row["calls"],
                "input_tokens": row["input_tokens"] or 0,
                "output_tokens": row["output_tokens"] or 0,
                "cost_usd": row["cost_usd"] or Decimal(0),
            }
        )
    if group_by != "day":
        rows.sort(key=lambda row: row["cost_usd"], reverse=True)
    return rows


__all__ = ["DEFAULT_CHAT_MODEL", "DEFAULT_EMBEDDING_MODEL", "ModelKind", "ResolvedModel"]
