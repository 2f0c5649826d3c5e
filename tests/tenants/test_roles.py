"""The role matrix: a viewer cannot write, an editor cannot manage members or keys, only an owner can
delete the organisation or transfer ownership. Checked in the services (which the API and the dashboard
share) and through both faces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from core.errors import PermissionDenied
from tenants import services
from tenants.actors import Actor
from tenants.context import tenant_context
from tenants.models import Membership, Role, Tenant
from tests.clients import api_client
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

ADMIN_AND_ABOVE = {Role.ADMIN, Role.OWNER}
OWNER_ONLY = {Role.OWNER}


def actions(world: World, target: Membership) -> dict[str, tuple[set[Role], Callable[[Actor], Any]]]:
    """Each write an organisation has today, with the roles allowed to do it."""
    return {
        "rename the organisation": (
            ADMIN_AND_ABOVE,
            lambda a: services.tenant_update(actor=a, name="Renamed"),
        ),
        "invite a member": (
            ADMIN_AND_ABOVE,
            lambda a: services.invitation_create(actor=a, email="new@x.test", role="editor"),
        ),
        "change a role": (
            ADMIN_AND_ABOVE,
            lambda a: services.membership_change_role(actor=a, membership_id=target.pk, role="editor"),
        ),
        "remove a member": (
            ADMIN_AND_ABOVE,
            lambda a: services.membership_remove(actor=a, membership_id=target.pk),
        ),
        "create an API key": (
            ADMIN_AND_ABOVE,
            lambda a: services.api_key_create(actor=a, name="k", role="viewer"),
        ),
        "transfer ownership": (
            OWNER_ONLY,
            lambda a: services.tenant_transfer_ownership(actor=a, membership_id=target.pk),
        ),
        "delete the organisation": (
            OWNER_ONLY,
            lambda a: services.tenant_delete(actor=a, confirm_name="Acme"),
        ),
    }


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    "action",
    [
        "rename the organisation",
        "invite a member",
        "change a role",
        "remove a member",
        "create an API key",
        "transfer ownership",
        "delete the organisation",
    ],
)
def test_service_role_matrix(world: World, role: Role, action: str) -> None:
    target = world.add_member(Role.VIEWER)
    acting = world.owner if role == Role.OWNER else world.add_member(role).user
    allowed_roles, perform = actions(world, target)[action]
    with tenant_context(world.tenant.pk):
        if role in allowed_roles:
            perform(Actor(tenant=world.tenant, role=role, user=acting))
        else:
            with pytest.raises(PermissionDenied):
                perform(Actor(tenant=world.tenant, role=role, user=acting))


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("editor", 403), ("admin", 200)])
def test_api_writes_by_key_role(world: World, role: str, expected: int) -> None:
    client = api_client(world.api_key(role=role)[1])
    target = world.add_member(Role.VIEWER)
    assert client.get("/api/v1/tenant").status_code == 200  # everyone reads
    assert client.get("/api/v1/members").status_code == 200
    writes = [
        client.patch("/api/v1/tenant", {"name": "Renamed"}, content_type="application/json"),
        client.post("/api/v1/members", {"email": "n@x.test"}, content_type="application/json"),
        client.patch(f"/api/v1/members/{target.pk}", {"role": "editor"}, content_type="application/json"),
        client.post("/api/v1/api-keys", {"name": "k", "role": "viewer"}, content_type="application/json"),
        client.get("/api/v1/api-keys"),
        client.get("/api/v1/audit-events"),
    ]
    assert [r.status_code // 100 * 100 if r.status_code < 300 else r.status_code for r in writes] == [
        expected
    ] * 6


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.ADMIN])
def test_dashboard_owner_only_actions_are_refused_below_owner(world: World, role: Role) -> None:
    member = world.add_member(role)
    client = Client()
    client.force_login(member.user)
    assert client.post("/app/settings/delete/", {"confirm_name": "Acme"}).status_code == 403
    assert (
        client.post("/app/settings/transfer-ownership/", {"membership_id": str(member.pk)}).status_code == 403
    )
    assert Tenant.objects.filter(pk=world.tenant.pk).exists()


@pytest.mark.parametrize(
    ("role", "manage_status"), [(Role.VIEWER, 403), (Role.EDITOR, 403), (Role.ADMIN, 302)]
)
def test_dashboard_member_and_key_management_needs_admin(
    world: World, role: Role, manage_status: int
) -> None:
    member = world.add_member(role)
    client = Client()
    client.force_login(member.user)
    assert client.post("/app/team/", {"email": "n@x.test", "role": "viewer"}).status_code == manage_status
    assert client.post("/app/settings/", {"name": "Renamed"}).status_code == manage_status
    assert client.get("/app/api-keys/").status_code == (403 if manage_status == 403 else 200)


def test_the_owner_transfers_ownership_and_becomes_admin(world: World, owner_client: Client) -> None:
    heir = world.add_member(Role.EDITOR)
    response = owner_client.post("/app/settings/transfer-ownership/", {"membership_id": str(heir.pk)})
    assert response.status_code == 302
    with tenant_context(world.tenant.pk):
        roles = dict(Membership.objects.values_list("user__email", "role"))
    assert roles == {heir.user.email: "owner", world.owner.email: "admin"}


def test_the_owner_deletes_the_organisation_after_typing_its_name(world: World, owner_client: Client) -> None:
    assert owner_client.post("/app/settings/delete/", {"confirm_name": "Wrong"}).status_code == 400
    assert Tenant.objects.filter(pk=world.tenant.pk).exists()
    assert owner_client.post("/app/settings/delete/", {"confirm_name": "Acme"}).status_code == 302
    assert not Tenant.objects.filter(pk=world.tenant.pk).exists()


def test_the_owner_cannot_be_removed_or_demoted(world: World) -> None:
    client = api_client(world.api_key()[1])
    with tenant_context(world.tenant.pk):
        owner = Membership.objects.get(role="owner")
    assert client.delete(f"/api/v1/members/{owner.pk}").status_code == 403
    assert (
        client.patch(
            f"/api/v1/members/{owner.pk}", {"role": "viewer"}, content_type="application/json"
        ).status_code
        == 403
    )
