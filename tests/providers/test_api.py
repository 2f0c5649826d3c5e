"""The models REST API: the catalog and its filters, model settings, provider credentials (keys are
write-only), the tenant's own models and usage aggregates; roles, bad input, tenant isolation and
secrets that never come back out."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from providers import crypto, services
from providers.models import FoundationModel, ProviderCredential
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot
from tests.clients import api_client, assert_problem
from tests.providers.factories import LOCAL_ENDPOINT, endpoint_credential, own_model, record_usage
from tests.providers.helpers import assert_secret_absent, provider_rows
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

SECRET = "sk-live-VERYSECRET-0123456789"


# --- foundation models --------------------------------------------------------------------------------


def test_the_catalog_lists_every_model_with_prices_flags_and_the_tenants_choices(viewer: Client) -> None:
    response = viewer.get("/api/v1/foundation-models")
    assert response.status_code == 200
    rows = {row["ref"]: row for row in response.json()}
    assert {"openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "local:no-llm"} <= set(rows)
    mini = rows["openai:gpt-4o-mini"]
    assert (mini["input_price_per_million"], mini["output_price_per_million"]) == ("0.1500", "0.6000")
    assert mini["context_window"] == 128000 and mini["supports_vision"] is True
    assert (mini["is_enabled"], mini["is_default"], mini["is_deprecated"]) == (False, False, False)
    ada = rows["openai:text-embedding-ada-002"]
    assert ada["is_deprecated"] is True and ada["deprecated_on"] == "2024-01-25"
    assert ada["is_retired"] is False and ada["retires_on"] is None
    # A tenant that never chose gets the built-in models, enabled and default.
    assert rows["local:no-llm"]["is_default"] and rows["local:all-MiniLM-L6-v2"]["is_enabled"]


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("kind=embedding", lambda row: row["kind"] == "embedding"),
        ("kind=chat", lambda row: row["kind"] == "chat"),
        ("provider=anthropic", lambda row: row["provider"] == "anthropic"),
        ("provider=local", lambda row: row["provider"] == "local"),
        ("capability=vision", lambda row: row["supports_vision"]),
        ("kind=chat&provider=openai&capability=vision", lambda row: row["ref"].startswith("openai:")),
    ],
)
def test_catalog_filters(viewer: Client, query: str, check: Any) -> None:
    everything = viewer.get("/api/v1/foundation-models").json()
    rows = viewer.get(f"/api/v1/foundation-models?{query}").json()
    assert rows and all(check(row) for row in rows)
    assert len(rows) < len(everything)


def test_the_tenants_own_models_are_in_the_catalog_as_custom(world: World, viewer: Client) -> None:
    model = own_model(world, endpoint_credential(world))
    rows = viewer.get("/api/v1/foundation-models?provider=custom").json()
    assert [row["ref"] for row in rows] == [f"custom:{model.pk}"]
    assert rows[0]["provider_label"] == "Ollama (OpenAI-compatible)"
    assert viewer.get("/api/v1/foundation-models?capability=image_embedding").json() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("kind=audio", "kind"), ("provider=mistral", "provider"), ("capability=telepathy", "capability")],
)
def test_unknown_catalog_filters_are_400_by_name(viewer: Client, query: str, field: str) -> None:
    body = assert_problem(viewer.get(f"/api/v1/foundation-models?{query}"), 400)
    assert set(body["errors"]) == {field}


def test_a_misspelt_filter_is_refused_not_ignored(viewer: Client) -> None:
    body = assert_problem(viewer.get("/api/v1/foundation-models?capabilty=vision"), 400)
    assert body["errors"] == {"capabilty": ["Unknown field."]}


# --- model settings ---------------------------------------------------------------------------------


def test_an_admin_sets_the_monthly_budget_and_sees_the_months_spend(
    world: World, admin: Client, viewer: Client
) -> None:
    record_usage(world, "openai:gpt-4o-mini", "1.25")
    record_usage(world, "openai:gpt-4o-mini", "9.00", days_ago=40)  # last month or before: not counted

    # A new organisation starts with the operator's default budget in force.
    assert admin.get("/api/v1/model-settings").json()["monthly_budget_usd"] == "50.00"

    response = admin.patch(
        "/api/v1/model-settings", {"monthly_budget_usd": "80.00"}, content_type="application/json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["monthly_budget_usd"], Decimal(body["spent_this_month_usd"])) == ("80.00", Decimal("1.25"))
    assert body["default_chat_model"] == "local:no-llm"  # nothing else changed
    with tenant_context(world.tenant.pk):
        event = AuditEvent.objects.get(action="model_settings.budget_updated")
    assert event.changes == {"monthly_budget_usd": {"from": "50.00", "to": "80.00"}}
    assert (
        admin.patch(
            "/api/v1/model-settings", {"monthly_budget_usd": None}, content_type="application/json"
        ).json()["monthly_budget_usd"]
        is None
    )
    problem = assert_problem(
        admin.patch("/api/v1/model-settings", {"monthly_budget_usd": "-1"}, content_type="application/json"),
        400,
    )
    assert "monthly_budget_usd" in problem["errors"]
    assert_problem(
        viewer.patch("/api/v1/model-settings", {"monthly_budget_usd": "5"}, content_type="application/json"),
        403,
    )


def test_an_admin_enables_models_and_chooses_defaults(world: World, admin: Client) -> None:
    response = admin.patch(
        "/api/v1/model-settings",
        {"enabled_models": ["openai:gpt-4o-mini"], "default_chat_model": "anthropic:claude-haiku-4-5"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    # The defaults are always enabled, even when the list leaves them out.
    assert body["enabled_models"] == [
        "openai:gpt-4o-mini",
        "anthropic:claude-haiku-4-5",
        "local:all-MiniLM-L6-v2",
    ]
    assert body["default_chat_model"] == "anthropic:claude-haiku-4-5"
    assert body["warnings"] == []
    assert admin.get("/api/v1/model-settings").json() == body
    rows = {row["ref"]: row for row in admin.get("/api/v1/foundation-models").json()}
    assert rows["anthropic:claude-haiku-4-5"]["is_default"] and rows["openai:gpt-4o-mini"]["is_enabled"]
    assert not rows["local:no-llm"]["is_enabled"]


def test_choosing_a_deprecated_model_answers_with_a_warning(admin: Client) -> None:
    response = admin.patch(
        "/api/v1/model-settings",
        {"default_embedding_model": "openai:text-embedding-ada-002"},
        content_type="application/json",
    )
    assert response.status_code == 200
    (warning,) = response.json()["warnings"]
    assert "text-embedding-ada-002 is deprecated" in warning and "25 Jan 2024" in warning


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled_models": ["openai:gpt-99"]}, "enabled_models"),
        ({"default_chat_model": "openai:text-embedding-3-small"}, "default_chat_model"),
        ({"default_embedding_model": "custom:not-a-uuid"}, "default_embedding_model"),
        ({"enabled_models": "openai:gpt-4o"}, "enabled_models"),
        ({"default_model": "openai:gpt-4o"}, "default_model"),
    ],
)
def test_unknown_or_unsuitable_models_are_400_and_nothing_changes(
    world: World, admin: Client, body: dict[str, Any], field: str
) -> None:
    before = provider_rows(world)
    problem = assert_problem(
        admin.patch("/api/v1/model-settings", body, content_type="application/json"), 400
    )
    assert field in problem["errors"]
    assert provider_rows(world) == before


def test_a_retired_model_cannot_be_chosen(world: World, admin: Client) -> None:
    FoundationModel.objects.create(
        provider="openai",
        model_id="gpt-3.5-turbo",
        display_name="GPT-3.5 Turbo",
        kind="chat",
        context_window=16385,
        deprecated_on=timezone.localdate() - timedelta(days=400),
        retires_on=timezone.localdate() - timedelta(days=10),
        catalog_version="test",
    )
    row = next(r for r in admin.get("/api/v1/foundation-models").json() if r["ref"] == "openai:gpt-3.5-turbo")
    assert row["is_retired"] is True and row["retires_on"] is not None
    problem = assert_problem(
        admin.patch(
            "/api/v1/model-settings",
            {"default_chat_model": "openai:gpt-3.5-turbo"},
            content_type="application/json",
        ),
        400,
    )
    assert "retired" in problem["errors"]["default_chat_model"][0]


# --- credentials --------------------------------------------------------------------------------------


def test_a_credential_is_created_read_renamed_rekeyed_and_deleted(world: World, admin: Client) -> None:
    created = admin.post(
        "/api/v1/provider-credentials",
        {"provider": "openai", "name": "Production", "api_key": SECRET},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["masked_key"] == "••••6789" and body["has_key"] is True
    assert "api_key" not in body and body["last_tested_at"] is None
    credential_id = body["id"]

    listing = admin.get("/api/v1/provider-credentials").json()
    assert [item["id"] for item in listing["results"]] == [credential_id]
    assert "next" in listing  # cursor-paginated like every list

    renamed = admin.patch(
        f"/api/v1/provider-credentials/{credential_id}",
        {"name": "OpenAI (prod)", "api_key": "sk-rotated-key-ABCD"},
        content_type="application/json",
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["masked_key"]) == ("OpenAI (prod)", "••••ABCD")
    with tenant_context(world.tenant.pk):
        stored = ProviderCredential.objects.get(pk=credential_id)
    assert services.credential_api_key(stored) == "sk-rotated-key-ABCD"

    assert admin.delete(f"/api/v1/provider-credentials/{credential_id}").status_code == 204
    assert_problem(admin.get(f"/api/v1/provider-credentials/{credential_id}"), 404)
    with tenant_context(world.tenant.pk):
        actions = list(AuditEvent.objects.filter(target_id=credential_id).values_list("action", flat=True))
    assert sorted(actions) == [
        "provider_credential.created",
        "provider_credential.deleted",
        "provider_credential.updated",
    ]


def test_an_openai_compatible_server_needs_a_public_base_url_and_no_key(
    world: World, admin: Client, allow_private_endpoints: None
) -> None:
    created = admin.post(
        "/api/v1/provider-credentials",
        {"provider": "openai_compatible", "name": "Ollama", "base_url": LOCAL_ENDPOINT + "/"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["base_url"] == LOCAL_ENDPOINT
    assert (created.json()["masked_key"], created.json()["has_key"]) == ("", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "mistral", "api_key": SECRET}, "provider"),
        ({"provider": "local"}, "provider"),
        ({"provider": "openai"}, "api_key"),
        ({"provider": "anthropic", "api_key": "   "}, "api_key"),
        ({"provider": "openai_compatible", "base_url": "ftp://llm.example.com/v1"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": "file:///etc/passwd"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": "http://127.0.0.1:11434/v1"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": "http://169.254.169.254/latest"}, "base_url"),
        ({"provider": "openai_compatible", "base_url": ""}, "base_url"),
        ({"provider": "openai", "api_key": SECRET, "organisation": "x"}, "organisation"),
        ({"provider": "openai", "api_key": "x" * 501}, "api_key"),
    ],
)
def test_bad_credentials_are_400_problems_and_write_nothing(
    world: World, admin: Client, body: dict[str, Any], field: str
) -> None:
    before = provider_rows(world)
    problem = assert_problem(
        admin.post("/api/v1/provider-credentials", body, content_type="application/json"), 400
    )
    assert field in problem["errors"], problem
    assert provider_rows(world) == before
    assert_secret_absent(str(problem), SECRET, "the error")


def test_a_second_openai_key_is_a_conflict(world: World, admin: Client) -> None:
    services.credential_create(actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET)
    problem = assert_problem(
        admin.post(
            "/api/v1/provider-credentials",
            {"provider": "openai", "name": "Another", "api_key": "sk-another-key-1234"},
            content_type="application/json",
        ),
        409,
    )
    assert "replace it" in problem["detail"]


def test_replacing_a_key_with_nothing_is_refused_for_openai(world: World, admin: Client) -> None:
    credential = services.credential_create(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET
    )
    problem = assert_problem(
        admin.patch(
            f"/api/v1/provider-credentials/{credential.pk}", {"api_key": ""}, content_type="application/json"
        ),
        400,
    )
    assert "api_key" in problem["errors"]
    with tenant_context(world.tenant.pk):
        assert services.credential_api_key(ProviderCredential.objects.get()) == SECRET


# --- the tenant's own models --------------------------------------------------------------------------


def test_own_models_are_created_listed_and_deleted(world: World, admin: Client) -> None:
    credential = endpoint_credential(world)
    created = admin.post(
        "/api/v1/custom-models",
        {
            "credential": str(credential.pk),
            "model_name": "nomic-embed-text",
            "kind": "embedding",
            "context_window": 8192,
            "embedding_dimensions": 768,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["ref"] == f"custom:{body['id']}" and body["display_name"] == "nomic-embed-text"
    assert body["credential_name"] == "Ollama" and body["input_price_per_million"] == "0.0000"
    assert [row["id"] for row in admin.get("/api/v1/custom-models").json()["results"]] == [body["id"]]
    assert admin.delete(f"/api/v1/custom-models/{body['id']}").status_code == 204
    assert admin.get("/api/v1/custom-models").json()["results"] == []


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"kind": "embedding"}, 400, "embedding_dimensions"),
        ({"context_window": 0}, 400, "context_window"),
        ({"input_price_per_million": "-1"}, 400, "input_price_per_million"),
        ({"kind": "speech"}, 400, "kind"),
        ({"credential": "openai"}, 400, "credential"),
        ({"credential": str(uuid.uuid4())}, 404, None),
    ],
)
def test_bad_own_models_are_refused(
    world: World, admin: Client, changes: dict[str, Any], status: int, field: str | None
) -> None:
    endpoint = endpoint_credential(world)
    keyed = services.credential_create(actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET)
    body = {"credential": str(endpoint.pk), "model_name": "m", "kind": "chat", "context_window": 4096}
    body.update(changes)
    if body["credential"] == "openai":
        body["credential"] = str(keyed.pk)  # a model must live on an OpenAI-compatible server
    before = provider_rows(world)
    problem = assert_problem(
        admin.post("/api/v1/custom-models", body, content_type="application/json"), status
    )
    if field:
        assert field in problem["errors"]
    assert provider_rows(world) == before


# --- usage ------------------------------------------------------------------------------------------


def test_usage_defaults_to_the_last_30_days_by_day(world: World, viewer: Client) -> None:
    record_usage(world, "openai:gpt-4o-mini", "0.00069")
    record_usage(world, "openai:gpt-4o-mini", "0.00031", days_ago=2)
    record_usage(world, "anthropic:claude-haiku-4-5", "0.005", days_ago=29)
    record_usage(world, "anthropic:claude-haiku-4-5", "1.00", days_ago=30)  # outside the default range

    body = viewer.get("/api/v1/usage").json()
    today = timezone.localdate()
    assert (body["group_by"], body["start"], body["end"]) == (
        "day",
        (today - timedelta(days=29)).isoformat(),
        today.isoformat(),
    )
    assert len(body["rows"]) == 30  # every day, zeros included: a ready time series
    assert body["rows"][-1] == {
        "key": today.isoformat(),
        "label": today.isoformat(),
        "calls": 1,
        "input_tokens": 1000,
        "output_tokens": 100,
        "cost_usd": "0.00069000",
    }
    assert body["rows"][0]["cost_usd"] == "0.00500000"
    assert body["totals"] == {
        "calls": 3,
        "input_tokens": 3000,
        "output_tokens": 300,
        "cost_usd": "0.00600000",
    }


def test_usage_by_model_and_by_bot_over_a_chosen_range(world: World, viewer: Client) -> None:
    bot = make_bot(world, "Concierge").pk
    record_usage(world, "openai:gpt-4o-mini", "0.01", days_ago=5, bot_id=bot)
    record_usage(world, "openai:gpt-4o-mini", "0.02", days_ago=6, bot_id=bot)
    record_usage(world, "anthropic:claude-haiku-4-5", "0.50", days_ago=5)
    today = timezone.localdate()
    window = f"start={(today - timedelta(days=6)).isoformat()}&end={(today - timedelta(days=5)).isoformat()}"

    by_model = viewer.get(f"/api/v1/usage?group_by=model&{window}").json()
    assert [(row["key"], row["label"], row["calls"], row["cost_usd"]) for row in by_model["rows"]] == [
        ("anthropic:claude-haiku-4-5", "Claude Haiku 4.5", 1, "0.50000000"),
        ("openai:gpt-4o-mini", "GPT-4o mini", 2, "0.03000000"),
    ]
    by_bot = viewer.get(f"/api/v1/usage?group_by=bot&{window}").json()
    assert [(row["key"], row["label"], row["calls"]) for row in by_bot["rows"]] == [
        ("", "Not from a bot", 1),
        (str(bot), "Concierge", 2),
    ]
    assert by_bot["totals"]["cost_usd"] == "0.53000000"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-03-10&end=2026-03-01", "start"),
        ("start=2024-01-01&end=2026-01-01", "end"),
        ("start=yesterday", "start"),
        ("end=2026-02-30", "end"),
        ("group_by=week", "group_by"),
        ("from=2026-01-01", "from"),
    ],
)
def test_bad_usage_ranges_are_400_by_name(viewer: Client, query: str, field: str) -> None:
    body = assert_problem(viewer.get(f"/api/v1/usage?{query}"), 400)
    assert field in body["errors"], body


def test_a_range_of_366_days_is_allowed(viewer: Client) -> None:
    response = viewer.get("/api/v1/usage?start=2024-01-01&end=2024-12-31")  # a leap year
    assert response.status_code == 200
    assert len(response.json()["rows"]) == 366


# --- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", False), ("admin", True)])
def test_only_admins_manage_credentials_models_and_settings(
    world: World, role: str, allowed: bool, allow_private_endpoints: None
) -> None:
    client = api_client(world.api_key(role=Role(role), name=role)[1])
    credential = services.credential_create(
        actor=world.actor(), provider="anthropic", name="Claude", api_key=SECRET
    )
    endpoint = endpoint_credential(world)
    model = own_model(world, endpoint)
    for path in ("/api/v1/provider-credentials", "/api/v1/custom-models", "/api/v1/model-settings"):
        assert client.get(path).status_code == 200  # everyone reads
    assert client.get(f"/api/v1/provider-credentials/{credential.pk}").status_code == 200

    writes = [
        client.post(
            "/api/v1/provider-credentials",
            {"provider": "openai", "api_key": "sk-new-key-5678"},
            content_type="application/json",
        ),
        client.patch(
            f"/api/v1/provider-credentials/{credential.pk}", {"name": "C"}, content_type="application/json"
        ),
        client.patch(
            "/api/v1/model-settings", {"enabled_models": ["openai:gpt-4o"]}, content_type="application/json"
        ),
        client.post(
            "/api/v1/custom-models",
            {"credential": str(endpoint.pk), "model_name": "qwen", "kind": "chat", "context_window": 4096},
            content_type="application/json",
        ),
        client.delete(f"/api/v1/custom-models/{model.pk}"),
        client.delete(f"/api/v1/provider-credentials/{credential.pk}"),
    ]
    expected = [201, 200, 200, 201, 204, 204] if allowed else [403] * 6
    assert [response.status_code for response in writes] == expected


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_testing_a_connection_needs_an_admin(world: World, role: str) -> None:
    credential = services.credential_create(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET
    )
    client = api_client(world.api_key(role=Role(role), name=role)[1])
    assert_problem(client.post(f"/api/v1/provider-credentials/{credential.pk}/test"), 403)
    with tenant_context(world.tenant.pk):
        assert ProviderCredential.objects.get().last_tested_at is None


# --- isolation ----------------------------------------------------------------------------------------


def test_another_tenants_credentials_models_settings_and_usage_are_invisible(
    world: World, other_world: World, admin: Client
) -> None:
    services.credential_create(
        actor=other_world.actor(), provider="openai", name="Globex key", api_key=SECRET
    )
    theirs = own_model(
        other_world, endpoint_credential(other_world, name="Globex GPU box"), name="globex-llm"
    )
    services.model_settings_update(
        actor=other_world.actor(), enabled_models=[theirs.ref], default_chat_model=theirs.ref
    )
    record_usage(other_world, theirs.ref, "9.99", bot_id=uuid.uuid4())
    record_usage(world, "openai:gpt-4o-mini", "0.01")

    bodies = {
        path: admin.get(path).content.decode()
        for path in (
            "/api/v1/provider-credentials",
            "/api/v1/custom-models",
            "/api/v1/foundation-models",
            "/api/v1/foundation-models?provider=custom",
            "/api/v1/model-settings",
            "/api/v1/usage",
            "/api/v1/usage?group_by=model",
            "/api/v1/usage?group_by=bot",
        )
    }
    for path, body in bodies.items():
        for foreign in ("Globex", "globex-llm", str(theirs.pk), "9.99"):
            assert foreign not in body, f"{path} shows {foreign}"
        assert_secret_absent(body, SECRET, path)
    assert admin.get("/api/v1/usage").json()["totals"]["calls"] == 1
    assert_problem(admin.get(f"/api/v1/custom-models/{theirs.pk}"), 404)


# --- secrets ----------------------------------------------------------------------------------------


def test_a_key_never_leaves_the_server_through_the_api_the_logs_or_the_database(
    world: World, admin: Client, owner_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = admin.post(
        "/api/v1/provider-credentials",
        {"provider": "openai", "name": "OpenAI", "api_key": SECRET},
        content_type="application/json",
    )
    assert created.status_code == 201
    credential_id = created.json()["id"]
    responses = {"create": created}
    responses["failed create"] = admin.post(
        "/api/v1/provider-credentials",
        {"provider": "openai_compatible", "api_key": SECRET, "base_url": "gopher://x"},
        content_type="application/json",
    )
    responses["failed update"] = admin.patch(
        f"/api/v1/provider-credentials/{credential_id}",
        {"api_key": SECRET, "colour": "red"},
        content_type="application/json",
    )
    responses["oversized key"] = admin.patch(
        f"/api/v1/provider-credentials/{credential_id}",
        {"api_key": SECRET * 20},
        content_type="application/json",
    )
    responses["update"] = admin.patch(
        f"/api/v1/provider-credentials/{credential_id}",
        {"name": "OpenAI production", "api_key": SECRET},
        content_type="application/json",
    )
    assert [responses[name].status_code for name in responses] == [201, 400, 400, 400, 200]
    for path in (
        "/api/v1/provider-credentials",
        f"/api/v1/provider-credentials/{credential_id}",
        "/api/v1/foundation-models",
        "/api/v1/model-settings",
        "/api/v1/custom-models",
        "/api/v1/usage",
        "/api/v1/audit-events",
    ):
        responses[path] = admin.get(path)
        assert responses[path].status_code == 200, path
    responses["schema"] = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    for page in ("/app/models/", "/app/usage/", "/app/settings/audit-log/", "/app/"):
        responses[page] = owner_client.get(page)
        assert responses[page].status_code == 200, page

    for name, response in responses.items():
        assert_secret_absent(response.content.decode(), SECRET, name)
    assert "••••6789" in responses[f"/api/v1/provider-credentials/{credential_id}"].content.decode()
    assert_secret_absent(caplog.text, SECRET, "the logs")
    for record in caplog.records:
        assert_secret_absent(repr(record.args) + str(record.msg), SECRET, "a log record")

    with tenant_context(world.tenant.pk), connection.cursor() as cursor:
        cursor.execute(
            "SELECT encrypted_api_key FROM providers_providercredential WHERE id = %s", [credential_id]
        )
        (encrypted,) = cursor.fetchone()
        rows_with_plaintext = []
        for table in ("providers_providercredential", "tenants_auditevent"):
            cursor.execute(  # whole rows as text: no column anywhere may hold the key
                f"SELECT count(*) FROM {table} WHERE row_to_json({table})::text LIKE %s",  # noqa: S608
                [f"%{SECRET[:-4]}%"],
            )
            rows_with_plaintext.append(cursor.fetchone()[0])
    assert_secret_absent(encrypted, SECRET, "the raw column")
    assert rows_with_plaintext == [0, 0]
    assert crypto.decrypt(encrypted) == SECRET  # it is the key, encrypted, not something else


# --- schema -------------------------------------------------------------------------------------------


def test_the_schema_documents_the_models_endpoints() -> None:
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {
        "/api/v1/foundation-models",
        "/api/v1/model-settings",
        "/api/v1/provider-credentials",
        "/api/v1/provider-credentials/{id}",
        "/api/v1/provider-credentials/{id}/test",
        "/api/v1/custom-models",
        "/api/v1/custom-models/{id}",
        "/api/v1/usage",
    } <= set(paths)
    filters = {parameter["name"] for parameter in paths["/api/v1/foundation-models"]["get"]["parameters"]}
    assert filters == {"kind", "provider", "capability"}
    usage_parameters = {parameter["name"] for parameter in paths["/api/v1/usage"]["get"]["parameters"]}
    assert usage_parameters == {"group_by", "start", "end"}
    components = schema["components"]["schemas"]
    assert "api_key" not in components["CredentialOutput"]["properties"]  # write-only
    # Each write documents its own body (no two inputs merged under one component name).
    bodies = {
        ("/api/v1/provider-credentials", "post"): {"provider", "name", "api_key", "base_url"},
        ("/api/v1/provider-credentials/{id}", "patch"): {"name", "api_key", "base_url"},
        ("/api/v1/custom-models", "post"): {"credential", "model_name", "kind", "context_window"},
        ("/api/v1/model-settings", "patch"): {"enabled_models", "default_chat_model"},
        ("/api/v1/tenant", "patch"): {"name"},
        ("/api/v1/api-keys", "post"): {"name", "role"},
    }
    for (path, method), fields in bodies.items():
        reference = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        properties = set(components[reference.rsplit("/", 1)[1]]["properties"])
        assert fields <= properties, (path, method, properties)
