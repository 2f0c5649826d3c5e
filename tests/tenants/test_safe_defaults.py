"""Defaults that are safe: a new API key reads and no more unless a role is chosen, and a team without
outgoing mail can still hand over an invitation — its own link, shown to admins only."""

from __future__ import annotations

import html
import re

import pytest
from django.core import mail
from django.test import Client

from tenants import services
from tenants.context import tenant_context
from tenants.models import ApiKey, Invitation, Role
from tests.clients import api_client, member_client, post_json, text_of
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def test_an_api_key_made_over_the_api_without_a_role_is_a_viewers(world: World) -> None:
    admin = api_client(world.api_key(Role.ADMIN)[1])
    created = post_json(admin, "/api/v1/api-keys", {"name": "Reporting"})
    assert created.status_code == 201 and created.json()["role"] == "viewer"
    viewer_key = api_client(created.json()["secret"])
    assert viewer_key.get("/api/v1/members").status_code == 200  # it reads
    assert post_json(viewer_key, "/api/v1/api-keys", {"name": "More"}).status_code == 403  # no more

    chosen = post_json(admin, "/api/v1/api-keys", {"name": "Deploys", "role": "editor"})
    assert chosen.status_code == 201 and chosen.json()["role"] == "editor"


def test_the_key_form_preselects_no_role_and_asks_for_one(world: World, owner_client: Client) -> None:
    page = owner_client.get("/app/api-keys/").content.decode()
    select = re.search(r'<select name="role"[^>]*>(.*?)</select>', page, re.S)
    assert select, page
    options = re.findall(r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', select.group(1))
    assert [value for value, _, _ in options] == ["", "viewer", "editor", "admin"]  # least first
    assert [value for value, attributes, _ in options if "selected" in attributes] in ([], [""])
    assert "Viewer reads, editor builds, admin manages." in text_of(owner_client.get("/app/api-keys/"))

    without_role = owner_client.post("/app/api-keys/", {"name": "Zapier"})
    assert without_role.status_code == 400
    assert "Choose the key's role: viewer is enough for reading." in html.unescape(text_of(without_role))
    with tenant_context(world.tenant.pk):
        assert not ApiKey.objects.filter(name="Zapier").exists()

    assert owner_client.post("/app/api-keys/", {"name": "Zapier", "role": "viewer"}).status_code == 200
    with tenant_context(world.tenant.pk):
        assert ApiKey.objects.get(name="Zapier").role == Role.VIEWER


def copy_links(page: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'data-copy="([^"]+)" data-invitation-link', page)]


def test_admins_copy_the_very_link_the_invitation_email_carries(
    world: World,
    owner_client: Client,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves only after commit
        response = owner_client.post("/app/team/", {"email": "ana@example.test", "role": "editor"})
    assert response.status_code == 302
    emailed = re.search(r"(https?://\S+/app/invitations/\S+)", mail.outbox[-1].body)
    assert emailed

    page = owner_client.get("/app/team/").content.decode()
    assert copy_links(page) == [emailed.group(1)]
    assert "Copy invitation link" in page and "share it only with them" in text_of(
        owner_client.get("/app/team/")
    )
    # The copied link is a working invitation link.
    path = re.sub(r"^https?://[^/]+", "", emailed.group(1))
    invitation_page = Client().get(path)
    assert invitation_page.status_code == 200 and "Join Acme" in text_of(invitation_page)


def test_a_new_invitation_replaces_the_old_link(world: World, owner_client: Client) -> None:
    owner_client.post("/app/team/", {"email": "ana@example.test", "role": "editor"})
    first = copy_links(owner_client.get("/app/team/").content.decode())
    owner_client.post("/app/team/", {"email": "ana@example.test", "role": "viewer"})
    second = copy_links(owner_client.get("/app/team/").content.decode())
    assert len(second) == 1 and second != first
    old_path = re.sub(r"^https?://[^/]+", "", first[0])
    assert Client().get(old_path).status_code == 404


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_only_admins_see_invitation_links(world: World, role: Role) -> None:
    with tenant_context(world.tenant.pk):
        services.invitation_create(actor=world.actor(), email="ana@example.test", role="editor")
    page = member_client(world, role).get("/app/team/").content.decode()
    assert "data-invitation-link" not in page and "/app/invitations/" not in page


def test_an_invitation_whose_link_cannot_be_made_again_offers_none(
    world: World, owner_client: Client
) -> None:
    with tenant_context(world.tenant.pk):
        invitation = services.invitation_create(actor=world.actor(), email="ana@example.test", role="editor")
        # As invitations made before links were derived: a random token, only its hash kept.
        Invitation.objects.filter(pk=invitation.pk).update(token_hash=services.hash_secret("random-token"))
    page = owner_client.get("/app/team/").content.decode()
    assert "ana@example.test" in page and "data-invitation-link" not in page
