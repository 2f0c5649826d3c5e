"""Writes about models: the catalog sync, credentials, custom models, model settings and usage records."""

from __future__ import annotations

import tomllib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from core import outbound
from core.database import save_or_conflict
from core.errors import Conflict, ValidationFailed
from providers import crypto, selectors
from providers.models import (
    CallOutcome,
    CustomModel,
    FoundationModel,
    ModelKind,
    Provider,
    ProviderCredential,
    TenantModelSettings,
    UsageRecord,
)
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.toml"
CATALOG_FIELDS = [
    "display_name", "kind", "context_window", "max_output_tokens", "input_modalities", "supports_vision",
    "supports_image_embedding", "input_price_per_million", "output_price_per_million", "embedding_dimensions",
    "released_on", "deprecated_on", "retires_on", "notes",
]  # fmt: skip
KEYED_PROVIDERS = {Provider.OPENAI, Provider.ANTHROPIC}


# --- catalog ----------------------------------------------------------------------------------------


@dataclass
class CatalogSyncReport:
    version: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def _catalog_values(entry: dict[str, Any]) -> dict[str, Any]:
    values = {name: entry.get(name) for name in CATALOG_FIELDS}
    values["input_modalities"] = values["input_modalities"] or []
    values["notes"] = values["notes"] or ""
    values["supports_vision"] = bool(values["supports_vision"])
    values["supports_image_embedding"] = bool(values["supports_image_embedding"])
    for price in ("input_price_per_million", "output_price_per_million"):
        values[price] = Decimal(str(values[price] or "0"))
    if values["kind"] not in ModelKind.values:
        raise ValueError(f"{entry.get('model_id')}: unknown kind {values['kind']!r}")
    return values


@transaction.atomic
def catalog_sync(*, path: Path = CATALOG_PATH) -> CatalogSyncReport:
    """Make the catalog table match the data file. Idempotent; never touches tenants' settings.

    Models dropped from the file are kept, marked ``in_catalog=False``, so references to them keep
    resolving to a clear "no such model" instead of breaking foreign data.
    """
    data = tomllib.loads(path.read_text())
    report = CatalogSyncReport(version=str(data["version"]))
    seen: set[tuple[str, str]] = set()
    for entry in data["models"]:
        key = (entry["provider"], entry["model_id"])
        if key in seen:
            raise ValueError(f"{key} is listed twice in {path.name}")
        seen.add(key)
        values = {**_catalog_values(entry), "catalog_version": report.version, "in_catalog": True}
        existing = FoundationModel.objects.filter(provider=key[0], model_id=key[1]).first()
        if existing is None:
            FoundationModel.objects.create(provider=key[0], model_id=key[1], **values)
            report.created.append(f"{key[0]}:{key[1]}")
        elif any(
            getattr(existing, name) != value for name, value in values.items() if name != "catalog_version"
        ):
            FoundationModel.objects.filter(pk=existing.pk).update(**values)
            report.updated.append(existing.ref)
        else:
            report.unchanged += 1
    for stale in FoundationModel.objects.filter(in_catalog=True):
        if (stale.provider, stale.model_id) not in seen:
            stale.in_catalog = False
            stale.save(update_fields=["in_catalog"])
            report.removed.append(stale.ref)
    return report


# --- credentials ------------------------------------------------------------------------------------


def validate_endpoint_url(base_url: str) -> str:
    """An OpenAI-compatible base URL: http(s), and a public address unless the platform allows private ones.

    Private addresses are refused by default because Groundwork would call them from inside its own
    network (SSRF); self-hosters whose Ollama runs beside Groundwork set ALLOW_PRIVATE_MODEL_ENDPOINTS.
    The rule is ``core.outbound.address_allowed``, the same the SDK clients' transport applies to every
    connection: this check answers at once, that one holds when the name later resolves elsewhere.
    """
    from providers.adapters.base import endpoint_policy  # no SDK import: base needs only httpx2

    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "Use an http:// or https:// URL, e.g. https://llm.example.com/v1.",
            field_errors={"base_url": ["Use an http:// or https:// URL."]},
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationFailed(
            "The URL's port is not a number from 1 to 65535.",
            field_errors={"base_url": ["Invalid port."]},
        ) from None
    if not settings.ALLOW_PRIVATE_MODEL_ENDPOINTS:
        try:
            outbound.resolve_allowed(parts.hostname, port, endpoint_policy())
        except outbound.OutboundRefused:
            raise ValidationFailed(
                "This address is private or does not resolve. This installation only calls public model "
                "servers; its operator can allow private ones with ALLOW_PRIVATE_MODEL_ENDPOINTS.",
                field_errors={
                    "base_url": [
                        "This installation does not reach private, loopback or unresolvable addresses "
                        "(its operator can allow them with ALLOW_PRIVATE_MODEL_ENDPOINTS)."
                    ]
                },
            ) from None
    return base_url.strip().rstrip("/")


def _store_key(credential: ProviderCredential, api_key: str) -> None:
    api_key = api_key.strip()
    credential.encrypted_api_key = crypto.encrypt(api_key) if api_key else ""
    credential.key_last_four = api_key[-4:] if len(api_key) >= 8 else ""


@runs_in_actor_tenant
def credential_create(
    *, actor: Actor, provider: str, name: str, api_key: str = "", base_url: str = ""
) -> ProviderCredential:
    actor.require(Role.ADMIN, "manage provider credentials")
    if provider not in (Provider.OPENAI, Provider.ANTHROPIC, Provider.OPENAI_COMPATIBLE):
        raise ValidationFailed(
            "Choose OpenAI, Anthropic or an OpenAI-compatible server.",
            field_errors={"provider": ["Unknown provider."]},
        )
    if provider in KEYED_PROVIDERS and not api_key.strip():
        raise ValidationFailed("Paste the API key.", field_errors={"api_key": ["This field is required."]})
    if provider in KEYED_PROVIDERS and selectors.credential_for_provider(
        tenant=actor.tenant, provider=provider
    ):
        raise Conflict(
            f"There is already a {Provider(provider).label} key; replace it instead of adding another."
        )
    credential = ProviderCredential(
        tenant=actor.tenant,
        provider=provider,
        name=name.strip() or Provider(provider).label,
        created_by=actor.user,
    )
    credential.base_url = validate_endpoint_url(base_url) if provider == Provider.OPENAI_COMPATIBLE else ""
    _store_key(credential, api_key)
    save_or_conflict(credential, message=f"A credential named “{credential.name}” already exists.")
    audit(
        actor,
        action="provider_credential.created",
        target=credential,
        changes={"provider": provider, "name": credential.name, "key": credential.masked_key},
    )
    return credential


@runs_in_actor_tenant
def credential_update(
    *,
    actor: Actor,
    credential_id: uuid.UUID,
    name: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> ProviderCredential:
    """Rename, replace the key (an empty key clears it, for endpoints) or move the endpoint."""
    actor.require(Role.ADMIN, "manage provider credentials")
    credential = selectors.credential_get(tenant=actor.tenant, credential_id=credential_id)
    changes: dict[str, Any] = {}
    if name is not None and name.strip() and name.strip() != credential.name:
        changes["name"] = {"from": credential.name, "to": name.strip()}
        credential.name = name.strip()
    if base_url is not None and credential.provider == Provider.OPENAI_COMPATIBLE:
        new_url = validate_endpoint_url(base_url)
        if new_url != credential.base_url:
            changes["base_url"] = {"from": credential.base_url, "to": new_url}
            credential.base_url = new_url
    if api_key is not None:
        if credential.provider in KEYED_PROVIDERS and not api_key.strip():
            raise ValidationFailed(
                "Paste the new API key.", field_errors={"api_key": ["This field is required."]}
            )
        previous = credential.masked_key
        _store_key(credential, api_key)
        changes["key"] = {"from": previous, "to": credential.masked_key}
        credential.last_tested_at, credential.last_test_ok, credential.last_test_message = None, None, ""
    if changes:
        credential.save()
        audit(actor, action="provider_credential.updated", target=credential, changes=changes)
    return credential


@runs_in_actor_tenant
def credential_delete(*, actor: Actor, credential_id: uuid.UUID) -> None:
    actor.require(Role.ADMIN, "manage provider credentials")
    credential = selectors.credential_get(tenant=actor.tenant, credential_id=credential_id)
    audit(
        actor,
        action="provider_credential.deleted",
        target=credential,
        changes={"provider": credential.provider, "name": credential.name},
    )
    _forget_models(actor.tenant, {model.ref for model in credential.custom_models.all()})  # deleted with it
    credential.delete()


def credential_api_key(credential: ProviderCredential) -> str:
    """The decrypted key, for building an SDK client on the server. Never render or log it."""
    return crypto.decrypt(credential.encrypted_api_key) if credential.encrypted_api_key else ""


@runs_in_actor_tenant
def credential_record_test(
    *, actor: Actor, credential_id: uuid.UUID, ok: bool, message: str
) -> ProviderCredential:
    from django.utils import timezone

    actor.require(Role.ADMIN, "test provider credentials")
    credential = selectors.credential_get(tenant=actor.tenant, credential_id=credential_id)
    credential.last_tested_at = timezone.now()
    credential.last_test_ok = ok
    credential.last_test_message = message[:300]
    credential.save(update_fields=["last_tested_at", "last_test_ok", "last_test_message"])
    return credential


def reencrypt_all_credentials() -> int:
    """Re-encrypt every stored key under the current primary key (after a key rotation)."""
    from tenants.context import unscoped

    with unscoped(reason="platform key rotation re-encrypts every tenant's provider keys"):
        return crypto.reencrypt_column(ProviderCredential.objects.all(), "encrypted_api_key")


# --- custom models and settings ---------------------------------------------------------------------


@runs_in_actor_tenant
def custom_model_create(
    *,
    actor: Actor,
    credential_id: uuid.UUID,
    model_name: str,
    display_name: str,
    kind: str,
    context_window: int,
    max_output_tokens: int | None = None,
    input_price_per_million: Decimal = Decimal(0),
    output_price_per_million: Decimal = Decimal(0),
    embedding_dimensions: int | None = None,
) -> CustomModel:
    actor.require(Role.ADMIN, "add models")
    credential = selectors.credential_get(tenant=actor.tenant, credential_id=credential_id)
    if credential.provider != Provider.OPENAI_COMPATIBLE:
        raise ValidationFailed(
            "Custom models run on an OpenAI-compatible endpoint.",
            field_errors={"credential": ["Choose an OpenAI-compatible endpoint."]},
        )
    if kind == ModelKind.EMBEDDING and not embedding_dimensions:
        raise ValidationFailed(
            "Say how many dimensions its vectors have.",
            field_errors={"embedding_dimensions": ["Required for embedding models."]},
        )
    model = CustomModel(
        tenant=actor.tenant,
        credential=credential,
        model_name=model_name.strip(),
        display_name=display_name.strip() or model_name.strip(),
        kind=kind,
        context_window=context_window,
        max_output_tokens=max_output_tokens,
        input_price_per_million=input_price_per_million,
        output_price_per_million=output_price_per_million,
        embedding_dimensions=embedding_dimensions,
        input_modalities=["text"],
    )
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError:
        raise Conflict(f"{model.model_name} is already defined on this endpoint.") from None
    audit(
        actor, action="custom_model.created", target=model, changes={"model": model.model_name, "kind": kind}
    )
    return model


@runs_in_actor_tenant
def custom_model_delete(*, actor: Actor, custom_model_id: uuid.UUID) -> None:
    actor.require(Role.ADMIN, "remove models")
    model = selectors.custom_model_get(tenant=actor.tenant, custom_model_id=custom_model_id)
    audit(actor, action="custom_model.deleted", target=model, changes={"model": model.model_name})
    _forget_models(actor.tenant, {model.ref})
    model.delete()


def _forget_models(tenant: Tenant, refs: set[str]) -> None:
    """Take deleted models out of the tenant's choices; a default falls back to the built-in model."""
    row = TenantModelSettings.objects.for_tenant(tenant).select_for_update().first()
    if row is None:
        return
    row.enabled_models = [ref for ref in row.enabled_models if ref not in refs]
    if row.default_chat_model in refs:
        row.default_chat_model = selectors.DEFAULT_CHAT_MODEL
    if row.default_embedding_model in refs:
        row.default_embedding_model = selectors.DEFAULT_EMBEDDING_MODEL
    for ref in (row.default_chat_model, row.default_embedding_model):
        if ref not in row.enabled_models:
            row.enabled_models.append(ref)
    row.save()


@runs_in_actor_tenant
def model_settings_update(
    *,
    actor: Actor,
    enabled_models: list[str] | None = None,
    default_chat_model: str | None = None,
    default_embedding_model: str | None = None,
) -> TenantModelSettings:
    """Choose which models bots may use and the defaults. Defaults are always enabled."""
    actor.require(Role.ADMIN, "change model settings")
    current = selectors.model_settings(tenant=actor.tenant)
    enabled = list(dict.fromkeys(enabled_models if enabled_models is not None else current.enabled_models))
    chat = default_chat_model if default_chat_model is not None else current.default_chat_model
    embedding = (
        default_embedding_model if default_embedding_model is not None else current.default_embedding_model
    )
    # Only new choices are checked: a model retired since it was enabled stays listed (and flagged)
    # until someone removes it, instead of blocking every later change of other settings.
    errors: dict[str, list[str]] = {}
    for ref in enabled:
        if ref not in current.enabled_models:
            _require_choosable(actor.tenant, ref, None, "enabled_models", errors)
    if chat != current.default_chat_model or default_chat_model is not None:
        _require_choosable(actor.tenant, chat, ModelKind.CHAT, "default_chat_model", errors)
    if embedding != current.default_embedding_model or default_embedding_model is not None:
        _require_choosable(actor.tenant, embedding, ModelKind.EMBEDDING, "default_embedding_model", errors)
    if errors:
        details = " ".join(message for messages in errors.values() for message in messages)
        raise ValidationFailed(f"Some models cannot be chosen: {details}", field_errors=errors)
    for ref in (chat, embedding):
        if ref not in enabled:
            enabled.append(ref)
    # The first save starts from the unsaved defaults, so a new tenant keeps its default budget.
    row = TenantModelSettings.objects.for_tenant(actor.tenant).select_for_update().first() or current
    changes = {
        name: {"from": getattr(current, name), "to": value}
        for name, value in (
            ("enabled_models", enabled),
            ("default_chat_model", chat),
            ("default_embedding_model", embedding),
        )
        if getattr(current, name) != value
    }
    row.enabled_models, row.default_chat_model, row.default_embedding_model = enabled, chat, embedding
    row.save()
    if changes:
        audit(actor, action="model_settings.updated", target=row, changes=changes)
    return row


@runs_in_actor_tenant
def monthly_budget_update(*, actor: Actor, monthly_budget_usd: Decimal | None) -> TenantModelSettings:
    """Cap the organisation's model spending per calendar month (UTC); None removes the cap (on purpose:
    a new organisation starts with ``DEFAULT_TENANT_MONTHLY_BUDGET_USD``).

    Every chat model call reserves its most possible cost in it first (``providers.budgets``), so bots
    refuse questions before calling a model once it has no room, however many answer at once.
    """
    actor.require(Role.ADMIN, "change the budget")
    if monthly_budget_usd is not None and monthly_budget_usd < 0:
        raise ValidationFailed(
            "A budget cannot be negative.", field_errors={"monthly_budget_usd": ["Must be 0 or more."]}
        )
    current = selectors.model_settings(tenant=actor.tenant)
    row = TenantModelSettings.objects.for_tenant(actor.tenant).select_for_update().first()
    if row is None:
        row = current  # the unsaved defaults: saved now, with the budget
    previous = row.monthly_budget_usd
    row.monthly_budget_usd = monthly_budget_usd
    row.save()
    if previous != monthly_budget_usd:
        audit(
            actor,
            action="model_settings.budget_updated",
            target=row,
            changes={"monthly_budget_usd": {"from": _money(previous), "to": _money(monthly_budget_usd)}},
        )
    return row


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def _require_choosable(
    tenant: Tenant, ref: str, kind: str | None, field_name: str, errors: dict[str, list[str]]
) -> None:
    from core.errors import NotFound

    try:
        model = selectors.model_get(tenant=tenant, ref=ref)
    except NotFound:
        errors.setdefault(field_name, []).append(f"No such model “{ref}”.")
        return
    if kind and model.spec.kind != kind:
        errors.setdefault(field_name, []).append(f"{model.display_name} is not a {kind} model.")
    if isinstance(model.spec, FoundationModel) and model.spec.is_retired:
        errors.setdefault(field_name, []).append(f"{model.display_name} has been retired by its provider.")


# --- usage ------------------------------------------------------------------------------------------


def usage_record(
    *,
    tenant_id: uuid.UUID,
    model_ref: str,
    provider: str,
    operation: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: Decimal,
    latency_ms: int,
    time_to_first_token_ms: int | None,
    outcome: str = CallOutcome.OK,
    error_code: str = "",
    bot_id: uuid.UUID | None = None,
    model_version: str = "",
    used_fallback: bool = False,
) -> UsageRecord:
    """Record one model call (metering). Runs in its own tenant-scoped transaction."""
    from tenants.context import tenant_context

    with tenant_context(tenant_id):
        return UsageRecord.objects.create(
            tenant_id=tenant_id,
            bot_id=bot_id,
            model_ref=model_ref,
            model_version=model_version,
            provider=provider,
            operation=operation,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
            latency_ms=latency_ms,
            time_to_first_token_ms=time_to_first_token_ms,
            outcome=outcome,
            error_code=error_code,
            used_fallback=used_fallback,
        )
