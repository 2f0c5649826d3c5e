"""Fixtures of the tenants app: accounts, members, invitations, API keys. (``world``, ``other_world``,
``owner_client`` and the API clients by role are suite-wide: tests/conftest.py; tenants, members and keys
are made by tests/tenants/factories.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core import mail


@pytest.fixture
def emailed_link() -> Callable[[str], str]:
    """``emailed_link("/app/invitations/")``: the path of the link starting so in the last email sent
    (invitations and password resets are links in emails)."""

    def link(path_prefix: str) -> str:
        match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", mail.outbox[-1].body)
        assert match, mail.outbox[-1].body
        return match.group(1)

    return link
