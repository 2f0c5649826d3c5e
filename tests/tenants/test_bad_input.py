"""Bad input gets a clear problem+json answer and writes nothing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tenants.context import tenant_context
from tenants.models import AuditEvent, Invitation, Tenant
from tests.clients import api_client, assert_problem
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def snapshot(world: World) -> tuple:
    with tenant_context(world.tenant.pk):
        tenant = Tenant.objects.get(pk=world.tenant.pk)
        return (tenant.name, Invitation.objects.count(), AuditEvent.objects.count())


def test_malformed_json_is_a_400_problem_and_writes_nothing(world: World, admin: Client) -> None:
    before = snapshot(world)
    body = assert_problem(
        admin.post("/api/v1/members", '{"email": "a@b.test",', content_type="application/json"), 400
    )
    assert "JSON" in body["detail"]
    assert snapshot(world) == before


def test_unknown_fields_are_rejected_by_name(world: World, admin: Client) -> None:
    before = snapshot(world)
    response = admin.patch(
        "/api/v1/tenant", {"name": "New name", "plan": "business"}, content_type="application/json"
    )
    body = assert_problem(response, 400)
    assert body["errors"] == {"plan": ["Unknown field."]}
    assert snapshot(world) == before


def test_field_errors_name_the_field(world: World, admin: Client) -> None:
    body = assert_problem(
        admin.post(
            "/api/v1/members", {"email": "not-an-email", "role": "emperor"}, content_type="application/json"
        ),
        400,
    )
    assert set(body["errors"]) == {"email", "role"}


def test_a_body_over_the_limit_is_413_and_writes_nothing(world: World, admin: Client) -> None:
    before = snapshot(world)
    oversized = '{"name": "' + "x" * (settings.API_MAX_BODY_BYTES + 10) + '"}'
    body = assert_problem(admin.patch("/api/v1/tenant", oversized, content_type="application/json"), 413)
    assert str(settings.API_MAX_BODY_BYTES) in body["detail"]
    assert snapshot(world) == before


def test_a_non_json_body_is_415(admin: Client) -> None:
    assert_problem(
        admin.patch("/api/v1/tenant", "name=x", content_type="application/x-www-form-urlencoded"), 415
    )


def test_unknown_api_urls_are_404_problems(admin: Client) -> None:
    assert_problem(admin.get("/api/v1/no-such-thing"), 404)
    assert_problem(Client().get("/api/v1/no-such-thing"), 404)


def test_unknown_ids_are_404_problems(admin: Client) -> None:
    assert_problem(admin.get("/api/v1/members/00000000-0000-0000-0000-000000000000"), 404)
    assert_problem(admin.get("/api/v1/members/not-a-uuid"), 404)


def test_wrong_methods_are_405_problems(admin: Client) -> None:
    assert_problem(admin.put("/api/v1/tenant", {}, content_type="application/json"), 405)
    assert_problem(admin.delete("/api/v1/tenant"), 405)


def test_missing_credentials_are_401_and_insufficient_role_403(world: World) -> None:
    assert_problem(Client().get("/api/v1/members"), 401)
    viewer = api_client(world.api_key(role="viewer")[1])
    assert_problem(
        viewer.post("/api/v1/members", {"email": "x@y.test"}, content_type="application/json"), 403
    )


def test_a_domain_conflict_is_a_409_problem(world: World, admin: Client) -> None:
    body = assert_problem(
        admin.post("/api/v1/members", {"email": world.owner.email}, content_type="application/json"), 409
    )
    assert "already a member" in body["detail"]


def test_blank_names_are_refused_with_a_field_error(world: World, admin: Client) -> None:
    body = assert_problem(
        admin.patch("/api/v1/tenant", {"name": "   "}, content_type="application/json"), 400
    )
    assert "name" in body["errors"]
