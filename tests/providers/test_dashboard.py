"""The Models and Usage pages: the catalog with filters and flags, comparison, model settings, provider
credentials and the tenant's own models; usage totals, chart and table; read-only for viewers; tenant
isolation and keys that never come back out."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from providers import selectors, services
from providers.models import CustomModel, FoundationModel, ProviderCredential
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot
from tests.clients import member_client, text_of
from tests.providers.factories import LOCAL_ENDPOINT, endpoint_credential, own_model, record_usage
from tests.providers.helpers import assert_secret_absent, provider_rows
from tests.tenants.factories import World

SECRET = "sk-live-VERYSECRET-0123456789"

pytestmark = pytest.mark.django_db


def chart_of(html: str) -> str:
    start = html.index('<svg class="gw-chart-svg')
    return html[start : html.index("</svg>", start)]


def settings_of(world: World) -> tuple[list[str], str, str]:
    with tenant_context(world.tenant.pk):
        current = selectors.model_settings(tenant=world.tenant)
    return current.enabled_models, current.default_chat_model, current.default_embedding_model


# --- the catalog ------------------------------------------------------------------------------------


def test_the_models_page_shows_the_catalog_with_prices_and_flags(owner_client: Client) -> None:
    response = owner_client.get("/app/models/")
    assert response.status_code == 200
    html = response.content.decode()
    page = text_of(response)
    for name in (
        "GPT-4o mini",
        "Claude Haiku 4.5",
        "text-embedding-3-small",
        "Cited passages (no language model)",
    ):
        assert name in page
    assert "$0.15 / $0.60" in page  # GPT-4o mini per million tokens, in and out
    assert "1.05M" in page and "128K" in page and "400K" in page  # context windows, for people
    assert "Deprecated since 25 Jan 2024" in page  # text-embedding-ada-002, in amber
    assert 'class="gw-flag gw-flag-deprecated"' in html
    default_row = html[html.index('gw-model-name">Cited passages') :].split("</tr>", 1)[0]
    assert "gw-flag-default" in default_row and "Default" in default_row
    assert html.count('name="models"') == FoundationModel.objects.filter(in_catalog=True).count()
    # The section is real now: the navigation no longer says "Soon" for it.
    nav = html[html.index('aria-label="Main"') : html.index("gw-nav-heading")]
    models_link = nav[nav.index("/app/models/") : nav.index("/app/conversations/")]
    assert "Soon" not in models_link


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("kind=embedding", "text-embedding-3-small", "GPT-4o mini"),
        ("provider=anthropic", "Claude Sonnet 4.5", "GPT-5 nano"),
        ("capability=vision", "Claude Haiku 4.5", "Claude Haiku 3.5"),
    ],
)
def test_the_catalog_filters_work_without_javascript(
    owner_client: Client, query: str, present: str, absent: str
) -> None:
    response = owner_client.get(f"/app/models/?{query}")
    assert response.status_code == 200
    catalog = response.content.decode().split('id="catalog"', 1)[1].split('id="providers"', 1)[0]
    assert present in catalog and absent not in catalog
    assert "Clear" in catalog


def test_a_filter_that_matches_nothing_says_so(owner_client: Client) -> None:
    response = owner_client.get("/app/models/?capability=image_embedding")
    assert "No models match these filters" in text_of(response)


def test_a_retired_model_is_flagged_in_red_and_cannot_be_enabled(owner_client: Client) -> None:
    FoundationModel.objects.create(
        provider="openai",
        model_id="gpt-3.5-turbo",
        display_name="GPT-3.5 Turbo",
        kind="chat",
        context_window=16385,
        deprecated_on=timezone.localdate() - timedelta(days=400),
        retires_on=timezone.localdate() - timedelta(days=3),
        catalog_version="test",
    )
    html = owner_client.get("/app/models/").content.decode()
    row = html[html.index('gw-model-name">GPT-3.5 Turbo') :].split("</tr>", 1)[0]
    assert "gw-flag-retired" in row and "Retired" in row
    assert re.search(r'name="enabled_models" value="openai:gpt-3.5-turbo"[^>]*disabled', row)
    defaults = html[html.index('id="model-settings"') : html.index('id="catalog"')]
    assert "gpt-3.5-turbo" not in defaults  # not offered as a default either


# --- comparison -------------------------------------------------------------------------------------


def test_two_models_side_by_side_with_the_cost_of_a_typical_answer(owner_client: Client) -> None:
    response = owner_client.get(
        "/app/models/compare/?models=openai:gpt-4o-mini&models=anthropic:claude-haiku-4-5"
    )
    assert response.status_code == 200
    page = text_of(response)
    assert "GPT-4o mini" in page and "Claude Haiku 4.5" in page
    # 3,000 input + 400 output tokens: 0.00045 + 0.00024 on GPT-4o mini, 0.003 + 0.002 on Haiku 4.5.
    assert "$0.0007" in page and "$0.0050" in page
    assert "$0.69 per 1,000 answers" in page and "$5.00 per 1,000 answers" in page
    assert "Cheapest" in page
    assert "3,000 in + 400 out" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("models=openai:gpt-4o", "you chose 1"),
        ("", "you chose 0"),
        (
            "models=openai:gpt-5&models=openai:gpt-5-mini&models=openai:gpt-5-nano"
            "&models=openai:gpt-4o&models=openai:gpt-4o-mini",
            "you chose 5",
        ),
        ("models=openai:gpt-4o&models=openai:gpt-99", "No such model: “openai:gpt-99”"),
    ],
)
def test_comparing_fewer_than_two_or_more_than_four_is_a_clear_error(
    owner_client: Client, query: str, message: str
) -> None:
    response = owner_client.get(f"/app/models/compare/?{query}")
    assert response.status_code == 400
    page = text_of(response)
    assert message in page
    assert "Choose models" in page


def test_the_same_model_twice_counts_once(owner_client: Client) -> None:
    response = owner_client.get("/app/models/compare/?models=openai:gpt-4o&models=openai:gpt-4o")
    assert response.status_code == 400
    assert "you chose 1" in text_of(response)


# --- model settings ---------------------------------------------------------------------------------


def test_an_admin_enables_a_model_and_makes_it_the_default(world: World, owner_client: Client) -> None:
    response = owner_client.post(
        "/app/models/settings/",
        {
            "enabled_models": ["openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2"],
            "default_chat_model": "openai:gpt-4o-mini",
            "default_embedding_model": "local:all-MiniLM-L6-v2",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("#model-settings")
    assert settings_of(world) == (
        ["openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2"],
        "openai:gpt-4o-mini",
        "local:all-MiniLM-L6-v2",
    )
    page = owner_client.get("/app/models/").content.decode()
    assert re.search(r'value="openai:gpt-4o-mini"[^>]*checked', page)
    assert re.search(r'<option value="openai:gpt-4o-mini" selected', page)


def test_saving_with_a_filter_on_keeps_the_models_the_filter_hides(
    world: World, owner_client: Client
) -> None:
    services.model_settings_update(
        actor=world.actor(), enabled_models=["openai:gpt-4o", "anthropic:claude-haiku-4-5"]
    )
    page = owner_client.get("/app/models/?provider=anthropic").content.decode()
    hidden = re.findall(r'<input type="hidden" name="enabled_models" value="([^"]+)">', page)
    assert "openai:gpt-4o" in hidden and "anthropic:claude-haiku-4-5" not in hidden


def test_a_deprecated_default_is_saved_with_a_warning(world: World, owner_client: Client) -> None:
    response = owner_client.post(
        "/app/models/settings/",
        {"default_chat_model": "local:no-llm", "default_embedding_model": "openai:text-embedding-ada-002"},
        follow=True,
    )
    assert settings_of(world)[2] == "openai:text-embedding-ada-002"
    page = text_of(response)
    assert "Model settings saved." in page
    assert "text-embedding-ada-002 is deprecated by its provider (since 25 Jan 2024)" in page
    assert "text-embedding-ada-002 is deprecated since 25 Jan 2024. Consider a newer model." in page
    assert "data-deprecated=" in response.content.decode()  # app.js warns as soon as it is picked


@pytest.mark.parametrize(
    "data",
    [
        {"default_chat_model": "openai:gpt-99", "default_embedding_model": "local:all-MiniLM-L6-v2"},
        {"default_chat_model": "openai:text-embedding-3-small", "default_embedding_model": "local:no-llm"},
        {
            "enabled_models": ["nope:nothing"],
            "default_chat_model": "local:no-llm",
            "default_embedding_model": "local:all-MiniLM-L6-v2",
        },
        {},
    ],
)
def test_bad_model_settings_show_errors_and_change_nothing(
    world: World, owner_client: Client, data: dict[str, Any]
) -> None:
    before = (settings_of(world), provider_rows(world))
    response = owner_client.post("/app/models/settings/", data)
    assert response.status_code == 400
    assert response.context["settings_form"].errors
    assert 'class="gw-field-error' in response.content.decode()
    assert (settings_of(world), provider_rows(world)) == before


# --- credentials ------------------------------------------------------------------------------------


def test_an_admin_adds_replaces_and_deletes_a_provider_key(world: World, owner_client: Client) -> None:
    created = owner_client.post(
        "/app/models/providers/", {"provider": "anthropic", "name": "", "api_key": SECRET}, follow=True
    )
    assert created.status_code == 200
    with tenant_context(world.tenant.pk):
        credential = ProviderCredential.objects.get()
    assert credential.name == "Anthropic" and credential.masked_key == "••••6789"
    page = text_of(created)
    assert "Added Anthropic." in page and "••••6789" in page and "Not tested yet" in page

    replaced = owner_client.post(
        f"/app/models/providers/{credential.pk}/", {"api_key": "sk-ant-new-key-WXYZ"}
    )
    assert replaced.status_code == 302 and replaced["Location"].endswith("#providers")
    with tenant_context(world.tenant.pk):
        credential.refresh_from_db()
    assert services.credential_api_key(credential) == "sk-ant-new-key-WXYZ"

    empty = owner_client.post(f"/app/models/providers/{credential.pk}/", {"api_key": ""}, follow=True)
    assert "Paste the new key for Anthropic." in text_of(empty)

    deleted = owner_client.post(f"/app/models/providers/{credential.pk}/delete/", follow=True)
    assert "Deleted Anthropic" in text_of(deleted)
    with tenant_context(world.tenant.pk):
        assert not ProviderCredential.objects.exists()


def test_the_add_form_offers_a_base_url_for_compatible_servers_and_a_password_field_for_keys(
    owner_client: Client,
) -> None:
    html = owner_client.get("/app/models/").content.decode()
    form = html[html.index('action="/app/models/providers/#providers"') :].split("</form>", 1)[0]
    assert re.search(r'<input type="password" name="api_key"', form)
    assert 'data-show-for="provider" data-show-values="openai_compatible"' in form
    assert 'name="base_url"' in form


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"provider": "mistral", "api_key": SECRET}, "provider"),
        ({"provider": "openai", "api_key": ""}, "api_key"),
        (
            {"provider": "openai_compatible", "api_key": SECRET, "base_url": "ftp://llm.example.com"},
            "base_url",
        ),
        (
            {"provider": "openai_compatible", "api_key": SECRET, "base_url": "http://127.0.0.1:11434/v1"},
            "base_url",
        ),
    ],
)
def test_bad_credentials_in_the_form_show_errors_write_nothing_and_never_echo_the_key(
    world: World, owner_client: Client, data: dict[str, str], field: str
) -> None:
    before = provider_rows(world)
    response = owner_client.post("/app/models/providers/", data)
    assert response.status_code == 400
    assert field in response.context["credential_form"].errors
    assert_secret_absent(response.content.decode(), SECRET, "the re-rendered form")
    assert provider_rows(world) == before
    assert '<details class="gw-add" open>' in response.content.decode()  # the form stays open


def test_testing_a_connection_of_a_missing_credential_is_404(owner_client: Client) -> None:
    assert owner_client.post(f"/app/models/providers/{uuid.uuid4()}/test/").status_code == 404


# --- own models -------------------------------------------------------------------------------------


def test_an_admin_adds_and_removes_a_model_on_an_own_server(world: World, owner_client: Client) -> None:
    assert "First add an OpenAI-compatible server" in text_of(owner_client.get("/app/models/"))
    credential = endpoint_credential(world)
    response = owner_client.post(
        "/app/models/own/",
        {
            "credential": str(credential.pk),
            "model_name": "qwen2.5:14b",
            "display_name": "Qwen 2.5",
            "kind": "chat",
            "context_window": "32768",
            "input_price_per_million": "",
            "output_price_per_million": "",
        },
        follow=True,
    )
    assert "Added Qwen 2.5." in text_of(response)
    with tenant_context(world.tenant.pk):
        model = CustomModel.objects.get()
    assert (model.model_name, model.input_price_per_million) == ("qwen2.5:14b", Decimal(0))
    catalog = owner_client.get("/app/models/?provider=custom").content.decode()
    assert f"custom:{model.pk}" in catalog and "Own server" in catalog

    invalid = owner_client.post(
        "/app/models/own/",
        {"credential": str(credential.pk), "model_name": "e5", "kind": "embedding", "context_window": "512"},
    )
    assert invalid.status_code == 400
    assert "embedding_dimensions" in invalid.context["custom_model_form"].errors

    removed = owner_client.post(f"/app/models/own/{model.pk}/delete/", follow=True)
    assert "Removed Qwen 2.5." in text_of(removed)
    with tenant_context(world.tenant.pk):
        assert not CustomModel.objects.exists()


# --- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_viewers_and_editors_see_everything_read_only(world: World, role: Role) -> None:
    credential = services.credential_create(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET
    )
    model = own_model(world, endpoint_credential(world))
    client = member_client(world, role)
    response = client.get("/app/models/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "GPT-4o mini" in html and "••••6789" in html and "Llama (llama3.1:8b)" in html
    assert "Only admins can change the models your bots use." in html
    for control in (
        'id="model-settings-form"',
        'name="enabled_models"',
        "Add a provider",
        "Add a model",
        "Test connection",
        "Replace key",
        f"/app/models/providers/{credential.pk}/delete/",
        f"/app/models/own/{model.pk}/delete/",
    ):
        assert control not in html, control
    assert 'name="models"' in html  # comparing is reading: everyone may
    assert client.get("/app/models/compare/?models=openai:gpt-4o&models=openai:gpt-5").status_code == 200

    before = provider_rows(world)
    writes = [
        client.post("/app/models/settings/", {"default_chat_model": "openai:gpt-4o"}),
        client.post("/app/models/providers/", {"provider": "anthropic", "api_key": "sk-ant-x-12345678"}),
        client.post(f"/app/models/providers/{credential.pk}/", {"api_key": "sk-other-12345678"}),
        client.post(f"/app/models/providers/{credential.pk}/test/"),
        client.post(f"/app/models/providers/{credential.pk}/delete/"),
        client.post("/app/models/own/", {"credential": str(credential.pk), "model_name": "m"}),
        client.post(f"/app/models/own/{model.pk}/delete/"),
    ]
    assert [response.status_code for response in writes] == [403] * 7
    assert provider_rows(world) == before


# --- usage ------------------------------------------------------------------------------------------


def test_usage_before_any_call_is_an_empty_state(owner_client: Client) -> None:
    response = owner_client.get("/app/usage/")
    assert response.status_code == 200
    assert "Usage appears here once your bots answer questions" in text_of(response)
    assert "gw-chart-svg" not in response.content.decode()


def test_usage_by_day_has_totals_an_accessible_chart_and_the_same_numbers_in_the_table(
    world: World, owner_client: Client
) -> None:
    record_usage(world, "openai:gpt-4o-mini", "0.75", tokens=(3000, 400))
    record_usage(world, "openai:gpt-4o-mini", "0.25", days_ago=3, tokens=(1200, 300))
    record_usage(world, "anthropic:claude-haiku-4-5", "1.50", days_ago=3, tokens=(2000, 500))
    response = owner_client.get("/app/usage/")
    assert response.status_code == 200
    html = response.content.decode()
    page = text_of(response)
    assert "6,200" in page and "1,200" in page and "$2.5000" in page  # input, output, cost totals
    svg = chart_of(html)
    assert 'role="img"' in svg and '<title id="usage-chart-title-wide">Cost per day' in svg
    assert "<desc" in svg and "in total $2.5000" in svg
    assert svg.count('class="gw-chart-bar"') == 30  # one column per day of the default range
    narrow = chart_of(html[html.index("gw-chart-narrow") :])  # the phone's drawing: the same bars
    assert narrow.count('class="gw-chart-bar"') == 30 and 'viewBox="0 0 360' in narrow
    three_days_ago = timezone.localdate() - timedelta(days=3)
    assert f"{three_days_ago.day} {three_days_ago:%b}: $1.7500, 2 calls" in svg
    assert re.findall(r'class="gw-chart-tick"[^>]*>([^<]+)<', svg)[:5] == [
        "$0.00",
        "$0.50",
        "$1.00",
        "$1.50",
        "$2.00",
    ]  # round steps: 1.75 fits under 4 steps of 0.50
    table = html[html.index('id="table-heading"') :]
    assert "$1.7500" in table and "$0.7500" in table and "3,200" in table
    assert table.count("<time datetime=") == 2  # the days with calls; the chart shows the gaps
    assert " style=" not in html and "<script>" not in html  # ready for a strict CSP


def test_usage_by_model_and_by_bot(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge").pk
    record_usage(world, "openai:gpt-4o-mini", "0.10", bot_id=bot)
    record_usage(world, "openai:gpt-4o-mini", "0.05", bot_id=uuid.uuid4())  # a bot deleted since
    record_usage(world, "anthropic:claude-haiku-4-5", "0.40")
    by_model = owner_client.get("/app/usage/?group_by=model")
    svg = chart_of(by_model.content.decode())
    assert svg.index("Claude Haiku 4.5") < svg.index("GPT-4o mini")  # most expensive first
    assert "Cost per model" in svg
    by_bot = text_of(owner_client.get("/app/usage/?group_by=bot&chart=tokens"))
    # Bots by name, never by an id; the calls no bot made are explained.
    assert "Concierge" in by_bot and "A deleted bot" in by_bot and "Tokens per bot" in by_bot
    assert "Not from a bot" in by_bot and "embedding your knowledge" in by_bot
    assert str(bot) not in by_bot and str(bot)[:8] not in by_bot


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-03-10&end=2026-03-01", "The start date is after the end date."),
        ("start=2020-01-01&end=2026-01-01", "Choose a range of at most 366 days."),
        ("start=not-a-date", "Enter a valid date."),
    ],
)
def test_a_bad_usage_range_is_explained(world: World, owner_client: Client, query: str, message: str) -> None:
    record_usage(world, "openai:gpt-4o-mini", "0.10")
    response = owner_client.get(f"/app/usage/?{query}")
    assert response.status_code == 400
    assert message in text_of(response)


# --- isolation and secrets ----------------------------------------------------------------------------


def test_another_tenants_providers_models_and_usage_never_show(
    world: World, other_world: World, owner_client: Client
) -> None:
    services.credential_create(
        actor=other_world.actor(), provider="openai", name="Globex key", api_key=SECRET
    )
    theirs = own_model(
        other_world, endpoint_credential(other_world, name="Globex GPU box"), name="globex-llm"
    )
    services.model_settings_update(actor=other_world.actor(), default_chat_model=theirs.ref)
    record_usage(other_world, theirs.ref, "9.99")
    record_usage(world, "openai:gpt-4o-mini", "0.01")
    for path in (
        "/app/models/",
        "/app/models/?provider=custom",
        "/app/usage/",
        "/app/usage/?group_by=model",
        "/app/usage/?group_by=bot",
    ):
        html = owner_client.get(path).content.decode()
        for foreign in ("Globex", "globex-llm", str(theirs.pk), "9.99"):
            assert foreign not in html, f"{path} shows {foreign}"
        assert_secret_absent(html, SECRET, path)
    assert (
        owner_client.get(f"/app/models/compare/?models={theirs.ref}&models=openai:gpt-4o").status_code == 400
    )
    assert owner_client.post(f"/app/models/own/{theirs.pk}/delete/").status_code == 404
    with tenant_context(other_world.tenant.pk):
        assert CustomModel.objects.filter(pk=theirs.pk).exists()


def test_a_key_typed_into_the_dashboard_never_comes_back(
    world: World, owner_client: Client, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    pages = {
        "created": owner_client.post(
            "/app/models/providers/", {"provider": "openai", "name": "OpenAI", "api_key": SECRET}, follow=True
        ),
        "failed": owner_client.post(
            "/app/models/providers/",
            {"provider": "openai_compatible", "name": "Box", "api_key": SECRET, "base_url": "javascript:x"},
        ),
        "endpoint": owner_client.post(
            "/app/models/providers/",
            {"provider": "openai_compatible", "name": "Box", "api_key": SECRET, "base_url": LOCAL_ENDPOINT},
            follow=True,
        ),
    }
    with tenant_context(world.tenant.pk):
        credential = ProviderCredential.objects.get(provider="openai")
    pages["replaced"] = owner_client.post(
        f"/app/models/providers/{credential.pk}/", {"api_key": SECRET, "base_url": "x"}, follow=True
    )
    for path in (
        "/app/models/",
        "/app/models/?provider=openai",
        "/app/models/compare/?models=openai:gpt-4o&models=openai:gpt-4o-mini",
        "/app/usage/",
        "/app/settings/audit-log/",
        "/app/",
    ):
        pages[path] = owner_client.get(path)
    assert {
        name: response.status_code for name, response in pages.items() if response.status_code != 200
    } == {"failed": 400}
    for name, response in pages.items():
        assert_secret_absent(response.content.decode(), SECRET, name)
    assert "••••6789" in pages["/app/models/"].content.decode()
    assert_secret_absent(caplog.text, SECRET, "the logs")
    with tenant_context(world.tenant.pk):
        assert AuditEvent.objects.filter(action="provider_credential.created").count() == 2
        stored = list(ProviderCredential.objects.values_list("encrypted_api_key", flat=True))
    for encrypted in stored:
        assert_secret_absent(encrypted, SECRET, "the encrypted column")
