"""What provider tests share besides fixtures: the keys the stubs accept, a URL nothing listens on,
draining a model's stream, checking that no piece of a secret is shown, and what a tenant has of
providers (to check that a refused request wrote nothing)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

from providers import selectors
from providers.adapters.base import ChatEvent
from providers.errors import ProviderError
from providers.models import CustomModel, ProviderCredential
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tests.tenants.factories import World

OPENAI_KEY = "sk-test-openai-key-0123456789"  # what tests/stubs' OpenAI stub is started with
ANTHROPIC_KEY = "sk-ant-test-key-0123456789"
OPENAI_MODEL = "openai:gpt-4o-mini"


def closed_port_url(path: str = "") -> str:
    """A local URL nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


async def collect(events: AsyncIterator[ChatEvent]) -> tuple[list[ChatEvent], ProviderError | None]:
    """Every event a stream yields, and the provider error that ended it (if one did)."""
    received: list[ChatEvent] = []
    try:
        async for event in events:
            received.append(event)
    except ProviderError as error:
        return received, error
    return received, None


def secret_slices(secret: str) -> list[str]:
    """Every 8-character piece of the secret: none may be shown (the last four alone may)."""
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


def assert_secret_absent(text: str, secret: str, where: str) -> None:
    leaked = [piece for piece in secret_slices(secret) if piece in text]
    assert not leaked, f"{where} shows part of the secret: {leaked}"


def provider_rows(world: World) -> tuple[int, int, int, int]:
    """Credentials, own models, audit events and enabled models of the tenant: unchanged by a refusal."""
    with tenant_context(world.tenant.pk):
        return (
            ProviderCredential.objects.count(),
            CustomModel.objects.count(),
            AuditEvent.objects.count(),
            len(selectors.model_settings(tenant=world.tenant).enabled_models),
        )
