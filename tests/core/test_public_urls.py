"""Every absolute link Groundwork hands out names the address the dashboard is served from: the widget
snippet and the links in emails (verification, invitation, password reset) take the request's origin, or
``PUBLIC_URL`` when the operator set it — never a default that differs (core.public_urls)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from core import public_urls
from core.clock import ManualClock
from tests.bots.factories import make_bot
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

ELSEWHERE = "localhost:8765"  # another host and port than the test client's default (testserver)


def shown_snippet(response: Any) -> str:
    match = re.search(r'<code id="widget-snippet">(.*?)</code>', response.content.decode(), re.S)
    assert match, "no snippet on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def emailed_links() -> list[str]:
    return re.findall(r"https?://\S+", mail.outbox[-1].body)


def test_the_snippet_names_the_origin_the_page_was_served_from(world: World, settings: Any) -> None:
    settings.PUBLIC_URL = ""
    bot = make_bot(world, "Concierge")
    client = Client(headers={"host": ELSEWHERE})
    client.force_login(world.owner)
    snippet = shown_snippet(client.get(f"/app/bots/{bot.pk}/install/"))
    assert snippet == (
        f'<script src="http://{ELSEWHERE}/widget.js" data-bot="{bot.publishable_key}" async></script>'
    )
    # Over HTTPS (as a trusted proxy reports it, or directly) the snippet says https.
    secure = shown_snippet(client.get(f"/app/bots/{bot.pk}/install/", secure=True))
    assert secure.startswith(f'<script src="https://{ELSEWHERE}/widget.js"')


def test_public_url_wins_over_the_request(world: World, settings: Any) -> None:
    settings.PUBLIC_URL = "https://chat.example.com"
    bot = make_bot(world, "Concierge")
    client = Client(headers={"host": ELSEWHERE})
    client.force_login(world.owner)
    snippet = shown_snippet(client.get(f"/app/bots/{bot.pk}/install/"))
    assert snippet.startswith('<script src="https://chat.example.com/widget.js"')


def test_the_verification_email_links_to_where_the_person_signed_up(
    clock: ManualClock,
    settings: Any,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    settings.PUBLIC_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(headers={"host": ELSEWHERE}).post(
            "/app/sign-up/",
            {
                "full_name": "Ada Lovelace",
                "email": "ada@example.test",
                "organisation_name": "Analytical Engines",
                "password": "difference-engine-1843",
            },
        )
    assert response.status_code == 302
    [link] = emailed_links()
    assert link.startswith(f"http://{ELSEWHERE}/app/verify-email/")

    settings.PUBLIC_URL = "https://chat.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        Client(headers={"host": ELSEWHERE}).post(
            "/app/sign-up/",
            {
                "full_name": "Grace Hopper",
                "email": "grace@example.test",
                "organisation_name": "Compilers",
                "password": "difference-engine-1843",
            },
        )
    [link] = emailed_links()
    assert link.startswith("https://chat.example.com/app/verify-email/")


def test_the_invitation_email_links_to_the_dashboards_address(
    world: World,
    settings: Any,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    settings.PUBLIC_URL = ""
    client = Client(headers={"host": ELSEWHERE})
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post("/app/team/", {"email": "newbie@example.test", "role": "editor"}).status_code == 302
        )
    [link] = emailed_links()
    assert link.startswith(f"http://{ELSEWHERE}/app/invitations/")

    settings.PUBLIC_URL = "https://chat.example.com/"  # a trailing slash is not doubled
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/app/team/", {"email": "other@example.test", "role": "viewer"})
    [link] = emailed_links()
    assert link.startswith("https://chat.example.com/app/invitations/")


def test_the_password_reset_email_links_to_the_dashboards_address(
    world: World, clock: ManualClock, settings: Any
) -> None:
    settings.PUBLIC_URL = ""
    client = Client(headers={"host": ELSEWHERE})
    assert client.post("/app/password-reset/", {"email": world.owner.email}).status_code == 302
    [link] = emailed_links()
    assert link.startswith(f"http://{ELSEWHERE}/app/password-reset/")

    settings.PUBLIC_URL = "https://chat.example.com"
    clock.advance(3600)  # past the per-address reset limit's window
    assert client.post("/app/password-reset/", {"email": world.owner.email}).status_code == 302
    [link] = emailed_links()
    assert link.startswith("https://chat.example.com/app/password-reset/")
    # The link works: it opens the form to choose a new password.
    path = link.removeprefix("https://chat.example.com")
    assert client.get(path, follow=True).status_code == 200


def test_outside_a_request_links_fall_back_to_make_runs_address_with_a_warning(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.PUBLIC_URL = ""
    assert public_urls.absolute_url("/app/") == "http://127.0.0.1:8000/app/"
    assert "outside a request with PUBLIC_URL unset" in caplog.text
    settings.PUBLIC_URL = "https://chat.example.com"
    assert public_urls.absolute_url("/app/") == "https://chat.example.com/app/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("https://chat.example.com/", "https://chat.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_public_url_is_an_origin(value: str, expected: str) -> None:
    assert public_urls.checked_public_url(value) == expected


@pytest.mark.parametrize(
    "value", ["chat.example.com", "https://chat.example.com/groundwork", "ftp://x.example", "http://x:99999"]
)
def test_a_public_url_that_is_not_an_origin_stops_the_start(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="PUBLIC_URL"):
        public_urls.checked_public_url(value)
