"""Provider credentials, a tenant's own models, model settings and usage, made through
``providers.services`` as the tenant's owner."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.test import override_settings
from django.utils import timezone

from providers import services
from providers.models import CustomModel, ProviderCredential, TenantModelSettings, UsageRecord
from tenants.context import tenant_context
from tests.providers.helpers import OPENAI_KEY, OPENAI_MODEL
from tests.tenants.factories import World

LOCAL_ENDPOINT = "http://127.0.0.1:11434/v1"  # reachable only with ALLOW_PRIVATE_MODEL_ENDPOINTS


def add_credential(
    world: World, provider: str, api_key: str = "", base_url: str = "", name: str = ""
) -> ProviderCredential:
    """A credential for ``provider`` (named after it unless ``name`` is given)."""
    return services.credential_create(
        actor=world.actor(), provider=provider, name=name or provider, api_key=api_key, base_url=base_url
    )


def enable_models(world: World, *refs: str) -> TenantModelSettings:
    """Exactly these models enabled for the tenant."""
    return services.model_settings_update(actor=world.actor(), enabled_models=list(refs))


def use_openai(world: World, *enabled_models: str, api_key: str = OPENAI_KEY) -> ProviderCredential:
    """An OpenAI credential named "OpenAI" (the stubs' key by default) and exactly ``enabled_models``
    enabled (gpt-4o-mini when none are named)."""
    credential = services.credential_create(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=api_key
    )
    enable_models(world, *(enabled_models or (OPENAI_MODEL,)))
    return credential


def endpoint_credential(
    world: World, name: str = "Ollama", api_key: str = "", base_url: str = LOCAL_ENDPOINT
) -> ProviderCredential:
    """An OpenAI-compatible endpoint on this machine (private addresses allowed for the creation only)."""
    with override_settings(ALLOW_PRIVATE_MODEL_ENDPOINTS=True):
        return services.credential_create(
            actor=world.actor(), provider="openai_compatible", name=name, api_key=api_key, base_url=base_url
        )


def own_model(
    world: World,
    credential: ProviderCredential,
    name: str = "llama3.1:8b",
    *,
    input_price_per_million: Decimal = Decimal("0.10"),
    output_price_per_million: Decimal = Decimal("0.20"),
) -> CustomModel:
    """A chat model of the tenant's own on ``credential``'s endpoint, with prices."""
    return services.custom_model_create(
        actor=world.actor(),
        credential_id=credential.pk,
        model_name=name,
        display_name=f"Llama ({name})",
        kind="chat",
        context_window=8192,
        input_price_per_million=input_price_per_million,
        output_price_per_million=output_price_per_million,
    )


def record_usage(
    world: World,
    model_ref: str,
    cost: str,
    *,
    days_ago: int = 0,
    bot_id: uuid.UUID | None = None,
    tokens: tuple[int, int] = (1000, 100),
) -> UsageRecord:
    """One metered chat call, as the gateway records it, ``days_ago`` days back."""
    row = services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref=model_ref,
        provider=model_ref.split(":")[0],
        operation="chat",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=Decimal(cost),
        latency_ms=800,
        time_to_first_token_ms=200,
        bot_id=bot_id,
    )
    with tenant_context(world.tenant.pk):
        # The service stamps the present; backdating is the one thing no service does.
        UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return row
