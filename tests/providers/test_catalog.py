"""The model catalog: versioned data in the repository, synced idempotently, tenants' choices untouched."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from core.errors import ValidationFailed
from providers import selectors, services
from providers.models import FoundationModel, ModelKind, Provider
from tenants.context import tenant_context
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

REQUIRED = {"provider", "model_id", "display_name", "kind", "context_window"}


def test_the_catalog_file_is_complete_and_consistent() -> None:
    data = tomllib.loads(services.CATALOG_PATH.read_text())
    assert data["version"]
    refs = set()
    for entry in data["models"]:
        assert set(entry) >= REQUIRED, entry
        assert entry["provider"] in Provider.values and entry["kind"] in ModelKind.values
        if entry["kind"] == "embedding":
            assert entry["embedding_dimensions"] > 0, entry["model_id"]
        elif entry["provider"] != "local":
            assert entry["max_output_tokens"] > 0 and Decimal(entry["output_price_per_million"]) > 0, entry
        refs.add(f"{entry['provider']}:{entry['model_id']}")
    for required in (
        "openai:text-embedding-3-small",
        "openai:text-embedding-3-large",
        "local:all-MiniLM-L6-v2",
        "local:no-llm",
        "anthropic:claude-haiku-4-5",
    ):
        assert required in refs


def test_migrate_left_the_table_matching_the_file() -> None:
    data = tomllib.loads(services.CATALOG_PATH.read_text())
    assert FoundationModel.objects.filter(in_catalog=True).count() == len(data["models"])
    small = FoundationModel.objects.get(provider="openai", model_id="text-embedding-3-small")
    assert (small.embedding_dimensions, small.input_price_per_million) == (1536, Decimal("0.02"))


def test_sync_is_idempotent() -> None:
    before = list(FoundationModel.objects.order_by("pk").values())
    report = services.catalog_sync()
    assert (report.created, report.updated, report.removed) == ([], [], [])
    assert report.unchanged == len(before)
    assert list(FoundationModel.objects.order_by("pk").values()) == before


def test_sync_applies_changes_and_keeps_tenant_settings(world: World, tmp_path: Path) -> None:
    services.model_settings_update(
        actor=world.actor(), enabled_models=["openai:gpt-4o-mini"], default_chat_model="openai:gpt-4o-mini"
    )
    edited = services.CATALOG_PATH.read_text().replace('version = "', 'version = "test-', 1)
    edited = edited.replace('input_price_per_million = "0.15"', 'input_price_per_million = "0.20"', 1)
    # Drop the Claude Haiku 3.5 entry: it must be marked as no longer listed, not deleted.
    blocks = edited.split("[[models]]")
    edited = "[[models]]".join(b for b in blocks if 'model_id = "claude-3-5-haiku-latest"' not in b)
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(edited)

    report = services.catalog_sync(path=catalog)
    assert report.updated == ["openai:gpt-4o-mini"]
    assert report.removed == ["anthropic:claude-3-5-haiku-latest"]
    assert FoundationModel.objects.get(model_id="gpt-4o-mini").input_price_per_million == Decimal("0.20")
    assert FoundationModel.objects.get(model_id="claude-3-5-haiku-latest").in_catalog is False
    with tenant_context(world.tenant.pk):
        chosen = selectors.model_settings(tenant=world.tenant)
    assert chosen.default_chat_model == "openai:gpt-4o-mini"
    assert "openai:gpt-4o-mini" in chosen.enabled_models
    assert services.catalog_sync(path=catalog).updated == []  # and idempotent again


def test_deprecated_and_retired_models_are_flagged(world: World) -> None:
    FoundationModel.objects.filter(model_id="gpt-4o").update(
        deprecated_on=timezone.localdate() - timedelta(days=1)
    )
    FoundationModel.objects.filter(model_id="gpt-4.1").update(
        retires_on=timezone.localdate() - timedelta(days=1)
    )
    with tenant_context(world.tenant.pk):
        rows = {row["ref"]: row for row in selectors.available_models(tenant=world.tenant)}
    assert rows["openai:gpt-4o"]["is_deprecated"] and not rows["openai:gpt-4o"]["is_retired"]
    assert rows["openai:gpt-4.1"]["is_retired"]
    assert not rows["openai:gpt-4o-mini"]["is_deprecated"]
    with pytest.raises(ValidationFailed, match="retired"):
        services.model_settings_update(actor=world.actor(), default_chat_model="openai:gpt-4.1")


def test_a_new_tenant_starts_on_the_built_in_models(world: World) -> None:
    with tenant_context(world.tenant.pk):
        chosen = selectors.model_settings(tenant=world.tenant)
    assert chosen.default_chat_model == "local:no-llm"
    assert chosen.default_embedding_model == "local:all-MiniLM-L6-v2"


def test_defaults_must_be_of_the_right_kind_and_are_always_enabled(world: World) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.model_settings_update(
            actor=world.actor(),
            default_chat_model="openai:text-embedding-3-small",
            default_embedding_model="openai:nope",
        )
    assert set(refused.value.field_errors) == {"default_chat_model", "default_embedding_model"}
    chosen = services.model_settings_update(
        actor=world.actor(), enabled_models=[], default_embedding_model="openai:text-embedding-3-large"
    )
    assert {"local:no-llm", "openai:text-embedding-3-large"} <= set(chosen.enabled_models)


def test_cost_comes_from_the_catalog_prices() -> None:
    haiku = FoundationModel.objects.get(provider="anthropic", model_id="claude-haiku-4-5")
    assert haiku.cost_usd(1_000_000, 200_000) == Decimal("1.00") + Decimal("1.00")


def test_a_model_retired_after_it_was_enabled_does_not_block_other_changes(world: World) -> None:
    services.model_settings_update(
        actor=world.actor(), enabled_models=["openai:gpt-4.1", "openai:gpt-4o-mini"]
    )
    FoundationModel.objects.filter(model_id="gpt-4.1").update(
        retires_on=timezone.localdate() - timedelta(days=1)
    )
    chosen = services.model_settings_update(actor=world.actor(), default_chat_model="openai:gpt-4o-mini")
    assert chosen.default_chat_model == "openai:gpt-4o-mini"
    assert "openai:gpt-4.1" in chosen.enabled_models  # still listed, flagged as retired where shown


def test_deleting_a_custom_model_takes_it_out_of_the_choices(world: World, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    endpoint = services.credential_create(
        actor=world.actor(), provider="openai_compatible", name="Ollama", base_url="http://127.0.0.1:11434/v1"
    )
    llama = services.custom_model_create(
        actor=world.actor(),
        credential_id=endpoint.pk,
        model_name="llama3.1:8b",
        display_name="Llama 3.1 8B",
        kind="chat",
        context_window=128000,
    )
    services.model_settings_update(actor=world.actor(), default_chat_model=llama.ref)
    services.credential_delete(actor=world.actor(), credential_id=endpoint.pk)  # its models go with it
    with tenant_context(world.tenant.pk):
        chosen = selectors.model_settings(tenant=world.tenant)
    assert chosen.default_chat_model == "local:no-llm"
    assert llama.ref not in chosen.enabled_models
