"""Usage aggregates by day, model and bot, for one tenant and one date range."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from providers import selectors, services
from providers.models import UsageRecord
from tenants.context import tenant_context
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db


def record(
    tenant_id: uuid.UUID, model: str, cost: str, *, days_ago: int = 0, bot: uuid.UUID | None = None
) -> None:
    row = services.usage_record(
        tenant_id=tenant_id,
        model_ref=model,
        provider=model.split(":")[0],
        operation="chat",
        input_tokens=1000,
        output_tokens=100,
        cost_usd=Decimal(cost),
        latency_ms=900,
        time_to_first_token_ms=300,
        bot_id=bot,
    )
    with tenant_context(tenant_id):
        UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


def test_usage_is_grouped_by_day_model_and_bot_within_the_range() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    bot = uuid.uuid4()
    record(acme.tenant.pk, "openai:gpt-4o-mini", "0.0010", days_ago=0, bot=bot)
    record(acme.tenant.pk, "openai:gpt-4o-mini", "0.0020", days_ago=1, bot=bot)
    record(acme.tenant.pk, "anthropic:claude-haiku-4-5", "0.0100", days_ago=1)
    record(acme.tenant.pk, "anthropic:claude-haiku-4-5", "9.0000", days_ago=40)  # outside the range
    record(globex.tenant.pk, "openai:gpt-4o-mini", "5.0000")  # another tenant

    today = timezone.localdate()
    start = today - timedelta(days=29)
    with tenant_context(acme.tenant.pk):
        by_day = selectors.usage_summary(tenant=acme.tenant, start=start, end=today, group_by="day")
        by_model = selectors.usage_summary(tenant=acme.tenant, start=start, end=today, group_by="model")
        by_bot = selectors.usage_summary(tenant=acme.tenant, start=start, end=today, group_by="bot")

    assert [(row["day"], row["calls"], row["cost_usd"]) for row in by_day] == [
        (today - timedelta(days=1), 2, Decimal("0.0120")),
        (today, 1, Decimal("0.0010")),
    ]
    assert [(row["model"], row["calls"]) for row in by_model] == [
        ("anthropic:claude-haiku-4-5", 1),
        ("openai:gpt-4o-mini", 2),
    ]
    assert {row["bot"]: row["cost_usd"] for row in by_bot} == {
        None: Decimal("0.0100"),
        bot: Decimal("0.0030"),
    }
    assert sum(row["input_tokens"] for row in by_day) == 3000
