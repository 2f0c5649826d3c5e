"""What a tenant may spend: the default budgets new organisations and bots start with, and each tenant's
share of the platform's own provider keys (calls per window and USD per month), through the gateway and
the official OpenAI SDK pointed at the wire stub."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from bots import services as bot_services
from core.clock import ManualClock
from providers import gateway, selectors, services
from providers.adapters.base import ChatMessage, Completed
from providers.budgets import BudgetExhausted
from providers.models import TenantModelSettings
from tenants.context import tenant_context
from tenants.models import Tenant
from tests.providers.factories import enable_models, record_usage
from tests.providers.helpers import OPENAI_KEY, collect
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

MESSAGES = [ChatMessage("user", "Where is my parcel?")]
PLATFORM_KEY = "sk-platform-key-2222222222"


def on_the_platform_key(world: World, settings: Any, stub: OpenAIStub) -> None:
    settings.OPENAI_API_KEY = PLATFORM_KEY
    stub.api_key = PLATFORM_KEY
    Tenant.objects.filter(pk=world.tenant.pk).update(plan="team")


# --- the platform's keys ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("db_thread_cleanup")
async def test_a_tenant_on_the_platform_key_is_held_to_its_rate_and_others_are_not(
    openai_stub: OpenAIStub, settings: Any, clock: ManualClock
) -> None:
    settings.PLATFORM_KEY_RATE_PER_TENANT = "2/minute"
    busy, quiet = await sync_to_async(make_world)("Busy"), await sync_to_async(make_world)("Quiet")
    for world in (busy, quiet):
        await sync_to_async(on_the_platform_key)(world, settings, openai_stub)

    results = [
        await collect(
            gateway.chat_stream(tenant_id=busy.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
        )
        for _ in range(3)
    ]

    assert [error is None for _, error in results] == [True, True, False]
    error = results[-1][1]
    assert isinstance(error, gateway.PlatformKeyLimited) and error.status == 429
    assert "add your own OpenAI key in Models" in error.message and "try again in" in error.message
    assert len(openai_stub.requests) == 2  # the refused call never reached the provider
    _, other = await collect(
        gateway.chat_stream(tenant_id=quiet.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )
    assert other is None  # one tenant's rate is its own

    clock.advance(60)
    _, later = await collect(
        gateway.chat_stream(tenant_id=busy.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )
    assert later is None


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("db_thread_cleanup")
async def test_a_tenant_past_its_monthly_share_of_the_platform_key_is_told_to_add_its_own(
    openai_stub: OpenAIStub, settings: Any
) -> None:
    settings.PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD = Decimal("1.00")
    world = await sync_to_async(make_world)()
    await sync_to_async(on_the_platform_key)(world, settings, openai_stub)
    await sync_to_async(record_usage)(world, "openai:gpt-4o", "0.999")  # what it spent on the key so far

    with pytest.raises(BudgetExhausted) as refused:
        await collect(
            gateway.chat_stream(tenant_id=world.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
        )

    assert refused.value.message == (
        "Your organisation has used the $1.00 of Groundwork's shared OpenAI access included this month; "
        "add your own OpenAI key in Models to keep going."
    )
    assert openai_stub.requests == []

    # With a key of its own, the platform's share no longer applies.
    await sync_to_async(services.credential_create)(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=OPENAI_KEY
    )
    openai_stub.api_key = OPENAI_KEY
    events, error = await collect(
        gateway.chat_stream(tenant_id=world.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )
    assert error is None and isinstance(events[-1], Completed)


# --- default budgets ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_organisation_starts_with_the_default_monthly_budget_and_keeps_it_when_it_chooses_models(
    settings: Any,
) -> None:
    settings.DEFAULT_TENANT_MONTHLY_BUDGET_USD = Decimal("25")
    world = make_world()
    with tenant_context(world.tenant.pk):
        assert selectors.model_settings(tenant=world.tenant).monthly_budget_usd == Decimal("25")

    enable_models(world, "local:no-llm", "local:all-MiniLM-L6-v2")  # the first save of the settings

    with tenant_context(world.tenant.pk):
        assert TenantModelSettings.objects.get().monthly_budget_usd == Decimal("25")


@pytest.mark.django_db
def test_a_budget_removed_on_purpose_stays_removed_and_existing_settings_keep_theirs(settings: Any) -> None:
    world = make_world()
    services.monthly_budget_update(actor=world.actor(), monthly_budget_usd=None)
    settings.DEFAULT_TENANT_MONTHLY_BUDGET_USD = Decimal("99")  # the operator changes the default later

    enable_models(world, "local:no-llm", "local:all-MiniLM-L6-v2")

    with tenant_context(world.tenant.pk):
        assert TenantModelSettings.objects.get().monthly_budget_usd is None


@pytest.mark.django_db
def test_a_new_bot_gets_the_default_daily_budget_unless_told_otherwise(settings: Any) -> None:
    settings.DEFAULT_BOT_DAILY_BUDGET_USD = Decimal("3.50")
    world = make_world()

    default = bot_services.bot_create(actor=world.actor(), name="Default")
    chosen = bot_services.bot_create(actor=world.actor(), name="Chosen", daily_budget_usd=Decimal("12"))
    uncapped = bot_services.bot_create(actor=world.actor(), name="Uncapped", daily_budget_usd=None)

    assert default.daily_budget_usd == Decimal("3.50")
    assert chosen.daily_budget_usd == Decimal("12")
    assert uncapped.daily_budget_usd is None

    settings.DEFAULT_BOT_DAILY_BUDGET_USD = None  # an operator may turn the default off
    assert bot_services.bot_create(actor=world.actor(), name="Later").daily_budget_usd is None
