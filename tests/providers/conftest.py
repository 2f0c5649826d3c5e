"""Model calls under test: the official SDKs, pointed at local stub servers that speak the providers' wire
formats (tests/stubs). Nothing here reaches the internet: unless a test starts a stub, the base URLs point
at a closed local port.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from providers.adapters.base import ChatEvent
from providers.errors import ProviderError
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub

OPENAI_KEY = "sk-test-openai-key-0123456789"
ANTHROPIC_KEY = "sk-ant-test-key-0123456789"


def closed_port_url(path: str = "") -> str:
    """A local URL nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Django's async support (asgiref) is asyncio's


@pytest.fixture(autouse=True)
def model_call_settings(settings: Any) -> None:
    settings.MODEL_CALL_TIMEOUT_SECONDS = 5.0
    settings.MODEL_CALL_MAX_RETRIES = 3
    settings.OPENAI_API_KEY = ""
    settings.ANTHROPIC_API_KEY = ""
    settings.PLATFORM_KEY_PLANS = ["team", "business"]
    settings.OPENAI_BASE_URL = closed_port_url("/v1")
    settings.ANTHROPIC_BASE_URL = closed_port_url()


@pytest.fixture
def openai_stub(settings: Any) -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=OPENAI_KEY).start()
    settings.OPENAI_BASE_URL = stub.base_url
    yield stub
    stub.stop()


@pytest.fixture
def anthropic_stub(settings: Any) -> Iterator[AnthropicStub]:
    stub = AnthropicStub(api_key=ANTHROPIC_KEY).start()
    settings.ANTHROPIC_BASE_URL = stub.base_url
    yield stub
    stub.stop()


@pytest.fixture
def compatible_stub(settings: Any) -> Iterator[OpenAIStub]:
    """An OpenAI-compatible server without a key (an Ollama), on a loopback address tenants may use here."""
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    stub = OpenAIStub(api_key=None).start()
    yield stub
    stub.stop()


@pytest.fixture
async def db_thread_cleanup() -> AsyncIterator[None]:
    """Close the connection sync_to_async's worker thread opened, so no session outlives the test."""
    yield
    await sync_to_async(connections.close_all)()


async def collect(events: AsyncIterator[ChatEvent]) -> tuple[list[ChatEvent], ProviderError | None]:
    """Every event a stream yields, and the provider error that ended it (if one did)."""
    received: list[ChatEvent] = []
    try:
        async for event in events:
            received.append(event)
    except ProviderError as error:
        return received, error
    return received, None
