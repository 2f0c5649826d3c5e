"""Private model endpoints per settings profile: ``make run`` (a single-machine install) allows them so a
local Ollama, vLLM or LM Studio works; docker-compose.yml and the image (production) refuse them unless the
operator opts in; the server form on the Models page says which rule applies, and creating an endpoint at
127.0.0.1 is accepted or refused accordingly."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from providers.forms import PRIVATE_ENDPOINTS_ALLOWED_HELP, PRIVATE_ENDPOINTS_REFUSED_HELP
from providers.models import ProviderCredential
from tenants.context import tenant_context
from tenants.management.commands.run_platform import platform_environment, served_url
from tests.providers.factories import LOCAL_ENDPOINT
from tests.tenants.factories import World

ROOT = Path(__file__).resolve().parents[2]
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 -- a HOST value to derive a link from, nothing binds it


# --- make run ---------------------------------------------------------------------------------------


def test_make_run_allows_private_endpoints_unless_the_operator_said_otherwise() -> None:
    assert platform_environment({}, host="127.0.0.1", port=8000)["ALLOW_PRIVATE_MODEL_ENDPOINTS"] == "true"
    for chosen in ("false", "true"):
        environment = platform_environment(
            {"ALLOW_PRIVATE_MODEL_ENDPOINTS": chosen}, host="127.0.0.1", port=8000
        )
        assert environment["ALLOW_PRIVATE_MODEL_ENDPOINTS"] == chosen


@pytest.mark.parametrize(
    ("host", "port", "public_url"),
    [
        ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
        ("localhost", 9000, "http://localhost:9000"),
        ("192.168.1.20", 8000, "http://192.168.1.20:8000"),
        (EVERY_INTERFACE, 8080, "http://127.0.0.1:8080"),  # the loopback address ALLOWED_HOSTS has
        ("::", 8000, "http://[::1]:8000"),
        ("::1", 8000, "http://[::1]:8000"),
    ],
)
def test_make_run_derives_the_public_url_from_host_and_port(host: str, port: int, public_url: str) -> None:
    assert served_url(host, port) == public_url
    environment = platform_environment({"PATH": "/usr/bin"}, host=host, port=port)
    assert environment["PUBLIC_URL"] == public_url and environment["PATH"] == "/usr/bin"


def test_make_run_keeps_the_operators_public_url() -> None:
    environment = platform_environment(
        {"PUBLIC_URL": "https://chat.example.com"}, host=EVERY_INTERFACE, port=8000
    )
    assert environment["PUBLIC_URL"] == "https://chat.example.com"
    former = platform_environment({"PUBLIC_BASE_URL": "https://old.example.com"}, host="127.0.0.1", port=8000)
    assert "PUBLIC_URL" not in former  # the settings read the former name


# --- production: compose and the image -----------------------------------------------------------------


def test_compose_refuses_private_endpoints_unless_the_operator_opts_in() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-app-environment"]
    assert environment["ALLOW_PRIVATE_MODEL_ENDPOINTS"] == "${ALLOW_PRIVATE_MODEL_ENDPOINTS:-false}"
    # No default address differs from where the site is reached: empty means each request's origin.
    assert environment["PUBLIC_URL"] == "${PUBLIC_URL:-}"
    assert "PUBLIC_BASE_URL" not in environment


def test_the_image_refuses_private_endpoints_and_the_operations_guide_documents_it() -> None:
    assert re.search(
        r"^ENV ALLOW_PRIVATE_MODEL_ENDPOINTS=false$", (ROOT / "platform/Dockerfile").read_text(), re.M
    )
    guide = (ROOT / "platform/README.md").read_text()
    [row] = [line for line in guide.splitlines() if line.startswith("| `ALLOW_PRIVATE_MODEL_ENDPOINTS`")]
    assert "`false`" in row and "`make run`" in row
    assert any(line.startswith("| `PUBLIC_URL`") for line in guide.splitlines())


# --- the form and the rule ----------------------------------------------------------------------------


def base_url_help(page: str) -> str:
    match = re.search(r'<div class="form-text" id="[^"]*base_url_helptext">(.*?)</div>', page, re.S)
    assert match, "no help under the base URL field"
    return html.unescape(match.group(1))


@pytest.mark.django_db
def test_the_server_form_says_private_addresses_are_accepted_and_they_are(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    page = owner_client.get("/app/models/").content.decode()
    assert base_url_help(page) == PRIVATE_ENDPOINTS_ALLOWED_HELP
    assert "This installation accepts private addresses such as http://localhost:11434/v1 (Ollama)." in (
        PRIVATE_ENDPOINTS_ALLOWED_HELP
    )
    created = owner_client.post(
        "/app/models/providers/",
        {"provider": "openai_compatible", "name": "Ollama", "api_key": "", "base_url": LOCAL_ENDPOINT},
    )
    assert created.status_code == 302
    with tenant_context(world.tenant.pk):
        assert ProviderCredential.objects.get(name="Ollama").base_url == LOCAL_ENDPOINT


@pytest.mark.django_db
def test_the_server_form_says_only_public_addresses_are_reached_and_refuses_127_0_0_1(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = False
    page = owner_client.get("/app/models/").content.decode()
    assert base_url_help(page) == PRIVATE_ENDPOINTS_REFUSED_HELP
    assert (
        "This installation only reaches public addresses; the operator can allow private ones with "
        "ALLOW_PRIVATE_MODEL_ENDPOINTS." in PRIVATE_ENDPOINTS_REFUSED_HELP
    )
    refused = owner_client.post(
        "/app/models/providers/",
        {"provider": "openai_compatible", "name": "Ollama", "api_key": "", "base_url": LOCAL_ENDPOINT},
    )
    assert refused.status_code == 400
    text = html.unescape(refused.content.decode())
    assert (
        "This installation does not reach private, loopback or unresolvable addresses (its operator can "
        "allow them with ALLOW_PRIVATE_MODEL_ENDPOINTS)." in text
    )
    with tenant_context(world.tenant.pk):
        assert not ProviderCredential.objects.filter(name="Ollama").exists()
