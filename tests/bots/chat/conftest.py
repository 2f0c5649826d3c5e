"""Fixtures of the chat engine and its surfaces (REST chat, the OpenAI-compatible API): every test here
runs offline (a stub where a test starts one) with rate limits out of the way, unless it sets its own."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def chat_environment(offline_models: None, generous_rates: None) -> None:
    """See tests/bots/conftest.py."""
