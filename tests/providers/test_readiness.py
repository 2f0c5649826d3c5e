"""Whether a tenant's chat model can answer, and the one fix when it cannot (providers.readiness)."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from providers.readiness import chat_model_readiness, readiness_by_ref
from tenants.context import tenant_context
from tests.providers.factories import add_credential, endpoint_credential, own_model
from tests.providers.helpers import OPENAI_KEY, OPENAI_MODEL
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def test_the_no_llm_model_is_connected_but_never_writes_answers(world: World) -> None:
    with tenant_context(world.tenant.pk):
        readiness = chat_model_readiness(tenant=world.tenant, ref="local:no-llm")
    assert readiness.connected and not readiness.writes_answers and not readiness.can_answer
    assert "never writes an answer" in readiness.problem
    assert readiness.fix_url.endswith("?add=openai#providers")


@override_settings(OPENAI_API_KEY="")
def test_an_openai_model_without_a_key_says_so_and_offers_to_add_one(world: World) -> None:
    with tenant_context(world.tenant.pk):
        readiness = chat_model_readiness(tenant=world.tenant, ref=OPENAI_MODEL)
    assert readiness.writes_answers and not readiness.connected
    assert readiness.problem.endswith("no OpenAI key is connected.")
    assert (readiness.fix_label, readiness.fix_url) == (
        "Add your OpenAI key",
        "/app/models/?add=openai#providers",
    )

    add_credential(world, "openai", api_key=OPENAI_KEY)
    with tenant_context(world.tenant.pk):
        assert chat_model_readiness(tenant=world.tenant, ref=OPENAI_MODEL).can_answer


def test_the_platform_key_counts_only_for_plans_that_include_it(world: World) -> None:
    ref = "anthropic:claude-haiku-4-5"
    included = override_settings(ANTHROPIC_API_KEY="sk-platform", PLATFORM_KEY_PLANS=[world.tenant.plan])
    with included, tenant_context(world.tenant.pk):
        assert chat_model_readiness(tenant=world.tenant, ref=ref).connected
    excluded = override_settings(ANTHROPIC_API_KEY="sk-platform", PLATFORM_KEY_PLANS=["no-such-plan"])
    with excluded, tenant_context(world.tenant.pk):
        readiness = chat_model_readiness(tenant=world.tenant, ref=ref)
    assert not readiness.connected and readiness.fix_label == "Add your Anthropic key"


def test_own_models_and_unknown_refs_in_one_call(world: World, other_world: World) -> None:
    mine = own_model(world, endpoint_credential(world))
    theirs = own_model(other_world, endpoint_credential(other_world))
    missing = f"custom:{uuid.uuid4()}"
    with tenant_context(world.tenant.pk):
        found = readiness_by_ref(
            tenant=world.tenant,
            refs=[mine.ref, theirs.ref, missing, "custom:not-a-uuid", "local:all-MiniLM-L6-v2"],
        )
    assert found[mine.ref].can_answer
    # Another tenant's model is as unknown as one that never existed.
    for ref in (theirs.ref, missing, "custom:not-a-uuid"):
        assert not found[ref].connected and "no longer exists" in found[ref].problem
    assert "embedding model" in found["local:all-MiniLM-L6-v2"].problem
