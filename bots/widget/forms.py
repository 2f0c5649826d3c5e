"""The Install page's forms: allowed origins (one per row) and the widget's appearance."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django import forms

from bots.bot_settings import normalise_origin
from bots.models import WidgetIcon, WidgetPosition
from core.errors import ValidationFailed
from core.forms import checkbox

MAX_ORIGINS = 50


HEX_WITHOUT_HASH = re.compile(r"[0-9a-fA-F]{6}")


ORIGIN_SEPARATORS = re.compile(r"[\s,]+")
HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# What a browser sends as a page's host: letters, digits, hyphens and dots (IDNs arrive as xn--), or
# an IPv6 address in brackets.
ORIGIN_HOST = re.compile(r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\])$")
# Pages served from this computer while developing: their address bar says http://, not https://.
LOOPBACK_HOSTS = re.compile(r"^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_from_typed(text: str) -> str:
    """The origin a browser sends for pages at what someone typed: ``www.example.com/help`` →
    ``https://www.example.com``, ``HTTP://LOCALHOST:3000/x`` → ``http://localhost:3000``. No scheme means
    https (http for this computer's own addresses); a path, query, fragment, trailing slash and a default
    port are dropped, as the browser's ``Origin`` header drops them. ValidationFailed, naming what was
    typed, when it cannot be a website's address (``static/js/install.js`` applies the same rule as
    people type)."""
    typed = text.strip()
    refusal = ValidationFailed.on(
        "allowed_origins",
        f"“{typed[:100]}” is not a website address. Type it as the address bar shows it, like "
        "https://www.example.com or http://localhost:3000.",
    )
    value = typed
    if not HAS_SCHEME.match(value):
        host = re.split(r"[/?#]", value, maxsplit=1)[0].rsplit(":", 1)[0] if value else ""
        if "." not in host and not LOOPBACK_HOSTS.match(host):
            raise refusal  # "example", "shop": a word, not an address, unless a scheme says otherwise
        value = ("http://" if LOOPBACK_HOSTS.match(host) else "https://") + value
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        raise refusal from None
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    if scheme not in DEFAULT_PORTS or not hostname or parts.username is not None:
        raise refusal
    try:
        hostname = hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
    except UnicodeError:
        raise refusal from None
    host = f"[{hostname}]" if ":" in hostname else hostname.rstrip(".")
    if not ORIGIN_HOST.match(host):
        raise refusal
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


class OriginRows(forms.Widget):
    """The allowed websites as rows of text inputs sharing one name: ``templates/bots/widget/_origins.html``
    draws them and ``install.js`` adds and removes rows (without JavaScript an empty row is there to fill).
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
        return [values] if isinstance(values, str) else list(values)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no rows posted is a choice: no websites


class OriginListField(forms.Field):
    widget = OriginRows

    def to_python(self, value: Any) -> list[str]:
        # A row may hold several origins pasted at once, one per line or separated by spaces or commas.
        rows = value if isinstance(value, list | tuple) else [value or ""]
        return [part for row in rows for part in ORIGIN_SEPARATORS.split(str(row)) if part]


class WidgetForm(forms.Form):
    """Where a bot's website widget may answer and how it looks. ``cleaned_data`` are the keyword arguments
    of ``services.bot_update``, which checks and normalises them (the origins' rule is its
    ``normalise_origin``, applied here to every row so that each wrong one is marked, after
    ``origin_from_typed`` turned what people type into the origin they mean)."""

    allowed_origins = OriginListField(label="Allowed websites", required=False)
    allow_any_origin = checkbox("Allow any website (not recommended)")
    widget_title = forms.CharField(
        label="Title",
        max_length=80,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="At the top of the chat window. Empty: the bot's name.",
    )
    widget_color = forms.CharField(
        label="Colour",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "maxlength": "7", "placeholder": "#4f46e5"}
        ),
        help_text="The launcher, the header and your visitors' messages; their text turns white or black, "
        "whichever reads better on it.",
    )
    widget_position = forms.ChoiceField(
        label="Position", choices=WidgetPosition.choices, widget=forms.RadioSelect
    )
    widget_icon = forms.ChoiceField(
        label="Launcher icon", choices=WidgetIcon.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, bot_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["widget_title"].widget.attrs["placeholder"] = bot_name
        self.invalid_origins: set[str] = set()

    def clean_allowed_origins(self) -> list[str]:
        origins: list[str] = self.cleaned_data["allowed_origins"]
        if len(origins) > MAX_ORIGINS:
            raise forms.ValidationError(f"Up to {MAX_ORIGINS} websites; there are {len(origins)}.")
        problems = []
        normalised = []
        for origin in origins:
            try:
                normalised.append(normalise_origin(origin_from_typed(origin)))
            except ValidationFailed as error:
                self.invalid_origins.add(origin)
                problems.append(error.message)
        if problems:
            raise forms.ValidationError(problems)
        return list(dict.fromkeys(normalised))

    def clean_widget_color(self) -> str:
        colour: str = self.cleaned_data["widget_color"].strip()
        # Pasted from a design tool without its "#": the service checks the rest.
        return f"#{colour}" if HEX_WITHOUT_HASH.fullmatch(colour) else colour

    def settings(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        return dict(self.cleaned_data)
