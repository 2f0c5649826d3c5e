"""Reads about models, credentials, a tenant's model settings and usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from core.errors import NotFound, ValidationFailed
from core.identifiers import one_by_id
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
    return one_by_id(
        ProviderCredential.objects.for_tenant(tenant), credential_id, missing="No such provider credential."
    )


def credential_for_provider(*, tenant: Tenant, provider: str) -> ProviderCredential | None:
    """The tenant's own key for OpenAI or Anthropic, if it has one."""
    return (
        ProviderCredential.objects.for_tenant(tenant).filter(provider=provider).order_by("created_at").first()
    )


def model_settings(*, tenant: Tenant) -> TenantModelSettings:
    """The tenant's settings; an unsaved default (local models only, the operator's default monthly
    budget ``DEFAULT_TENANT_MONTHLY_BUDGET_USD``) when it never chose. The first save of the settings
    keeps that budget; a stored row keeps whatever budget it holds, none included."""
    found = TenantModelSettings.objects.for_tenant(tenant).first()
    return found or TenantModelSettings(
        tenant=tenant,
        enabled_models=[DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL],
        default_chat_model=DEFAULT_CHAT_MODEL,
        default_embedding_model=DEFAULT_EMBEDDING_MODEL,
        monthly_budget_usd=settings.DEFAULT_TENANT_MONTHLY_BUDGET_USD,
    )


def model_get(*, tenant: Tenant, ref: str) -> ResolvedModel:
    """Resolve a model reference for this tenant, with the credential its calls will use."""
    provider, _, name = ref.partition(":")
    if provider == "custom":
        custom = one_by_id(custom_model_list(tenant=tenant), name, missing=f"No such model “{ref}”.")
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


def spend_since(
    *, tenant: Tenant, since: datetime, bot_id: uuid.UUID | None = None, provider: str | None = None
) -> Decimal:
    """The tenant's model spending since ``since``: every bot and operation, or one bot's, or one
    provider's."""
    records = UsageRecord.objects.for_tenant(tenant).filter(created_at__gte=since)
    if bot_id is not None:
        records = records.filter(bot_id=bot_id)
    if provider is not None:
        records = records.filter(provider=provider)
    return records.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def spend_this_month(*, tenant: Tenant) -> Decimal:
    """The tenant's model spending since the start of this month (UTC), every bot and operation."""
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = (
        UsageRecord.objects.for_tenant(tenant)
        .filter(created_at__gte=month_start)
        .aggregate(total=Sum("cost_usd"))["total"]
    )
    return total or Decimal(0)


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


# --- the models and usage pages (dashboard and REST API) ---------------------------------------------

MODEL_PROVIDER_FILTERS = ("openai", "anthropic", "local", "custom")  # reference prefixes; custom: own servers
MODEL_CAPABILITY_FILTERS = ("vision", "image_embedding")
COMPARE_MIN_MODELS, COMPARE_MAX_MODELS = 2, 4
# A typical support answer: the question with its retrieved passages in, a few paragraphs out.
TYPICAL_ANSWER_INPUT_TOKENS, TYPICAL_ANSWER_OUTPUT_TOKENS = 3_000, 400
USAGE_GROUP_BY = ("day", "model", "bot")
USAGE_DEFAULT_DAYS = 30
USAGE_MAX_DAYS = 366  # a year, leap day included: longer ranges belong in an export, not in one response


def model_catalog(
    *,
    tenant: Tenant,
    kind: str | None = None,
    provider: str | None = None,
    capability: str | None = None,
) -> list[dict[str, Any]]:
    """``available_models`` narrowed by provider and capability, each row with its ``retires_on`` date.

    ``provider`` is the model reference's prefix: ``openai``, ``anthropic``, ``local`` or ``custom``.
    """
    retirements = {
        f"{entry_provider}:{model_id}": retires_on
        for entry_provider, model_id, retires_on in catalog_list().values_list(
            "provider", "model_id", "retires_on"
        )
    }
    rows = []
    for row in available_models(tenant=tenant, kind=kind):
        if provider and row["provider"] != provider:
            continue
        if capability == "vision" and not row["supports_vision"]:
            continue
        if capability == "image_embedding" and not row["supports_image_embedding"]:
            continue
        rows.append({**row, "retires_on": retirements.get(row["ref"])})
    return rows


def model_typical_answer_cost(row: dict[str, Any]) -> Decimal | None:
    """What one typical support answer costs on a chat model row; None for embedding models."""
    if row["kind"] != ModelKind.CHAT:
        return None
    million = Decimal(1_000_000)
    return (
        Decimal(TYPICAL_ANSWER_INPUT_TOKENS) * row["input_price_per_million"] / million
        + Decimal(TYPICAL_ANSWER_OUTPUT_TOKENS) * row["output_price_per_million"] / million
    )


def model_comparison(*, tenant: Tenant, refs: list[str]) -> list[dict[str, Any]]:
    """Two to four models side by side, in the order asked, each with ``typical_answer_cost_usd``."""
    wanted = list(dict.fromkeys(ref for ref in refs if ref))
    if not COMPARE_MIN_MODELS <= len(wanted) <= COMPARE_MAX_MODELS:
        message = (
            f"Choose between {COMPARE_MIN_MODELS} and {COMPARE_MAX_MODELS} models to compare; "
            f"you chose {len(wanted)}."
        )
        raise ValidationFailed(message, field_errors={"models": [message]})
    by_ref = {row["ref"]: row for row in model_catalog(tenant=tenant)}
    unknown = [ref for ref in wanted if ref not in by_ref]
    if unknown:
        message = "No such model: " + ", ".join(f"“{ref}”" for ref in unknown) + "."
        raise ValidationFailed(message, field_errors={"models": [message]})
    return [
        {**by_ref[ref], "typical_answer_cost_usd": model_typical_answer_cost(by_ref[ref])} for ref in wanted
    ]


def model_settings_warnings(*, tenant: Tenant) -> list[str]:
    """Sentences about deprecated models among the tenant's enabled ones, for whoever chose them."""
    current = model_settings(tenant=tenant)
    warnings = []
    for row in model_catalog(tenant=tenant):
        if row["ref"] in current.enabled_models and row["is_deprecated"]:
            sentence = f"{row['display_name']} is deprecated by its provider"
            if row["deprecated_on"]:
                sentence += f" (since {_day(row['deprecated_on'])})"
            if row["retires_on"]:
                sentence += f" and stops working on {_day(row['retires_on'])}"
            warnings.append(sentence + "; plan a move to a newer model.")
    return warnings


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def custom_model_get(*, tenant: Tenant, custom_model_id: uuid.UUID | str) -> CustomModel:
    return one_by_id(custom_model_list(tenant=tenant), custom_model_id, missing="No such model.")


# Usage rows grouped by bot: a bot by its name; a bot since deleted (its usage stays: it is the bill);
# and the calls no bot made, which the Usage page explains (USAGE_NOT_FROM_A_BOT_HINT).
NOT_FROM_A_BOT = "Not from a bot"
DELETED_BOT = "A deleted bot"
USAGE_NOT_FROM_A_BOT_HINT = (
    "Model calls no visitor's question made: embedding your knowledge as documents are added or "
    "re-indexed, test searches, and regression runs (their answers and the judge's verdicts)."
)


def usage_bot_names(*, tenant: Tenant) -> dict[str, str]:
    """Each of the tenant's bots' name by id, for usage grouped by bot (one query)."""
    from bots import selectors as bot_selectors  # bots build on providers: imported on use

    return {str(pk): name for pk, name in bot_selectors.bot_list(tenant=tenant).values_list("pk", "name")}


def usage_report(
    *,
    tenant: Tenant,
    group_by: str = "day",
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Totals and rows of ``usage_summary`` for a validated range: by default the last 30 days, by day.

    Rows are ``{"key", "label", "calls", "input_tokens", "output_tokens", "cost_usd"}``: ``key`` is the
    ISO date, the model reference or the bot id ("" for calls made without a bot, such as ingestion);
    ``label`` the date, the model's name, the bot's name ("A deleted bot", "Not from a bot").
    By day, every day of the range has a row (zeros included), so the rows are a ready time series.
    """
    if group_by not in USAGE_GROUP_BY:
        raise ValidationFailed(
            "Group usage by day, model or bot.", field_errors={"group_by": ["Choose day, model or bot."]}
        )
    end = end or timezone.localdate()
    start = start or end - timedelta(days=USAGE_DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "The start date is after the end date.",
            field_errors={"start": ["The start date is after the end date."]},
        )
    if (end - start).days + 1 > USAGE_MAX_DAYS:
        message = f"Choose a range of at most {USAGE_MAX_DAYS} days."
        raise ValidationFailed(message, field_errors={"end": [message]})

    summary = usage_summary(tenant=tenant, start=start, end=end, group_by=group_by)
    if group_by == "day":
        by_day = {row["day"]: row for row in summary}
        days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
        empty = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": Decimal(0)}
        summary = [by_day.get(day, {"day": day, **empty}) for day in days]
    labels = {row["ref"]: row["display_name"] for row in available_models(tenant=tenant)}
    bot_names = usage_bot_names(tenant=tenant) if group_by == "bot" else {}
    rows = []
    for row in summary:
        group = row[group_by]
        if group_by == "day":
            key, label = group.isoformat(), group.isoformat()
        elif group_by == "model":
            key, label = group, labels.get(group, group)
        else:
            key = str(group) if group else ""
            label = bot_names.get(key, DELETED_BOT) if group else NOT_FROM_A_BOT
        numbers = {name: row[name] for name in ("calls", "input_tokens", "output_tokens", "cost_usd")}
        rows.append({"key": key, "label": label, **numbers})
    totals = {
        name: sum((row[name] for row in rows), Decimal(0) if name == "cost_usd" else 0)
        for name in ("calls", "input_tokens", "output_tokens", "cost_usd")
    }
    return {"group_by": group_by, "start": start, "end": end, "totals": totals, "rows": rows}


__all__ = ["DEFAULT_CHAT_MODEL", "DEFAULT_EMBEDDING_MODEL", "ModelKind", "ResolvedModel"]
