"""What a bot's publishable key and a widget visitor's session token grant: nothing but the widget's
public routes, for that one bot.

Both are in the hands of anyone who opens a tenant's website (the key is in the page source, the token in
the visitor's browser). Every other route, enumerated from the URLconf, refuses them: the REST API with
401/403 problem+json, the dashboard by sending the caller to sign in. Another bot's public routes refuse
the token with 403, and refuse the key with 404 in a path that is not its own.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tests.bots.factories import SITE, published_bot
from tests.bots.widget.helpers import new_session
from tests.security.routes import METHODS, PUBLIC, concrete, route_templates
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db

WIDGET_ROUTES = ("/widget.js", "/public/v1/")


def management_routes() -> list[str]:
    """Every route but the widget's own and the pages anyone may open (sign-in, the API documentation)."""
    templates = {template for template, _ in route_templates()}
    return sorted(template for template in templates - PUBLIC if not template.startswith(WIDGET_ROUTES))


def test_the_publishable_key_and_a_visitor_token_open_no_other_route() -> None:
    world = make_world()
    bot = published_bot(world, "Helper")
    token = new_session(bot)["token"]
    routes = management_routes()
    assert any(route.startswith("/api/v1/bots") for route in routes)
    assert any(route.startswith("/app/bots") for route in routes)

    for credential in (bot.publishable_key, token):
        headers = {"Authorization": f"Bearer {credential}", "Origin": SITE}
        for template in routes:
            path = concrete(template).replace("{id}", str(bot.pk)).replace("{key}", bot.publishable_key)
            for method in METHODS:
                response = getattr(Client(), method)(
                    path,
                    **({} if method == "get" else {"data": "{}", "content_type": "application/json"}),
                    headers=headers,
                )
                refused = response.status_code in (401, 403, 405) or (
                    response.status_code == 302 and response["Location"].startswith("/app/sign-in/")
                )
                assert refused, (
                    f"{method.upper()} {path} answered {response.status_code} to {credential[:10]}…"
                )


def test_a_token_and_a_key_reach_only_their_own_bots_public_routes() -> None:
    world, other_world = make_world("Acme"), make_world("Globex")
    bot = published_bot(world, "Helper")
    others = [
        published_bot(world, "Sibling"),
        published_bot(other_world, "Stranger"),
    ]
    token = new_session(bot)["token"]
    public_routes = sorted(
        template for template, _ in route_templates() if template.startswith("/public/v1/bots/{key}/")
    )
    assert len(public_routes) >= 3

    for other in others:
        for template in public_routes:
            if template.endswith("/sessions"):
                continue  # open to any visitor of an allowed page: that is what a session is
            path = template.replace("{key}", other.publishable_key).replace("{id}", str(uuid.uuid4()))
            method = "get" if "/conversations/" in template else "post"
            kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}", "Origin": SITE}}
            if method == "post":
                kwargs.update(data={"message": "Hi", "rating": 1}, content_type="application/json")
            response = getattr(Client(), method)(path, **kwargs)
            assert response.status_code == 403, f"{method.upper()} {path}: {response.status_code}"
            assert response["Content-Type"] == "application/problem+json"
