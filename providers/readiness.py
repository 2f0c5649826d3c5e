"""Can a tenant's chat model write answers right now — and if not, what the tenant should do.

The dashboard shows this wherever a model is chosen (bot builder, Models page, bot cards, bots list),
the widget preview shows it to the owner, and the home page's checklist reads it. It mirrors the
gateway's own resolution (``providers.gateway._resolve``) without decrypting any key: a model is
*connected* when its calls have a key to use (the built-in models need none; an OpenAI-compatible
server's model carries its own credential; OpenAI and Anthropic need the tenant's key, or the platform's
key when the tenant's plan includes it), and it *writes answers* unless it is the built-in "no language
model" answerer, which only quotes passages.

Only reads: one query for the tenant's provider credentials, one for the catalog entries asked about,
one for its own models — whatever the number of refs, so lists of bots stay at a fixed query count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from providers.models import CustomModel, FoundationModel, ModelKind, Provider, ProviderCredential
from tenants.models import Tenant

# The built-in chat model that never writes: it answers with cited passages only.
NO_LLM_MODEL = "local:no-llm"


@dataclass(frozen=True)
class ModelReadiness:
    """One chat model's readiness for one tenant. ``problem`` is an owner-facing sentence, empty when
    the model can answer; ``fix_label``/``fix_url`` the one action that solves it (empty when there is
    none to take, e.g. for the no-LLM model, which is working as designed)."""

    ref: str
    display_name: str
    writes_answers: bool
    connected: bool
    problem: str = ""
    fix_label: str = ""
    fix_url: str = ""
    provider: str = ""

    @property
    def can_answer(self) -> bool:
        """True when visitors get answers written by a language model."""
        return self.writes_answers and self.connected


def add_key_url(provider: str) -> str:
    """The Models page's providers section, with the form to add ``provider``'s key opened. Callers
    that want the tenant brought back after saving append ``&next=<path>``."""
    return f"{reverse('dashboard:models')}?add={provider}#providers"


def fix_href(readiness: ModelReadiness, *, next_path: str) -> str:
    """``readiness.fix_url`` with ``next=next_path``, so that saving the key brings the tenant back to the
    page the problem was shown on; "" when there is no fix. The query goes before the fragment."""
    if not readiness.fix_url:
        return ""
    address, _, fragment = readiness.fix_url.partition("#")
    joiner = "&" if "?" in address else "?"
    query = urlencode({"next": next_path}, safe="/")
    return f"{address}{joiner}{query}" + (f"#{fragment}" if fragment else "")


def present_readiness(readiness: ModelReadiness, *, next_path: str) -> dict[str, Any]:
    """What templates show of a readiness (``providers/_model_problem.html``): the problem, the fix's
    label and link back to ``next_path``, and whether the model can answer or write at all."""
    return {
        "ref": readiness.ref,
        "can_answer": readiness.can_answer,
        "writes_answers": readiness.writes_answers,
        "connected": readiness.connected,
        "problem": readiness.problem,
        "fix_label": readiness.fix_label,
        "fix_href": fix_href(readiness, next_path=next_path),
    }


def platform_key_covers(*, tenant: Tenant, provider: str) -> bool:
    """Whether Groundwork's own key for ``provider`` serves this tenant (set, and its plan includes it)."""
    key = {Provider.OPENAI: settings.OPENAI_API_KEY, Provider.ANTHROPIC: settings.ANTHROPIC_API_KEY}.get(
        Provider(provider), ""
    )
    return bool(key) and tenant.plan in settings.PLATFORM_KEY_PLANS


def chat_model_readiness(*, tenant: Tenant, ref: str) -> ModelReadiness:
    """The readiness of one model reference (``"openai:gpt-4o-mini"``, ``"custom:<uuid>"``…)."""
    return readiness_by_ref(tenant=tenant, refs=[ref])[ref]


def readiness_by_ref(*, tenant: Tenant, refs: Iterable[str]) -> dict[str, ModelReadiness]:
    """The readiness of each of ``refs``, in three queries whatever their number."""
    wanted = set(refs)
    providers_with_keys = set(
        ProviderCredential.objects.for_tenant(tenant)
        .filter(provider__in=[Provider.OPENAI, Provider.ANTHROPIC])
        .values_list("provider", flat=True)
    )
    catalog_pairs = [ref.partition(":") for ref in wanted if not ref.startswith("custom:")]
    catalog = {
        entry.ref: entry
        for entry in FoundationModel.objects.filter(
            in_catalog=True,
            provider__in={provider for provider, _, _ in catalog_pairs},
            model_id__in={name for _, _, name in catalog_pairs},
        )
    }
    custom_ids = [ref.partition(":")[2] for ref in wanted if ref.startswith("custom:")]
    customs = {
        custom.ref: custom
        for custom in CustomModel.objects.for_tenant(tenant).filter(pk__in=_valid_uuids(custom_ids))
    }
    return {
        ref: _readiness(tenant, ref, catalog.get(ref), customs.get(ref), providers_with_keys)
        for ref in wanted
    }


def _readiness(
    tenant: Tenant,
    ref: str,
    entry: FoundationModel | None,
    custom: CustomModel | None,
    providers_with_keys: set[str],
) -> ModelReadiness:
    spec = custom or entry
    if spec is None:
        return ModelReadiness(
            ref=ref,
            display_name=ref,
            writes_answers=False,
            connected=False,
            problem=f"The model “{ref}” no longer exists. Choose another one.",
        )
    name = spec.display_name
    provider = Provider.OPENAI_COMPATIBLE if custom is not None else Provider(ref.partition(":")[0])
    if spec.kind != ModelKind.CHAT:
        return ModelReadiness(
            ref=ref,
            display_name=name,
            writes_answers=False,
            connected=True,
            provider=provider,
            problem=f"{name} is an embedding model: it cannot write answers.",
        )
    if ref == NO_LLM_MODEL:
        return ModelReadiness(
            ref=ref,
            display_name=name,
            writes_answers=False,
            connected=True,
            provider=provider,
            # Short enough for a bot card; the builder says the rest in words beside the model.
            problem=(
                "No language model: it never writes an answer, and visitors get the most relevant "
                "passages with their sources instead."
            ),
            fix_label="Connect a model provider",
            fix_url=add_key_url(Provider.OPENAI),
        )
    if provider in (Provider.LOCAL, Provider.OPENAI_COMPATIBLE):
        return ModelReadiness(
            ref=ref, display_name=name, writes_answers=True, connected=True, provider=provider
        )
    if provider in providers_with_keys or platform_key_covers(tenant=tenant, provider=provider):
        return ModelReadiness(
            ref=ref, display_name=name, writes_answers=True, connected=True, provider=provider
        )
    label = Provider(provider).label
    return ModelReadiness(
        ref=ref,
        display_name=name,
        writes_answers=True,
        connected=False,
        provider=provider,
        problem=f"{name} cannot answer yet: no {label} key is connected.",
        fix_label=f"Add your {label} key",
        fix_url=add_key_url(provider),
    )


def _valid_uuids(values: list[str]) -> list[str]:
    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return valid
