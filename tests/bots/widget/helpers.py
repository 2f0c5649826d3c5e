"""A visitor of a tenant's website, as the widget talks to the public API: a bot's public path, a new
session from a page's origin, and the headers that carry the session."""

from __future__ import annotations

from typing import Any

from django.test import Client

from bots.models import Bot
from tests.bots.factories import SITE


def base(bot: Bot) -> str:
    return f"/public/v1/bots/{bot.publishable_key}"


def new_session(bot: Bot, origin: str = SITE, **body: Any) -> dict[str, Any]:
    response = Client().post(
        f"{base(bot)}/sessions", body, content_type="application/json", headers={"Origin": origin}
    )
    assert response.status_code == 201, response.content
    session: dict[str, Any] = response.json()
    return session


def visitor(token: str, origin: str = SITE) -> dict[str, str]:
    return {"Origin": origin, "Authorization": f"Bearer {token}"}
