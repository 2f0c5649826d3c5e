"""The "test connection" action: one cheap real call through the SDK, its result stored on the credential."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import NotFound, PermissionDenied
from providers.gateway import credential_test
from tenants.models import Role
from tests.providers.factories import add_credential
from tests.providers.helpers import ANTHROPIC_KEY, OPENAI_KEY, closed_port_url
from tests.stubs import Fault
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World


def test_a_working_openai_key_reports_the_models_it_can_use(world: World, openai_stub: OpenAIStub) -> None:
    credential = add_credential(world, "openai", OPENAI_KEY)

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (True, "Connected: 12 models available.")
    assert tested.last_tested_at is not None
    [sent] = openai_stub.requests
    assert (sent.method, sent.path, sent.headers["authorization"]) == (
        "GET",
        "/v1/models",
        f"Bearer {OPENAI_KEY}",
    )


def test_a_rejected_openai_key_says_so_without_retrying(world: World, openai_stub: OpenAIStub) -> None:
    credential = add_credential(world, "openai", "sk-revoked-key-00000000")

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert tested.last_test_ok is False
    assert tested.last_test_message == "The OpenAI key was rejected. Check or replace it in Models."
    assert len(openai_stub.requests) == 1


def test_a_working_anthropic_key_makes_one_small_listing(world: World, anthropic_stub: AnthropicStub) -> None:
    credential = add_credential(world, "anthropic", ANTHROPIC_KEY)

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (
        True,
        "Connected to Anthropic (newest model: Claude Opus 4.1).",
    )
    [sent] = anthropic_stub.requests
    assert (sent.method, sent.path, sent.query) == ("GET", "/v1/models", {"limit": "1"})


def test_a_rejected_anthropic_key_says_so(world: World, anthropic_stub: AnthropicStub) -> None:
    credential = add_credential(world, "anthropic", "sk-ant-revoked-00000000")

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (
        False,
        "The Anthropic key was rejected. Check or replace it in Models.",
    )


def test_a_server_error_is_reported_after_one_attempt(world: World, openai_stub: OpenAIStub) -> None:
    credential = add_credential(world, "openai", OPENAI_KEY)
    openai_stub.add_faults(Fault.http(500), Fault.http(500))

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert tested.last_test_message == "OpenAI had a server error (500), not retried."
    assert len(openai_stub.requests) == 1


def test_a_slow_provider_is_reported_as_a_timeout(
    world: World, anthropic_stub: AnthropicStub, settings: Any
) -> None:
    settings.MODEL_CALL_TIMEOUT_SECONDS = 0.3
    credential = add_credential(world, "anthropic", ANTHROPIC_KEY)
    anthropic_stub.add_faults(Fault.delay(3))

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert tested.last_test_ok is False
    assert tested.last_test_message == "Anthropic did not answer within 0.3 seconds, not retried."


def test_a_compatible_server_without_a_key(world: World, compatible_stub: OpenAIStub) -> None:
    compatible_stub.model_ids = ["llama3.1:8b"]
    credential = add_credential(world, "openai_compatible", base_url=compatible_stub.base_url)

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (True, "Connected: 1 model available.")
    assert compatible_stub.requests[0].headers["authorization"] == "Bearer no-key-needed"


def test_an_unreachable_compatible_server_names_its_address(world: World, settings: Any) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    address = closed_port_url()
    credential = add_credential(world, "openai_compatible", base_url=f"{address}/v1")

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (
        False,
        f"Could not connect to the model server at {address.removeprefix('http://')}, not retried.",
    )


def test_only_admins_may_test(world: World, openai_stub: OpenAIStub) -> None:
    credential = add_credential(world, "openai", OPENAI_KEY)
    editor = world.add_member(Role.EDITOR)

    with pytest.raises(PermissionDenied):
        credential_test(actor=world.actor(Role.EDITOR, editor.user), credential_id=credential.pk)
    assert openai_stub.requests == []


def test_another_tenants_credential_is_not_found(
    world: World, other_world: World, openai_stub: OpenAIStub
) -> None:
    credential = add_credential(other_world, "openai", OPENAI_KEY)

    with pytest.raises(NotFound):
        credential_test(actor=world.actor(), credential_id=credential.pk)
    assert openai_stub.requests == []
