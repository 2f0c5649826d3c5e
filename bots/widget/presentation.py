"""What the widget looks like on the dashboard: its snippet, where it may answer (one line and a tone),
the appearance choices and the loader URL the dashboard's own pages embed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from bots.models import (
    Bot,
    WidgetIcon,
    WidgetPosition,
)
from bots.widget.forms import WidgetForm

# (value, what the icon choice shows): Bootstrap Icons close to the widget's own glyphs.
WIDGET_ICON_GLYPHS: dict[str, str] = {
    WidgetIcon.CHAT: "chat-dots-fill",
    WidgetIcon.HELP: "question-circle-fill",
    WidgetIcon.SPARKLES: "stars",
    WidgetIcon.HEADSET: "headset",
}


def widget_snippet(bot: Bot) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f'<script src="{base}/widget.js" data-bot="{bot.publishable_key}" defer></script>'


def preview_script_url() -> str:
    """The loader as the dashboard's own pages embed it: a preview token is accepted only from Groundwork's
    origin, so it is loaded from where the page is served (the snippet names PUBLIC_BASE_URL, for tenants'
    websites)."""
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
