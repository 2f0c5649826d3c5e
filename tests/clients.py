"""Talking to Groundwork in tests as its users do: API clients by key, dashboard clients by role, JSON
requests, and what the answers must look like (problem+json, a page's visible text)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.test import Client

from tenants.models import Role

if TYPE_CHECKING:
    from tests.tenants.factories import World

PROBLEM = "application/problem+json"
# What a visitor, a document or a model may write: every page must show it escaped.
HOSTILE = "<script>alert('owned')</script>"


def api_client(secret: str) -> Client:
    """A REST API client authenticated by a secret API key."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def member_client(world: World, role: Role) -> Client:
    """A dashboard client signed in as a new member of ``world`` with ``role``."""
    client = Client()
    client.force_login(world.add_member(role).user)
    return client


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(path, body, content_type="application/json")


def patch_json(client: Client, path: str, body: Any) -> Any:
    return client.patch(path, body, content_type="application/json")


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with ``status``, a title and a detail; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def text_of(response: Any) -> str:
    """The page's visible text, tags stripped and spaces collapsed, for phrase checks."""
    without_tags = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", without_tags)
