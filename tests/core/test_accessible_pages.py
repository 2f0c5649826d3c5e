"""The accessible machinery every page shares (issue 14): toasts (includes/messages.html), the password
toggle of includes/field.html, filter forms' own ids (core.forms.FILTER_AUTO_ID), and the API docs' frame
and tag order. The whole pages are checked by axe-core in a browser: tests/e2e/test_accessibility.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django import forms
from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.template.loader import render_to_string
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from lxml import html

from core.forms import FILTER_AUTO_ID
from tenants.forms import SignUpForm


def toasts(*messages: Message, inline: bool = True) -> Any:
    page = render_to_string("includes/messages.html", {"messages": list(messages), "inline": inline})
    return html.fromstring(page)


def test_only_successes_fade_out_and_errors_are_alerts() -> None:
    region = toasts(
        Message(constants.SUCCESS, "Saved."),
        Message(constants.INFO, "You are now working in Globex."),
        Message(constants.WARNING, "Your plan ends soon."),
        Message(constants.ERROR, "That invitation has expired."),
    )
    assert region.get("aria-live") == "polite"
    assert "gw-toasts-inline" in region.get("class")
    by_level = {toast.get("data-toast-level"): toast for toast in region.xpath("./div")}
    assert set(by_level) == {"success", "info", "warning", "error"}
    assert [level for level, toast in by_level.items() if toast.get("data-autohide") == "true"] == ["success"]
    assert by_level["error"].get("role") == "alert"
    assert by_level["warning"].get("role") == "alert"
    assert by_level["success"].get("role") == "status"
    assert by_level["error"].xpath(".//button[@aria-label='Dismiss']")


def test_toasts_outside_the_layouts_float_in_a_corner() -> None:
    assert "gw-toasts-inline" not in toasts(Message(constants.SUCCESS, "Saved."), inline=False).get("class")


class PasswordForm(forms.Form):
    email = forms.EmailField(label="Email")
    password = forms.CharField(label="Password", widget=forms.PasswordInput)


def test_a_password_field_gets_a_show_password_button_pointing_at_it() -> None:
    form = PasswordForm()
    field = html.fromstring(render_to_string("includes/field.html", {"field": form["password"]}))
    (button,) = field.xpath(".//button[@data-password-toggle]")
    assert button.get("type") == "button"
    assert button.get("aria-pressed") == "false"
    assert button.get("aria-controls") == "id_password"
    assert field.xpath(".//input[@id='id_password'][@type='password']")
    assert button.text_content().strip() == "Show password"
    other = html.fromstring(render_to_string("includes/field.html", {"field": form["email"]}))
    assert not other.xpath(".//button")


def test_the_first_field_of_sign_up_takes_the_focus() -> None:
    page = html.fromstring(SignUpForm().as_p())
    autofocused = page.xpath("//*[@autofocus]")
    assert [element.get("name") for element in autofocused] == ["full_name"]


def test_filter_ids_never_meet_the_default_ids_of_another_form() -> None:
    filters = PasswordForm({"email": "a@example.test"}, auto_id=FILTER_AUTO_ID)
    assert filters["email"].id_for_label == "filter_email"
    assert filters["email"].html_name == "email"  # the query string keeps its names
    assert PasswordForm()["email"].id_for_label == "id_email"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_api_docs_carry_the_products_name_and_a_way_back(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    page = html.fromstring(response.content)
    assert "Groundwork" in page.findtext(".//title")
    (header,) = page.xpath("//header[@data-api-docs-header]")
    assert "Groundwork" in header.text_content()
    (back,) = header.xpath(".//a[@data-api-docs-back]")
    assert back.get("href") == "/app/"
    assert back.text_content().strip() == "Back to the dashboard"
    current = header.xpath(".//a[@aria-current='page']")
    assert [link.get("href") for link in current] == [path]


def test_the_api_docs_list_their_tags_in_the_products_order_and_miss_none() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    listed = [tag["name"] for tag in schema["tags"]]
    assert listed == [tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]]
    assert listed[:2] == ["bots", "chat"]
    assert listed.index("knowledge-bases") < listed.index("foundation-models") < listed.index("usage")
    assert listed.index("usage") < listed.index("members") < listed.index("api-keys")
    operations = [operation for path in schema["paths"].values() for operation in path.values()]
    used = {tag for operation in operations for tag in operation["tags"]}
    assert used == set(listed), "a tag missing from SPECTACULAR_SETTINGS['TAGS'] falls to the end of the docs"
    assert all(re.match(r"^[A-Z].+\.$", tag["description"]) for tag in schema["tags"])
