"""Fixtures of the widget: its public API, loader and Install page. Every test here runs offline (a stub
where a test starts one) with rate limits out of the way unless it sets its own, and closes the
connections the engine's threads opened.

A published bot allowed on ``SITE``: ``tests.bots.factories.published_bot``; a visitor's session and its
headers: tests/bots/widget/helpers.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def widget_environment(offline_models: None, generous_rates: None, close_connections: None) -> None:
    """See tests/bots/conftest.py."""
