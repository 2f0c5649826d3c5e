"""Model calls under test: the official SDKs, pointed at local stub servers that speak the providers' wire
formats (tests/stubs). Nothing here reaches the internet: unless a test starts a stub, the base URLs point
at a closed local port.

Keys, URLs and stream helpers: tests/providers/helpers.py; credentials, models and usage:
tests/providers/factories.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from core import outbound
from tests.providers.helpers import ANTHROPIC_KEY, OPENAI_KEY, closed_port_url
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub


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
def allow_private_endpoints(settings: Any) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True  # pytest-django's settings fixture restores it


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """DNS answers of the test's own: ``fake_dns["models.example.test"] = "93.184.215.14"``. Every guarded
    check and connection resolves through ``core.outbound.resolver``; other names resolve as usual."""
    answers: dict[str, str] = {}
    system = outbound.system_resolver

    def resolve(host: str, port: int) -> list[outbound.IPAddress]:
        if host in answers:
            return [ipaddress.ip_address(answers[host])]
        return system(host, port)

    monkeypatch.setattr(outbound, "resolver", resolve)
    return answers
