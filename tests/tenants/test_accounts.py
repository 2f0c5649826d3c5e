"""Sign-up, sign-in, invitations by email, switching tenants, password reset and the audit log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client

from core.clock import ManualClock
from core.errors import PermissionDenied
from tenants import selectors, services
from tenants.context import tenant_context
from tenants.models import AuditEvent, Membership, Role, Tenant, User
from tests.clients import api_client
from tests.tenants.factories import PASSWORD, UserFactory, World, make_world

pytestmark = pytest.mark.django_db


def test_sign_up_creates_the_user_their_tenant_and_ownership(
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/app/sign-up/",
            {
                "full_name": "Ada Lovelace",
                "email": "Ada@Example.test",
                "organisation_name": "Analytical Engines",
                "password": "difference-engine-1843",
            },
        )
    assert (response.status_code, response["Location"]) == (302, "/app/sign-up/check-your-email/")
    user = User.objects.get(email="ada@example.test")
    assert not user.is_email_verified
    tenant = Tenant.objects.get(name="Analytical Engines")
    with tenant_context(tenant.pk):
        assert Membership.objects.get(user=user).role == Role.OWNER
    assert mail.outbox[-1].to == ["ada@example.test"]

    verified = client.get(emailed_link("/app/verify-email/"))
    assert verified.status_code == 302 and verified["Location"] == "/app/sign-in/"
    user.refresh_from_db()
    assert user.is_email_verified
    client.post("/app/sign-in/", {"username": "ada@example.test", "password": "difference-engine-1843"})
    home = client.get("/app/")
    assert home.status_code == 200 and "Analytical Engines" in home.content.decode()


def test_sign_up_shows_field_errors_and_creates_nothing(
    world: World,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    response = Client().post(
        "/app/sign-up/",
        {
            "full_name": "X",
            "email": world.owner.email,
            "organisation_name": "Dup",
            "password": "short",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "password" in errors
    assert not Tenant.objects.filter(name="Dup").exists()
    # A known address gets the same "check your email" as a new one; its owner is told by email.
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/app/sign-up/",
            {
                "full_name": "X",
                "email": world.owner.email,
                "organisation_name": "Dup",
                "password": "a-perfectly-fine-one",
            },
        )
    assert (response.status_code, response["Location"]) == (302, "/app/sign-up/check-your-email/")
    assert not Tenant.objects.filter(name="Dup").exists()
    assert mail.outbox[-1].to == [world.owner.email]
    assert "already has an account" in mail.outbox[-1].body


def test_sign_in_with_email_and_out(world: World) -> None:
    client = Client()
    assert client.get("/app/").status_code == 302  # to the sign-in page
    response = client.post("/app/sign-in/", {"username": world.owner.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/app/").status_code == 200
    client.post("/app/sign-out/")
    assert client.get("/app/").status_code == 302


def test_an_invitation_is_emailed_and_accepted_by_the_invited_address(
    world: World,
    owner_client: Client,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves only after commit
        response = owner_client.post("/app/team/", {"email": "newbie@example.test", "role": "editor"})
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["newbie@example.test"]
    accept_path = emailed_link("/app/invitations/")

    stranger = UserFactory(email="stranger@example.test")
    stranger_client = Client()
    stranger_client.force_login(stranger)
    stranger_client.post(accept_path)
    with tenant_context(world.tenant.pk):
        assert not Membership.objects.filter(user=stranger).exists()

    newbie = UserFactory(email="newbie@example.test")
    client = Client()
    client.force_login(newbie)
    assert client.get(accept_path).status_code == 200
    assert client.post(accept_path).status_code == 302
    with tenant_context(world.tenant.pk):
        assert Membership.objects.get(user=newbie).role == Role.EDITOR
    assert client.get(accept_path).status_code == 404  # used up


def test_invitations_through_the_api_send_the_same_email(
    world: World,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(world.api_key()[1]).post(
            "/api/v1/members",
            {"email": "api@example.test", "role": "viewer"},
            content_type="application/json",
        )
    assert response.status_code == 201
    assert response.json()["email"] == "api@example.test"
    assert mail.outbox[-1].to == ["api@example.test"]


def test_a_user_in_two_tenants_switches_between_them_but_not_into_others() -> None:
    acme, globex, initech = make_world("Acme"), make_world("Globex"), make_world("Initech")
    globex.add_member(Role.VIEWER, user=acme.owner)
    client = Client()
    client.force_login(acme.owner)
    page = client.get("/app/").content.decode()
    assert "Acme" in page and "Globex" in page and "Initech" not in page

    assert client.post(f"/app/organisations/{globex.tenant.pk}/switch/").status_code == 302
    assert client.get("/app/settings/").context["current_tenant"] == globex.tenant
    assert client.post(f"/app/organisations/{initech.tenant.pk}/switch/").status_code == 404
    assert client.get("/app/settings/").context["current_tenant"] == globex.tenant


def test_password_reset_by_emailed_link(
    world: World, clock: ManualClock, emailed_link: Callable[[str], str]
) -> None:
    client = Client()
    assert client.post("/app/password-reset/", {"email": world.owner.email}).status_code == 302
    reset_path = emailed_link("/app/password-reset/")
    form_page = client.get(reset_path, follow=True)
    assert form_page.status_code == 200
    final_path = form_page.redirect_chain[-1][0]
    done = client.post(
        final_path, {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"}
    )
    assert done.status_code == 302
    signed_in = Client()
    signed_in.post("/app/sign-in/", {"username": world.owner.email, "password": "a-brand-new-passphrase"})
    assert signed_in.get("/app/").status_code == 200


def test_changes_are_audited_in_the_same_transaction_and_failures_leave_no_trace(world: World) -> None:
    member = world.add_member(Role.EDITOR)
    actor = world.actor()
    services.membership_change_role(actor=actor, membership_id=member.pk, role="admin")
    api_key, _ = services.api_key_create(actor=actor, name="Zapier", role="viewer")
    services.api_key_revoke(actor=actor, api_key_id=api_key.pk)
    services.tenant_update(actor=actor, name="Acme Inc")
    with pytest.raises(PermissionDenied):
        services.membership_change_role(actor=actor, membership_id=member.pk, role="owner")

    with tenant_context(world.tenant.pk):
        events = list(
            AuditEvent.objects.order_by("created_at").values_list("action", "actor_label", "changes")
        )
    actions = [action for action, _, _ in events]
    assert actions == [
        "tenant.created",
        "membership.created",
        "membership.role_changed",
        "api_key.created",
        "api_key.revoked",
        "tenant.updated",
    ]
    assert all(label == world.owner.email for _, label, _ in events)
    assert events[2][2] == {"user": member.user.email, "from": "editor", "to": "admin"}


def test_the_audit_log_is_readable_by_admins_over_the_api(world: World) -> None:
    body = api_client(world.api_key()[1]).get("/api/v1/audit-events").json()
    assert [event["action"] for event in body["results"]][:2] == ["api_key.created", "membership.created"]
    assert body["next"] is None


def test_sign_up_never_redirects_off_site(clock: ManualClock) -> None:
    response = Client().post(
        "/app/sign-up/?next=https://evil.example/phish",
        {
            "full_name": "E",
            "email": "e@example.test",
            "organisation_name": "E Co",
            "password": "an-unguessable-one",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/app/sign-up/check-your-email/"


def test_signing_up_from_an_invitation_creates_no_extra_organisation(
    world: World,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(actor=world.actor(), email="joiner@example.test", role="viewer")
    accept_path = emailed_link("/app/invitations/")
    client = Client()
    form = client.get(f"/app/sign-up/?next={accept_path}&email=joiner@example.test")
    assert "organisation_name" not in form.context["form"].fields

    response = client.post(
        f"/app/sign-up/?next={accept_path}",
        {"full_name": "J", "email": "joiner@example.test", "password": "joining-the-team-now"},
    )
    assert response.status_code == 302 and response["Location"] == accept_path
    assert client.post(accept_path).status_code == 302
    joiner = User.objects.get(email="joiner@example.test")
    assert [m.tenant for m in selectors.memberships_of_user(user=joiner)] == [world.tenant]
    assert joiner.is_email_verified  # the invitation link proved the address


def test_sign_in_opens_the_organisation_used_last() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    globex.add_member(Role.VIEWER, user=acme.owner)  # never opened
    client = Client()
    client.force_login(acme.owner)
    assert client.get("/app/").context["current_tenant"] == acme.tenant
    client.post(f"/app/organisations/{globex.tenant.pk}/switch/")
    fresh = Client()
    fresh.force_login(acme.owner)
    assert fresh.get("/app/").context["current_tenant"] == globex.tenant


def test_active_api_keys_are_listed_before_revoked_ones(world: World) -> None:
    old, _ = world.api_key(name="old")
    world.api_key(name="current")
    services.api_key_revoke(actor=world.actor(), api_key_id=old.pk)
    with tenant_context(world.tenant.pk):
        assert [key.name for key in selectors.api_key_list(tenant=world.tenant)] == ["current", "old"]


def test_htmx_role_change_answers_with_the_updated_cell(world: World, owner_client: Client) -> None:
    member = world.add_member(Role.VIEWER)
    response = owner_client.post(
        f"/app/team/members/{member.pk}/role/", {"role": "editor"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<td" in html and "Saved" in html and "<html" not in html
    assert '<option value="editor" selected>' in html
    with tenant_context(world.tenant.pk):
        assert Membership.objects.get(pk=member.pk).role == Role.EDITOR


def test_htmx_removal_answers_with_nothing_so_the_row_disappears(world: World, owner_client: Client) -> None:
    member = world.add_member(Role.VIEWER)
    response = owner_client.post(f"/app/team/members/{member.pk}/remove/", HTTP_HX_REQUEST="true")
    assert (response.status_code, response.content) == (200, b"")
    with tenant_context(world.tenant.pk):
        assert not Membership.objects.filter(pk=member.pk).exists()
