"""API keys follow their creator: never above the creator's current role, dead with their membership."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from tenants import selectors, services
from tenants.context import tenant_context
from tenants.models import ApiKey, ApiKeyStatus, AuditEvent, Membership, Role
from tests.clients import api_client, assert_problem, post_json, text_of
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

CREATOR_GONE = "This key's creator is no longer a member of the organisation"


def admin_with_key(world: World) -> tuple[Membership, str]:
    """An admin member who made an admin key for themselves (as the dashboard would)."""
    membership = world.add_member(Role.ADMIN, "admin@example.test")
    _, secret = services.api_key_create(
        actor=world.actor(Role.ADMIN, user=membership.user), name="deploy script", role="admin"
    )
    return membership, secret


def test_a_removed_admins_key_gets_401_on_every_call(world: World) -> None:
    membership, secret = admin_with_key(world)
    key = api_client(secret)
    assert key.get("/api/v1/members").status_code == 200

    services.membership_remove(actor=world.actor(), membership_id=membership.pk)

    for response in (
        key.get("/api/v1/members"),
        post_json(key, "/api/v1/api-keys", {"name": "fresh admin key", "role": "admin"}),
        post_json(key, "/api/v1/members", {"email": "admin@example.test", "role": "admin"}),
        key.get("/api/v1/tenant"),
    ):
        body = assert_problem(response, 401)
        assert CREATOR_GONE in body["detail"] or "revoked" in body["detail"]
    with tenant_context(world.tenant.pk):
        assert not ApiKey.objects.filter(name="fresh admin key").exists()
        events = list(AuditEvent.objects.filter(action="api_key.revoked").values_list("changes", flat=True))
    assert events == [{"name": "deploy script", "reason": "creator_removed", "creator": "admin@example.test"}]


def test_a_key_whose_creator_is_gone_is_refused_live_even_if_nobody_revoked_it(world: World) -> None:
    """The authentication check itself, not only the revocation that removal does."""
    membership, secret = admin_with_key(world)
    with tenant_context(world.tenant.pk):
        Membership.objects.filter(pk=membership.pk).delete()  # e.g. an account deleted by an operator
    assert CREATOR_GONE in assert_problem(api_client(secret).get("/api/v1/tenant"), 401)["detail"]


def test_the_listings_say_a_key_stopped_with_its_creator(world: World, owner_client: Client) -> None:
    membership, _ = admin_with_key(world)
    services.membership_remove(actor=world.actor(), membership_id=membership.pk)

    _, owner_secret = world.api_key(name="owner's key")
    listed = {key["name"]: key for key in api_client(owner_secret).get("/api/v1/api-keys").json()["results"]}
    assert listed["deploy script"]["status"] == ApiKeyStatus.CREATOR_REMOVED
    assert listed["deploy script"]["status_label"] == "Inactive: creator removed"
    assert listed["deploy script"]["effective_role"] is None
    assert listed["owner's key"]["status"] == "active" and listed["owner's key"]["effective_role"] == "admin"

    page = owner_client.get("/app/api-keys/")
    assert "Inactive: creator removed" in text_of(page)
    recent_activity = text_of(owner_client.get("/app/"))
    assert (
        "stopped the API key deploy script , because its creator admin@example.test left" in recent_activity
    )


def test_rejoining_does_not_revive_the_keys_made_before(world: World) -> None:
    membership, secret = admin_with_key(world)
    user = membership.user
    services.membership_remove(actor=world.actor(), membership_id=membership.pk)
    world.add_member(Role.ADMIN, user=user)
    assert_problem(api_client(secret).get("/api/v1/tenant"), 401)


def test_a_demoted_admins_admin_key_acts_as_a_viewer(world: World, owner_client: Client) -> None:
    membership, secret = admin_with_key(world)
    key = api_client(secret)
    services.membership_change_role(actor=world.actor(), membership_id=membership.pk, role="viewer")

    # Admin-only calls are refused...
    assert_problem(key.get("/api/v1/api-keys"), 403)
    assert_problem(post_json(key, "/api/v1/api-keys", {"name": "x", "role": "viewer"}), 403)
    assert_problem(post_json(key, "/api/v1/members", {"email": "a@example.test", "role": "viewer"}), 403)
    # ...and so are an editor's, while a viewer's work.
    assert_problem(post_json(key, "/api/v1/knowledge-bases", {"name": "Docs"}), 403)
    assert key.get("/api/v1/members").status_code == 200
    assert key.get("/api/v1/tenant").status_code == 200

    with tenant_context(world.tenant.pk):
        event = AuditEvent.objects.get(action="api_key.role_limited")
        listed = selectors.api_key_list(tenant=world.tenant).get(name="deploy script")
    assert event.changes == {
        "name": "deploy script",
        "creator": "admin@example.test",
        "role": "admin",
        "from": "admin",
        "to": "viewer",
    }
    assert (listed.role, listed.effective_role, listed.status) == ("admin", Role.VIEWER, ApiKeyStatus.ACTIVE)
    assert "acts as viewer" in text_of(owner_client.get("/app/api-keys/"))

    # Promoted back: the key may do what it was made for again.
    services.membership_change_role(actor=world.actor(), membership_id=membership.pk, role="admin")
    assert key.get("/api/v1/api-keys").status_code == 200


def test_a_key_made_by_a_key_follows_the_same_person(world: World) -> None:
    membership, secret = admin_with_key(world)
    created = post_json(api_client(secret), "/api/v1/api-keys", {"name": "made by a key", "role": "editor"})
    assert created.status_code == 201
    assert created.json()["created_by"] == "admin@example.test"
    child = api_client(created.json()["secret"])
    assert child.get("/api/v1/tenant").status_code == 200

    services.membership_remove(actor=world.actor(), membership_id=membership.pk)
    assert_problem(child.get("/api/v1/tenant"), 401)


def test_the_key_create_tenant_prints_belongs_to_the_owner() -> None:
    out = io.StringIO()
    call_command(
        "create_tenant",
        "--name=Scripted",
        "--owner-email=ops@example.test",
        "--owner-password=a-long-enough-passphrase",
        "--json",
        stdout=out,
    )
    printed = json.loads(out.getvalue().strip().splitlines()[-1])
    with tenant_context(printed["tenant_id"]):
        api_key = ApiKey.objects.get()
        assert api_key.created_by is not None and api_key.created_by.email == "ops@example.test"
        assert api_key.created_by.is_email_verified
    assert api_client(printed["api_key"]).get("/api/v1/api-keys").status_code == 200
