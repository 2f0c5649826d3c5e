"""Security headers: a strict Content-Security-Policy on the dashboard and the API docs, HSTS and the
HTTPS redirect when HTTPS is on (with /healthz still answering over plain HTTP for probes). That no page
breaks under the policy is checked in a real browser: tests/e2e/test_content_security_policy.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.test import Client

from tenants.models import Role
from tests.bots.factories import make_bot
from tests.clients import member_client
from tests.processes import ROOT
from tests.tenants.factories import make_world


def policy(response: object) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response["Content-Security-Policy"]  # type: ignore[index]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


class Scripts(HTMLParser):
    """The page's <script> elements: their src, and the text of inline ones."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline: list[str] = []
        self.styles = 0
        self.style_attributes = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.style_attributes += "style" in attributes
        if tag == "style":
            self.styles += 1
        if tag == "script":
            self._in_script = True
            if attributes.get("src"):
                self.sources.append(str(attributes["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def scripts_of(response: object) -> Scripts:
    parser = Scripts()
    parser.feed(response.content.decode())  # type: ignore[attr-defined]
    return parser


def assert_strict(rules: dict[str, list[str]]) -> None:
    assert rules["default-src"] == ["'self'"]
    assert rules["script-src"] == ["'self'"]
    assert rules["style-src"] == ["'self'"]
    assert rules["frame-ancestors"] == ["'none'"]
    assert rules["object-src"] == ["'none'"] and rules["base-uri"] == ["'none'"]
    assert rules["img-src"] == ["'self'", "data:"]


@pytest.mark.django_db
def test_dashboard_pages_carry_a_strict_policy_and_deny_framing() -> None:
    world = make_world()
    bot = make_bot(world)
    client = member_client(world, Role.ADMIN)
    for path in (
        "/app/",
        f"/app/bots/{bot.pk}/install/",
        f"/app/bots/{bot.pk}/install/test-page/",
        "/app/api-keys/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(policy(response))
        assert response["X-Frame-Options"] == "DENY"
        page = scripts_of(response)
        # What makes the strict policy hold: no inline script, style element or style attribute.
        assert (page.inline, page.styles, page.style_attributes) == ([], 0, 0), path
    signed_out = Client().get("/app/sign-in/")
    assert_strict(policy(signed_out))


@pytest.mark.django_db
def test_swagger_ui_loads_its_start_up_script_from_a_url_under_the_same_strict_policy() -> None:
    client = Client()
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert_strict(policy(page))
    scripts = scripts_of(page)
    assert scripts.inline == [] and scripts.styles == 0
    (start_up,) = [src for src in scripts.sources if "script=" in src]
    script = client.get(start_up)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


@pytest.mark.django_db
def test_redoc_may_use_inline_styles_but_no_inline_script_and_nothing_from_other_sites() -> None:
    page = Client().get("/api/v1/redoc/")
    assert page.status_code == 200
    rules = policy(page)
    assert rules["script-src"] == ["'self'"]
    assert rules["style-src"] == ["'self'", "'unsafe-inline'"]
    assert rules["frame-ancestors"] == ["'none'"]
    scripts = scripts_of(page)
    assert scripts.inline == []
    assert "googleapis" not in page.content.decode()  # ReDoc's template would load Google Fonts


def settings_with(**environment: str) -> dict[str, object]:
    """Security settings as a fresh process reads them from ``environment``."""
    names = (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_REDIRECT_EXEMPT",
        "SECURE_PROXY_SSL_HEADER",
    )
    env = {name: value for name, value in os.environ.items() if name not in ("HTTPS", *names)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; from django.conf import settings; django.setup(); "
            f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))",
        ],
        cwd=ROOT,
        env={**env, **environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_https_turns_on_the_redirect_and_a_year_of_hsts_and_off_leaves_both_off() -> None:
    on = settings_with(HTTPS="true")
    assert on["SECURE_SSL_REDIRECT"] is True and on["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert on["SECURE_PROXY_SSL_HEADER"] is None  # the scheme comes from uvicorn's trusted proxies only
    off = settings_with()
    assert off["SECURE_SSL_REDIRECT"] is False and off["SECURE_HSTS_SECONDS"] == 0


@pytest.mark.django_db
def test_with_https_on_plain_http_is_redirected_except_the_health_check(settings, celery_worker: str) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600

    redirected = Client().get("/app/sign-in/")
    assert redirected.status_code == 301 and redirected["Location"] == "https://testserver/app/sign-in/"
    assert Client().get("/api/v1/tenant").status_code == 301

    probe = Client().get("/healthz")
    assert probe.status_code == 200, probe.content

    secure = Client().get("/app/sign-in/", secure=True)
    assert secure.status_code == 200
    assert re.fullmatch(r"max-age=31536000", secure["Strict-Transport-Security"])
