"""Fixtures of the bots family (bots, chat, widget, regression): the model environment and rate limits
a module asks for, and the OpenAI wire stub.

Modules choose their environment explicitly, e.g. ``pytestmark = pytest.mark.usefixtures(
"offline_models", "generous_rates")``; a module's own autouse fixture adds what only it needs. Bots and
conversations are made by tests/bots/factories.py; streamed answers are read with tests/bots/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.providers.helpers import OPENAI_KEY, closed_port_url
from tests.stubs.openai_stub import OpenAIStub

GENEROUS = "1000/minute"


@pytest.fixture
def offline_models(settings: Any) -> None:
    """No test reaches the internet: no platform keys, and the providers' base URLs are closed local
    ports unless a stub is started."""
    settings.OPENAI_API_KEY = ""
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_BASE_URL = closed_port_url("/v1")
    settings.ANTHROPIC_BASE_URL = closed_port_url()


@pytest.fixture
def generous_rates(settings: Any) -> None:
    """Rate limits out of the way, so that only the tests of rate limits (which set their own) meet one."""
    settings.CHAT_RATE_PER_BOT = GENEROUS
    settings.CHAT_RATE_PER_VISITOR = GENEROUS
    settings.CHAT_RATE_PER_IP = GENEROUS
    settings.CHAT_RATE_PER_BOT_ADDRESS = GENEROUS
    settings.WIDGET_SESSION_RATE_PER_IP = GENEROUS
    settings.WIDGET_READ_RATE_PER_IP = GENEROUS


@pytest.fixture
def close_connections() -> Iterator[None]:
    """After the test, close the connections of the threads the engine's database work ran in."""
    yield
    connections.close_all()


@pytest.fixture
def openai_stub(offline_models: None, settings: Any) -> Iterator[OpenAIStub]:
    """The OpenAI wire stub (accepting ``OPENAI_KEY``) as OpenAI's base URL; calls are not retried."""
    settings.MODEL_CALL_MAX_RETRIES = 0
    settings.MODEL_CALL_TIMEOUT_SECONDS = 10.0
    stub = OpenAIStub(api_key=OPENAI_KEY).start()
    settings.OPENAI_BASE_URL = stub.base_url
    yield stub
    stub.stop()
