"""Accounts under attack: sign-in lockouts (django-axes), throttled sign-up, password reset and
invitation acceptance, answers that do not tell which emails have accounts, and email verification."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.db.models import F
from django.test import AsyncClient, Client

from bots import services as bot_services
from core.clock import ManualClock
from tenants import services
from tenants.actors import EmailNotVerified
from tenants.context import tenant_context
from tenants.models import ApiKey, AuditEvent, Role, User
from tests.clients import text_of
from tests.tenants.factories import PASSWORD, UserFactory, World, make_world

pytestmark = pytest.mark.django_db

TOO_MANY = re.compile(r"Too many attempts; try again in \d+ minutes?\.")


def sign_in(client: Client, email: str, password: str) -> object:
    return client.post("/app/sign-in/", {"username": email, "password": password})


def let_the_lockout_pass() -> None:
    """axes reads Django's own clock, which the clock fixture does not move: moving the counted
    attempts back by the cool-off is the same as moving now forward by it."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


# --- sign-in --------------------------------------------------------------------------------------


def test_twenty_wrong_passwords_then_the_right_one_is_refused_until_the_window_passes(world: World) -> None:
    client = Client()
    statuses = [sign_in(client, world.owner.email, f"wrong-{n}").status_code for n in range(20)]
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again, "wrong email or password"
    assert set(statuses[limit - 1 :]) == {429}

    refused = sign_in(client, world.owner.email, PASSWORD)
    assert refused.status_code == 429
    assert TOO_MANY.search(text_of(refused)), text_of(refused)
    assert "try again in 15 minutes" in text_of(refused)
    assert int(refused["Retry-After"]) > 14 * 60
    assert client.get("/app/").status_code == 302  # not signed in

    let_the_lockout_pass()
    accepted = sign_in(client, world.owner.email, PASSWORD)
    assert accepted.status_code == 302 and client.get("/app/").status_code == 200

    # The organisation's admins see it once, however many attempts the lockout refused.
    with tenant_context(world.tenant.pk):
        locks = list(
            AuditEvent.objects.filter(action="user.sign_in_locked").values_list("changes", flat=True)
        )
    assert locks == [{"user": world.owner.email, "failures": settings.AXES_FAILURE_LIMIT, "minutes": 15}]
    assert "could not sign in for 15 minutes after 10 wrong passwords" in text_of(client.get("/app/"))


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
@pytest.mark.django_db(transaction=True)
async def test_the_lockout_page_under_asgi_as_make_run_serves_it() -> None:
    """axes' middleware runs its async half under ASGI, which calls the lockout page differently."""
    person = await sync_to_async(UserFactory)()
    client = AsyncClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        await client.post("/app/sign-in/", {"username": person.email, "password": "wrong"})
    refused = await client.post("/app/sign-in/", {"username": person.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert TOO_MANY.search(text_of(refused))


def test_the_account_is_locked_from_every_address_and_case(world: World) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), world.owner.email, "wrong")
    elsewhere = sign_in(Client(REMOTE_ADDR="203.0.113.9"), world.owner.email.upper(), PASSWORD)
    assert elsewhere.status_code == 429


def test_one_address_is_locked_for_every_account_and_a_forged_forwarded_for_does_not_help() -> None:
    victims = [UserFactory() for _ in range(settings.AXES_FAILURE_LIMIT)]
    for n, victim in enumerate(victims):  # one wrong password each: no account reaches its own limit
        sign_in(Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"), victim.email, "wrong")
    bystander = UserFactory()
    from_attacker = sign_in(
        Client(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.9.9.9"), bystander.email, PASSWORD
    )
    assert from_attacker.status_code == 429
    assert sign_in(Client(REMOTE_ADDR="192.0.2.8"), bystander.email, PASSWORD).status_code == 302


def test_a_peer_without_a_readable_address_is_counted_not_crashed(world: World) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert sign_in(Client(REMOTE_ADDR=""), world.owner.email, "wrong").status_code in (200, 429)
    assert sign_in(Client(REMOTE_ADDR=""), world.owner.email, PASSWORD).status_code == 429


def test_a_password_reset_by_email_lifts_the_lockout(
    world: World, clock: ManualClock, emailed_link: Callable[[str], str]
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), world.owner.email, "wrong")
    client = Client()
    client.post("/app/password-reset/", {"email": world.owner.email})
    form = client.get(emailed_link("/app/password-reset/"), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-fresh-passphrase", "new_password2": "a-fresh-passphrase"},
    )
    assert sign_in(Client(), world.owner.email, "a-fresh-passphrase").status_code == 302


# --- sign-up and password reset: throttled, and the same answer for every address ---------------------


def sign_up(client: Client, email: str) -> object:
    return client.post(
        "/app/sign-up/",
        {"full_name": "Eve", "email": email, "organisation_name": "Eve Co", "password": "an-unguessable-one"},
    )


def without_csrf(content: bytes) -> str:
    """The page with its CSRF tokens (the form's and htmx's header, 64 characters each) blanked."""
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf token>", content.decode())


def test_sign_up_answers_alike_for_a_known_and_a_new_address(
    world: World,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        known = sign_up(Client(), world.owner.email)
        new = sign_up(Client(), "newcomer@example.test")
    assert (known.status_code, known["Location"], known.content) == (
        new.status_code,
        new["Location"],
        new.content,
    )
    assert known.cookies.keys() == new.cookies.keys() == set()  # nobody is signed in by either
    pages = [Client().get(response["Location"]) for response in (known, new)]
    assert [page.status_code for page in pages] == [200, 200]
    assert without_csrf(pages[0].content) == without_csrf(pages[1].content)
    assert "Check your email" in text_of(pages[0])

    assert User.objects.filter(email=world.owner.email).count() == 1
    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert subjects == {
        world.owner.email: "You already have a Groundwork account",
        "newcomer@example.test": "Verify your email address for Groundwork",
    }


def test_password_reset_answers_alike_for_a_known_and_an_unknown_address(
    world: World, clock: ManualClock
) -> None:
    known = Client().post("/app/password-reset/", {"email": world.owner.email})
    unknown = Client().post("/app/password-reset/", {"email": "nobody@example.test"})
    assert (known.status_code, known["Location"], known.content) == (
        unknown.status_code,
        unknown["Location"],
        unknown.content,
    )


def test_sign_up_is_throttled_per_email_and_per_address(clock: ManualClock) -> None:
    per_email = int(settings.ACCOUNT_RATE_PER_EMAIL.split("/")[0])
    for n in range(per_email):
        assert sign_up(Client(REMOTE_ADDR=f"198.51.100.{n}"), "target@example.test").status_code == 302
    refused = sign_up(Client(REMOTE_ADDR="198.51.100.200"), "target@example.test")
    assert refused.status_code == 429
    assert TOO_MANY.search(text_of(refused))

    per_address = int(settings.ACCOUNT_RATE_PER_ADDRESS.split("/")[0])
    for n in range(per_address):
        sign_up(Client(REMOTE_ADDR="192.0.2.50"), f"someone{n}@example.test")
    assert sign_up(Client(REMOTE_ADDR="192.0.2.50"), "one-more@example.test").status_code == 429

    clock.advance(3600)  # the window passes
    assert sign_up(Client(REMOTE_ADDR="192.0.2.50"), "target@example.test").status_code == 302


def test_password_reset_is_throttled_per_email(world: World, clock: ManualClock) -> None:
    per_email = int(settings.ACCOUNT_RATE_PER_EMAIL.split("/")[0])
    for n in range(per_email):
        Client(REMOTE_ADDR=f"198.51.100.{n}").post("/app/password-reset/", {"email": world.owner.email})
    sent = len(mail.outbox)
    refused = Client().post("/app/password-reset/", {"email": world.owner.email})
    assert refused.status_code == 429 and TOO_MANY.search(text_of(refused))
    assert len(mail.outbox) == sent  # no email for the refused request


def test_invitation_acceptance_is_throttled_per_account(world: World, clock: ManualClock) -> None:
    client = Client()
    client.force_login(UserFactory())
    per_account = int(settings.ACCOUNT_RATE_PER_EMAIL.split("/")[0])
    for n in range(per_account):
        client.post(f"/app/invitations/guess-{n}/")
    response = client.post("/app/invitations/one-more-guess/", follow=True)
    assert TOO_MANY.search(text_of(response))


# --- email verification -------------------------------------------------------------------------------


@pytest.fixture
def unverified(world: World) -> Client:
    """A dashboard client of a new admin of ``world`` who has not verified their address."""
    membership = world.add_member(Role.ADMIN, user=UserFactory(email_verified_at=None))
    client = Client()
    client.force_login(membership.user)
    return client


def test_an_unverified_person_uses_the_dashboard_but_cannot_create_api_keys(
    world: World, unverified: Client
) -> None:
    page = unverified.get("/app/api-keys/")
    assert page.status_code == 200
    assert "Verify your email address" in text_of(page) and "Resend verification email" in text_of(page)
    refused = unverified.post("/app/api-keys/", {"name": "CI", "role": "viewer"})
    assert refused.status_code == 400
    assert "Verify your email address before you create API keys" in text_of(refused)
    with tenant_context(world.tenant.pk):
        assert not ApiKey.objects.filter(name="CI").exists()


def test_an_unverified_person_cannot_publish_a_bot(world: World) -> None:
    person = world.add_member(Role.ADMIN, user=UserFactory(email_verified_at=None)).user
    actor = world.actor(Role.ADMIN, user=person)
    bot = bot_services.bot_create(actor=actor, name="Helper")  # drafts are fine
    with pytest.raises(EmailNotVerified):
        bot_services.bot_update(actor=actor, bot_id=bot.pk, status="published")
    person.email_verified_at = person.date_joined
    person.save()
    assert bot_services.bot_update(actor=actor, bot_id=bot.pk, status="published").status == "published"


def test_resending_the_link_and_verifying_unlocks_api_keys(
    world: World,
    unverified: Client,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        resent = unverified.post("/app/verify-email/resend/", {"next": "/app/api-keys/"}, follow=True)
    assert "We sent a new verification link" in text_of(resent)
    link = emailed_link("/app/verify-email/")
    assert unverified.get(link).status_code == 302
    assert "Verify your email address" not in text_of(unverified.get("/app/api-keys/"))
    assert unverified.post("/app/api-keys/", {"name": "CI", "role": "viewer"}).status_code == 200
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="user.email_verified").count() == 1


def test_a_verification_link_expires_and_cannot_be_forged(
    world: World,
    unverified: Client,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        unverified.post("/app/verify-email/resend/")
    link = emailed_link("/app/verify-email/")
    assert Client().get(link[:-3] + "abc/").status_code == 404
    clock.advance(settings.EMAIL_VERIFICATION_MAX_AGE_HOURS * 3600 + 1)
    expired = Client().get(link)
    assert expired.status_code == 404 and "invalid or has expired" in text_of(expired)


def test_accepting_an_invitation_verifies_the_address(
    world: World,
    clock: ManualClock,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
    emailed_link: Callable[[str], str],
) -> None:
    invitee = UserFactory(email="invitee@example.test", email_verified_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(actor=world.actor(), email=invitee.email, role="editor")
    client = Client()
    client.force_login(invitee)
    assert client.post(emailed_link("/app/invitations/")).status_code == 302
    invitee.refresh_from_db()
    assert invitee.is_email_verified


def test_sign_up_makes_an_unverified_account_and_other_worlds_are_untouched(clock: ManualClock) -> None:
    other = make_world("Elsewhere")
    sign_up(Client(), "fresh@example.test")
    assert not User.objects.get(email="fresh@example.test").is_email_verified
    assert User.objects.get(pk=other.owner.pk).is_email_verified
