"""What the widget looks like on the dashboard: its snippet, where it may answer (one line and a tone),
the appearance choices and the loader URL the dashboard's own pages embed."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from bots.models import (
    Bot,
    WidgetIcon,
    WidgetPosition,
)
from bots.widget.forms import WidgetForm
from core.public_urls import public_base_url

# The spaces between the snippet's attributes (never inside a quoted value: the values have no spaces).
SNIPPET_ATTRIBUTE_BREAKS = re.compile(r" (?=[a-z-]+(?:=\"|>|$))")

# (value, what the icon choice shows): Bootstrap Icons close to the widget's own glyphs.
WIDGET_ICON_GLYPHS: dict[str, str] = {
    WidgetIcon.CHAT: "chat-dots-fill",
    WidgetIcon.HELP: "question-circle-fill",
    WidgetIcon.SPARKLES: "stars",
    WidgetIcon.HEADSET: "headset",
}


def widget_snippet(bot: Bot, request: HttpRequest) -> str:
    """The one line a tenant pastes: the loader from the address the dashboard is served from
    (core.public_urls), ``async`` so the host page never waits for it before DOMContentLoaded."""
    return (
        f'<script src="{public_base_url(request)}/widget.js" data-bot="{bot.publishable_key}" async></script>'
    )


def snippet_parts(snippet: str) -> list[str]:
    """The snippet cut between its attributes: the Install page draws each part as one box, so lines
    break between attributes (only a part wider than a phone's line wraps inside itself). Joined with
    single spaces the parts are the snippet again, so the element's text (what is copied, or selected by
    hand) stays the exact one-line snippet."""
    return SNIPPET_ATTRIBUTE_BREAKS.split(snippet)


def preview_script_url() -> str:
    """The loader as the dashboard's own pages embed it: a preview token is accepted only from Groundwork's
    origin, so it is loaded from where the page is served (a relative URL; the snippet names the public
    address, for tenants' websites)."""
    return reverse("widget_script")


def origin_reach(bot: Bot) -> dict[str, str]:
    """Where the saved widget answers, as one line and a tone (deny by default)."""
    if bot.allow_any_origin:
        return {"tone": "warning", "icon": "globe2", "text": "Any website allowed"}
    count = len(bot.allowed_origins)
    if count == 0:
        return {"tone": "danger", "icon": "slash-circle", "text": "No website allowed yet"}
    return {
        "tone": "ok",
        "icon": "shield-check",
        "text": f"{count} allowed website{'s' if count != 1 else ''}",
    }


def install_where(bot: Bot) -> str:
    """Where to paste the snippet for it to count, in the words of "Not detected yet — paste the snippet
    on ... and open the page"."""
    if bot.allow_any_origin:
        return "your website"
    origins = bot.allowed_origins
    if not origins:
        return "a website you allow below"
    if len(origins) <= 3:
        return ", ".join(origins[:-1]) + (" or " if len(origins) > 1 else "") + origins[-1]
    return f"{', '.join(origins[:2])} or another of your {len(origins)} allowed websites"


def widget_choice_rows(form: WidgetForm) -> dict[str, list[dict[str, Any]]]:
    """The position and icon choices as the Install page draws them, in the form's current state."""
    position = form["widget_position"].value()
    icon = form["widget_icon"].value()
    return {
        "positions": [
            {"value": value, "label": label, "checked": value == position}
            for value, label in WidgetPosition.choices
        ],
        "icons": [
            {"value": value, "label": label, "glyph": WIDGET_ICON_GLYPHS[value], "checked": value == icon}
            for value, label in WidgetIcon.choices
        ],
    }
