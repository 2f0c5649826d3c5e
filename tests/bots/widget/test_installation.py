"""The Install page's "installation detected": a page on an allowed website that loads the widget is
recorded (time and origin, at most once a minute, never the dashboard's preview nor a refused website), and
the page says so, polling while it was never seen; and the websites people type are normalised into the
origins browsers send (``www.example.com/help`` → ``https://www.example.com``) or refused readably.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client

from bots.models import Bot
from bots.widget import installation
from bots.widget import rules as widget_rules
from bots.widget.forms import origin_from_typed
from core.errors import ValidationFailed
from tenants.models import Role
from tests.bots.factories import SITE, make_bot, published_bot
from tests.bots.helpers import reload
from tests.bots.widget.helpers import base
from tests.clients import api_client, member_client
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db


def status_of(response: Any) -> tuple[str, str]:
    """The ``[data-installation-status]`` element's data-detected and its text, spaces collapsed."""
    page = response.content.decode()
    match = re.search(
        r'<div class="gw-installation[^"]*" data-installation-status data-detected="(\w+)".*?</div>',
        page,
        re.S,
    )
    assert match, "no installation status on the page"
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", match.group(0)))).strip()
    return match.group(1), text


def load_widget(bot: Bot, origin: str | None, **headers: str) -> int:
    """The config request the loader makes on every page load, from a page at ``origin``."""
    sent = {**headers, **({"Origin": origin} if origin else {})}
    return Client().get(base(bot), headers=sent).status_code


def test_a_page_load_on_an_allowed_website_is_detected_with_its_time_and_origin(
    world: World, owner_client: Client
) -> None:
    bot = published_bot(world, "Concierge", allowed_origins=[SITE, "https://help.example.com"])
    install = f"/app/bots/{bot.pk}/install/"

    detected, text = status_of(owner_client.get(install))
    assert detected == "false"
    assert text == (
        "Not detected yet — paste the snippet on https://shop.example.com or https://help.example.com "
        "and open the page."
    )
    # While never seen, the line asks again by itself (htmx), from a URL that answers with the line alone.
    page = owner_client.get(install).content.decode()
    assert f'hx-get="/app/bots/{bot.pk}/install/status/" hx-trigger="every 10s"' in page

    assert load_widget(bot, SITE) == 200
    seen = installation.widget_installation(publishable_key=bot.publishable_key)
    assert seen is not None and seen.origin == SITE

    polled = owner_client.get(f"/app/bots/{bot.pk}/install/status/")
    assert polled.status_code == 200 and polled["Cache-Control"] == "no-store"
    detected, text = status_of(polled)
    assert detected == "true"
    assert text.startswith("Installation detected") and text.endswith(f"on {SITE}")
    assert re.search(r"Installation detected (now|\d+ seconds? ago) on", text), text
    assert "hx-trigger" not in polled.content.decode()  # seen: no more polling
    assert status_of(owner_client.get(install))[0] == "true"


def test_a_draft_bots_snippet_counts_too_the_preview_and_refused_websites_do_not(world: World) -> None:
    draft = make_bot(world, "Draft", allowed_origins=[SITE])
    assert load_widget(draft, SITE) == 403  # not published: no answer, but the snippet is in place
    assert installation.widget_installation(publishable_key=draft.publishable_key) is not None

    bot = published_bot(world, "Concierge")
    preview = {"Groundwork-Preview": widget_rules.preview_token(bot, user=world.owner)}
    assert load_widget(bot, "http://testserver", **preview) == 200  # the Install page's own preview
    assert load_widget(bot, None, **preview) == 200  # a same-origin page (no Origin header)
    assert load_widget(bot, "https://elsewhere.example") == 403  # not an allowed website
    assert load_widget(bot, "null") == 403  # a sandboxed frame or a file:// page
    assert installation.widget_installation(publishable_key=bot.publishable_key) is None


def test_page_loads_are_recorded_at_most_once_a_minute(world: World) -> None:
    bot = published_bot(world, "Concierge", allow_any_origin=True)
    assert installation.record_widget_seen(publishable_key=bot.publishable_key, origin=SITE) is True
    # Every further load within the minute costs no write: the first origin stays.
    for _ in range(3):
        assert load_widget(bot, "https://other.example.com") == 200
    seen = installation.widget_installation(publishable_key=bot.publishable_key)
    assert seen is not None and seen.origin == SITE


def test_a_new_publishable_key_starts_undetected(world: World, owner_client: Client) -> None:
    bot = published_bot(world, "Concierge")
    assert load_widget(bot, SITE) == 200
    assert owner_client.post(f"/app/bots/{bot.pk}/rotate-key/").status_code == 302
    rotated = reload(world, bot)
    assert status_of(owner_client.get(f"/app/bots/{bot.pk}/install/"))[0] == "false"
    assert installation.widget_installation(publishable_key=rotated.publishable_key) is None


def test_the_status_is_for_members_of_the_bots_tenant_only(world: World) -> None:
    bot = published_bot(world, "Concierge")
    assert member_client(world, Role.VIEWER).get(f"/app/bots/{bot.pk}/install/status/").status_code == 200
    stranger = Client()
    stranger.force_login(make_world("Globex").owner)
    assert stranger.get(f"/app/bots/{bot.pk}/install/status/").status_code == 404
    assert Client().get(f"/app/bots/{bot.pk}/install/status/").status_code == 302  # to sign in


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"allow_any_origin": True}, "paste the snippet on your website and open the page."),
        ({"allowed_origins": []}, "paste the snippet on a website you allow below and open the page."),
        (
            {"allowed_origins": [f"https://s{n}.example.com" for n in range(4)]},
            "paste the snippet on https://s0.example.com, https://s1.example.com or another of your 4 "
            "allowed websites and open the page.",
        ),
    ],
)
def test_not_detected_says_where_to_paste(
    world: World, owner_client: Client, where: dict[str, Any], expected: str
) -> None:
    bot = make_bot(world, "Concierge", **where)
    assert status_of(owner_client.get(f"/app/bots/{bot.pk}/install/"))[1].endswith(expected)


# --- origins as people type them ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "origin"),
    [
        ("www.example.com/help", "https://www.example.com"),
        ("http://localhost:3000/x", "http://localhost:3000"),
        ("localhost:3000", "http://localhost:3000"),
        ("127.0.0.1:8080/page?x=1", "http://127.0.0.1:8080"),
        ("HTTPS://WWW.Example.COM/", "https://www.example.com"),
        ("https://shop.example.com:443/cart#top", "https://shop.example.com"),
        ("http://shop.example.com:80", "http://shop.example.com"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("  shop.example.com  ", "https://shop.example.com"),
        ("bücher.example", "https://xn--bcher-kva.example"),
        ("http://[::1]:3000/", "http://[::1]:3000"),
        ("http://intranet:8080", "http://intranet:8080"),
    ],
)
def test_what_people_type_becomes_the_origin_browsers_send(typed: str, origin: str) -> None:
    assert origin_from_typed(typed) == origin


@pytest.mark.parametrize(
    "typed",
    ["shop", "*.example.com", "ftp://files.example.com", "https://x.example.com:99999", "mailto:a@b.c"],
)
def test_what_cannot_be_an_origin_is_refused_readably(typed: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        origin_from_typed(typed)
    assert refused.value.message.startswith(f"“{typed}” is not a website address.")


def test_the_install_form_saves_what_was_typed_as_origins(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.post(
        f"/app/bots/{bot.pk}/install/",
        {
            "allowed_origins": [
                "www.example.com/help",
                "HTTP://LOCALHOST:3000/x",
                "https://www.example.com/",
            ],
            "widget_title": "",
            "widget_color": "#4f46e5",
            "widget_position": "right",
            "widget_icon": "chat",
        },
    )
    assert response.status_code == 302
    assert reload(world, bot).allowed_origins == ["https://www.example.com", "http://localhost:3000"]


def test_the_api_refuses_an_origin_with_a_bad_port_as_problem_json(world: World) -> None:
    bot = make_bot(world, "Concierge")
    response = api_client(world.api_key()[1]).patch(
        f"/api/v1/bots/{bot.pk}",
        {"allowed_origins": ["https://shop.example.com:99999"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "is not a web origin" in response.json()["detail"]
