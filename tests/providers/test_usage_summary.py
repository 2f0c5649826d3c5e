"""Usage aggregates by day, model and bot, for one tenant and one date range."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from providers import selectors
from tenants.context import tenant_context
from tests.providers.factories import record_usage
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db


def test_usage_is_grouped_by_day_model_and_bot_within_the_range() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    bot = uuid.uuid4()
    record_usage(acme, "openai:gpt-4o-mini", "0.0010", days_ago=0, bot_id=bot)
    record_usage(acme, "openai:gpt-4o-mini", "0.0020", days_ago=1, bot_id=bot)
    record_usage(acme, "anthropic:claude-haiku-4-5", "0.0100", days_ago=1)
    record_usage(acme, "anthropic:claude-haiku-4-5", "9.0000", days_ago=40)  # outside the range
    record_usage(globex, "openai:gpt-4o-mini", "5.0000")  # another tenant

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
