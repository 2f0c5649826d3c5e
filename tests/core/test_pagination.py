"""The one cursor pagination (core/pagination.py), through a listing of the API."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.bots.factories import make_bot
from tests.clients import assert_problem
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def test_a_cursor_the_api_did_not_give_is_a_bad_request_naming_the_field(viewer: Client) -> None:
    # Found by the schema fuzz: DRF's own answer was 404 "Invalid cursor", which no client expects.
    body = assert_problem(viewer.get("/api/v1/bots", {"cursor": "not-a-cursor"}), 400)

    assert list(body["errors"]) == ["cursor"]


def test_the_cursors_the_api_gives_still_page_through_a_listing(world: World, viewer: Client) -> None:
    for name in ("One", "Two", "Three"):
        make_bot(world, name)

    first = viewer.get("/api/v1/bots", {"page_size": 2}).json()
    second = viewer.get(first["next"]).json()

    names = [bot["name"] for bot in first["results"] + second["results"]]
    assert sorted(names) == ["One", "Three", "Two"]
