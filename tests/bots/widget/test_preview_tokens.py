"""Preview tokens: what lets the dashboard's Install page and test page show a draft bot through the real
widget. Each is bound to the bot and the member who opened the page, lives 15 minutes (the pages fetch a
fresh one before then), and dies when that member signs out or leaves the organisation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bots.models import Bot
from bots.widget import rules as widget_rules
from core.clock import ManualClock
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import Role
from tests.bots.factories import published_bot
from tests.bots.widget.helpers import base
from tests.tenants.factories import PASSWORD, World, make_world

pytestmark = pytest.mark.django_db

OWN_ORIGIN = "http://testserver"  # Groundwork's own pages, where a preview token is honoured


def preview_get(bot: Bot, token: str) -> Any:
    """The widget on Groundwork's own page asking for a draft bot's look with a preview token."""
    return Client().get(base(bot), headers={"Origin": OWN_ORIGIN, "Groundwork-Preview": token})


def signed_in(email: str) -> Client:
    """A browser signed in through the real sign-in (so signing out runs the real sign-out too)."""
    client = Client()
    response = client.post("/app/sign-in/", {"username": email, "password": PASSWORD})
    assert response.status_code == 302, "the sign-in was refused"
    return client


def token_on_page(client: Client, bot: Bot, page: str = "install/") -> str:
    response = client.get(f"/app/bots/{bot.pk}/{page}")
    assert response.status_code == 200
    match = re.search(r'data-preview="([^"]+)"', response.content.decode())
    assert match, "no preview token on the page"
    return match.group(1)


def draft(world: World, name: str = "Helper") -> Bot:
    return published_bot(world, name, status="draft", allowed_origins=[])


def test_a_token_works_for_15_minutes_and_not_a_second_longer(world: World, clock: ManualClock) -> None:
    bot = draft(world)
    token = widget_rules.preview_token(bot, user=world.owner)

    assert preview_get(bot, token).status_code == 200
    clock.advance(15 * 60 - 1)
    assert preview_get(bot, token).status_code == 200
    clock.advance(2)
    expired = preview_get(bot, token)
    assert expired.status_code == 403  # no longer a preview: a draft on an origin it does not allow
    assert widget_rules.is_preview(bot, token) is False


def test_signing_out_ends_the_members_previews_and_only_theirs(world: World) -> None:
    bot = draft(world)
    colleague = world.add_member(Role.EDITOR).user
    owner_browser, colleague_browser = signed_in(world.owner.email), signed_in(colleague.email)
    owner_install, owner_test_page = (
        token_on_page(owner_browser, bot),
        token_on_page(owner_browser, bot, "install/test-page/"),
    )
    colleague_token = token_on_page(colleague_browser, bot)
    assert preview_get(bot, owner_install).status_code == preview_get(bot, owner_test_page).status_code == 200

    signed_out = owner_browser.post("/app/sign-out/")
    assert signed_out.status_code == 302

    assert preview_get(bot, owner_install).status_code == 403
    assert preview_get(bot, owner_test_page).status_code == 403
    assert preview_get(bot, colleague_token).status_code == 200  # another member's preview lives on
    # Signing in again gives new pages new tokens; the old ones stay dead.
    again = signed_in(world.owner.email)
    assert preview_get(bot, token_on_page(again, bot)).status_code == 200
    assert preview_get(bot, owner_install).status_code == 403


def test_a_preview_session_ends_with_its_token(world: World) -> None:
    bot = draft(world)
    browser = signed_in(world.owner.email)
    token = token_on_page(browser, bot)
    headers = {"Origin": OWN_ORIGIN, "Groundwork-Preview": token}
    session = Client().post(f"{base(bot)}/sessions", {}, content_type="application/json", headers=headers)
    assert session.status_code == 201
    session_token = session.json()["token"]
    conversation = "/conversations/00000000-0000-0000-0000-000000000000"
    with_session = {**headers, "Authorization": f"Bearer {session_token}"}
    assert Client().get(base(bot) + conversation, headers=with_session).status_code == 404  # let in

    browser.post("/app/sign-out/")

    # The hour-long session token alone no longer reaches the draft, from any origin.
    after = Client().get(base(bot) + conversation, headers=with_session)
    assert after.status_code in (401, 403)
    bare = {"Origin": OWN_ORIGIN, "Authorization": f"Bearer {session_token}"}
    assert Client().get(base(bot) + conversation, headers=bare).status_code in (401, 403)


def test_a_token_is_its_users_and_its_bots_only(world: World, other_world: World) -> None:
    bot = draft(world)
    other_bot = draft(world, "Other")
    member = world.add_member(Role.EDITOR)
    token = widget_rules.preview_token(bot, user=member.user)
    assert preview_get(bot, token).status_code == 200
    assert preview_get(other_bot, token).status_code == 403  # one bot

    # Another user's id written into the token (their payload, this token's signature) is refused.
    outsider = widget_rules.preview_token(bot, user=other_world.owner)
    outsider_payload = outsider.split(":")[0]
    signature = token.split(":", 1)[1]
    assert preview_get(bot, f"{outsider_payload}:{signature}").status_code == 403
    # Even a correctly signed token of a user outside the bot's organisation is refused: a token is only
    # honoured while its user is a member there.
    assert preview_get(bot, outsider).status_code == 403

    with tenant_context(world.tenant.pk):
        tenant_services.membership_remove(actor=world.actor(), membership_id=member.pk)
    assert preview_get(bot, token).status_code == 403  # the member left: their token died with it


def test_the_pages_fetch_a_fresh_token_for_the_signed_in_member_only(world: World) -> None:
    bot = draft(world)
    browser = signed_in(world.owner.email)
    fresh = browser.get(f"/app/bots/{bot.pk}/install/preview-token/")
    assert fresh.status_code == 200 and fresh["Cache-Control"] == "no-store"
    body = fresh.json()
    assert body["expires_in"] == 15 * 60
    assert preview_get(bot, body["token"]).status_code == 200
    page = browser.get(f"/app/bots/{bot.pk}/install/").content.decode()
    assert f'data-preview-refresh="/app/bots/{bot.pk}/install/preview-token/"' in page
    assert 'data-preview-seconds="900"' in page

    anonymous = Client().get(f"/app/bots/{bot.pk}/install/preview-token/")
    assert anonymous.status_code == 302 and "/app/sign-in/" in anonymous["Location"]
    outsider = make_world("Initech")
    stranger = signed_in(outsider.owner.email)
    assert stranger.get(f"/app/bots/{bot.pk}/install/preview-token/").status_code == 404
