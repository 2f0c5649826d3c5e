"""Fixtures of regression suites: the OpenAI wire stub the runs call, and where runs are enqueued.

Suites, cases and recorded runs: tests/bots/regression/factories.py; the models, questions and
``enqueue_to``: tests/bots/regression/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.bots.regression.helpers import enqueue_to
from tests.providers.helpers import OPENAI_KEY
from tests.stubs.openai_stub import OpenAIStub


@pytest.fixture(scope="module")
def stub_server() -> Iterator[OpenAIStub]:
    """The OpenAI wire stub, one per module (a module's own worker is started with its address)."""
    server = OpenAIStub(api_key=OPENAI_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def stub(stub_server: OpenAIStub, settings: Any) -> OpenAIStub:
    """The module's stub as this process's OpenAI, calls not retried; no script, answer or fault left
    from an earlier test."""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = stub_server.base_url
    settings.MODEL_CALL_MAX_RETRIES = 0
    stub_server.scripts.clear()
    stub_server.answers.clear()
    stub_server.faults.clear()
    return stub_server


@pytest.fixture
def runs_in_process() -> Iterator[None]:
    """Runs are queued to no worker: a test that needs one finished executes it with ``runner.execute``."""
    with enqueue_to(None):
        yield
