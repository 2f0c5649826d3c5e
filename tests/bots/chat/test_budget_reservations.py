"""Budgets that concurrent turns cannot overshoot: every model call reserves its most possible cost in Redis
before the provider is called (``providers.budgets``), and the reservation is settled with the actual cost.

The turns here run through the real ASGI server (uvicorn, as in production) on the test database and the
real Redis, against an OpenAI-compatible stub. The tenant's own model is priced so that an answer costs
exactly what was reserved for it (input free, every answer cut at the bot's longest answer): so "the
budget fits ten" means exactly ten answers whichever order the turns finish in. The other tests run
in process: settling, expiry, all-or-nothing holds, the early check, and a refusal after a turn began.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from bots import services as bot_services
from bots.chat import services as chat_services
from bots.models import Bot, Message
from core.clock import ManualClock
from providers import budgets
from providers import services as provider_services
from providers.models import CustomModel, UsageRecord
from tenants.context import tenant_context
from tenants.models import Role
from tests.processes import running_server
from tests.providers.factories import enable_models, endpoint_credential, own_model, use_openai
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db(transaction=True)

LONGEST_ANSWER = 16  # tokens: the bot's max_output_tokens, where the stub cuts every answer
PRICE_PER_ANSWER = Decimal("0.02")  # output tokens only: prompts are free on this model
# Longer than LONGEST_ANSWER words, so every answer is cut there and costs exactly PRICE_PER_ANSWER.
LONG_ANSWER = " ".join(f"word{number}" for number in range(40))
TURNS = 50
FITS = 10
BUDGET = PRICE_PER_ANSWER * FITS + Decimal("0.01")  # room for ten, not for eleven


@pytest.fixture(scope="module")
def model_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=None).start()
    stub.default_answer = LONG_ANSWER
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def server_url(django_db_setup: None, django_db_blocker: Any, model_stub: OpenAIStub) -> Iterator[str]:
    with running_server(
        log_name="budget-reservations-server.log",
        OPENAI_API_KEY="",
        ANTHROPIC_API_KEY="",
        MODEL_CALL_MAX_RETRIES="0",
        MODEL_CALL_TIMEOUT_SECONDS="30",
        ALLOW_PRIVATE_MODEL_ENDPOINTS="true",  # the stub listens on 127.0.0.1
        # Only the budgets may refuse here: every turn comes from 127.0.0.1.
        CHAT_RATE_PER_BOT="1000/minute",
        CHAT_RATE_PER_IP="1000/minute",
        CHAT_RATE_PER_BOT_ADDRESS="1000/minute",
    ) as url:
        yield url


def priced_model(world: World, stub: OpenAIStub, settings: Any) -> CustomModel:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    credential = endpoint_credential(world, name="Own server", base_url=stub.base_url)
    model = own_model(
        world,
        credential,
        "priced-model",
        input_price_per_million=Decimal(0),
        output_price_per_million=PRICE_PER_ANSWER / LONGEST_ANSWER * 1_000_000,
    )
    enable_models(world, model.ref, "local:no-llm", "local:all-MiniLM-L6-v2")
    return model


def ask(server_url: str, secret: str, bot: Bot, number: int) -> tuple[int, str]:
    """(status, the problem's detail or "")."""
    request = urllib.request.Request(
        f"{server_url}/api/v1/bots/{bot.pk}/chat",
        data=json.dumps({"message": f"Question number {number}?", "stream": False}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:
        return int(error.code), str(json.loads(error.read())["detail"])


def all_at_once(server_url: str, secret: str, bot: Bot) -> list[tuple[int, str]]:
    with ThreadPoolExecutor(max_workers=TURNS) as pool:
        return list(pool.map(lambda number: ask(server_url, secret, bot, number), range(TURNS)))


def recorded(world: World, bot: Bot) -> tuple[Decimal, int, int]:
    """(recorded spend, answered model calls, answers stored as answered)."""
    with tenant_context(world.tenant.pk):
        usage = UsageRecord.objects.filter(tenant=world.tenant)
        spend = usage.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)
        calls = usage.filter(operation="chat", outcome="ok").count()
        answers = Message.objects.filter(conversation__bot=bot, role="assistant", outcome="answered").count()
    return spend, calls, answers


@pytest.mark.parametrize("budget", ["monthly", "daily"])
def test_fifty_concurrent_turns_against_a_budget_for_ten_answer_exactly_ten(
    server_url: str, model_stub: OpenAIStub, settings: Any, budget: str
) -> None:
    world = make_world()
    model = priced_model(world, model_stub, settings)
    provider_services.monthly_budget_update(
        actor=world.actor(), monthly_budget_usd=BUDGET if budget == "monthly" else None
    )
    bot = bot_services.bot_create(
        actor=world.actor(),
        name="Busy",
        chat_model=model.ref,
        answer_policy="open",  # no knowledge: one model call per turn
        max_output_tokens=LONGEST_ANSWER,
        daily_budget_usd=BUDGET if budget == "daily" else None,
    )
    secret = world.api_key(role=Role.VIEWER)[1]

    results = all_at_once(server_url, secret, bot)

    statuses = [status for status, _ in results]
    assert statuses.count(200) == FITS and statuses.count(429) == TURNS - FITS
    assert all("budget of $0.21" in detail for status, detail in results if status == 429)
    spend, calls, answers = recorded(world, bot)
    assert spend == PRICE_PER_ANSWER * FITS <= BUDGET
    assert calls == answers == FITS
    assert len(model_stub.requests_to("/v1/chat/completions")) >= FITS  # (the module's stub: all tests')


def test_an_answer_settles_its_reservation_so_the_budget_counts_actual_spend(
    model_stub: OpenAIStub, settings: Any
) -> None:
    """Sequential turns: each holds its reservation only while it is answered, so a budget is spent to
    the cent by what answers cost, not by what they might have cost."""
    world = make_world()
    model = priced_model(world, model_stub, settings)
    provider_services.monthly_budget_update(actor=world.actor(), monthly_budget_usd=Decimal("0.05"))
    bot = bot_services.bot_create(
        actor=world.actor(),
        name="Patient",
        chat_model=model.ref,
        answer_policy="open",
        max_output_tokens=LONGEST_ANSWER,
    )
    with tenant_context(world.tenant.pk):
        ledger = chat_services.monthly_budget(tenant=world.tenant)
    assert ledger is not None

    from asgiref.sync import async_to_sync

    from bots.chat import engine

    async def one_turn() -> None:
        async for _ in engine.converse(
            tenant_id=world.tenant.pk, bot_id=bot.pk, question="Hello?", channel="api"
        ):
            pass

    async_to_sync(one_turn)()
    async_to_sync(one_turn)()
    assert budgets.held_usd(ledger.ledger) == 0  # settled: nothing held between turns
    with pytest.raises(chat_services.BudgetExhausted, match=r"monthly budget of \$0\.05"):
        async_to_sync(one_turn)()  # 0.04 spent; 0.02 more does not fit in 0.05
    assert recorded(world, bot)[0] == Decimal("0.04")


def test_a_reservation_of_a_process_that_died_expires(settings: Any, clock: ManualClock) -> None:
    settings.BUDGET_RESERVATION_SECONDS = 600
    ledger = f"test-ledger:{uuid.uuid4()}"
    budget = budgets.Budget(
        ledger=ledger, limit_usd=Decimal("1.00"), spent_usd=lambda: Decimal("0.25"), refusal="Spent"
    )

    held = budgets.reserve(scope=ledger, budgets=[budget], amount_usd=Decimal("0.75"))  # never settled
    assert held is not None and budgets.held_usd(ledger) == Decimal("0.75")
    with pytest.raises(budgets.BudgetExhausted, match="Spent"):
        budgets.reserve(scope=ledger, budgets=[budget], amount_usd=Decimal("0.01"))

    clock.advance(timedelta(seconds=601).total_seconds())

    assert budgets.held_usd(ledger) == 0
    again = budgets.reserve(scope=ledger, budgets=[budget], amount_usd=Decimal("0.75"))
    assert again is not None
    budgets.settle(again, lambda: None)
    assert budgets.held_usd(ledger) == 0


def test_a_call_must_fit_every_budget_it_spends_from_and_holds_none_when_refused() -> None:
    roomy = budgets.Budget(
        ledger=f"test-roomy:{uuid.uuid4()}",
        limit_usd=Decimal(10),
        spent_usd=lambda: Decimal(0),
        refusal="The roomy one",
    )
    tight = budgets.Budget(
        ledger=f"test-tight:{uuid.uuid4()}",
        limit_usd=Decimal(1),
        spent_usd=lambda: Decimal("0.9"),
        refusal="The tight one",
    )

    with pytest.raises(budgets.BudgetExhausted, match="The tight one"):
        budgets.reserve(scope="test", budgets=[roomy, tight], amount_usd=Decimal("0.2"))

    assert budgets.held_usd(roomy.ledger) == 0  # all or nothing: the roomy budget holds nothing either
    held = budgets.reserve(scope="test", budgets=[roomy, tight], amount_usd=Decimal("0.1"))
    assert held is not None
    assert budgets.held_usd(roomy.ledger) == budgets.held_usd(tight.ledger) == Decimal("0.1")
    budgets.settle(held, lambda: None)


def test_the_early_refusal_counts_what_turns_in_flight_hold(world: World) -> None:
    """A budget whose room is all held by answers being written refuses the next turn before anything is
    stored, as a spent one does."""
    bot = bot_services.bot_create(actor=world.actor(), name="Held", daily_budget_usd=Decimal("1.00"))
    with tenant_context(world.tenant.pk):
        daily = chat_services.bot_daily_budget(tenant=world.tenant, bot=bot)
        assert daily is not None
        held = budgets.reserve(scope=str(world.tenant.pk), budgets=[daily], amount_usd=Decimal("1.00"))
        with pytest.raises(chat_services.BudgetExhausted, match=r"daily budget of \$1\.00"):
            chat_services.check_budgets(tenant=world.tenant, bot=bot)
    budgets.settle(held, lambda: None)
    with tenant_context(world.tenant.pk):
        chat_services.check_budgets(tenant=world.tenant, bot=bot)


def _spent_to_just_under(world: World, monthly: str, spent: str) -> None:
    provider_services.usage_record(
        tenant_id=world.tenant.pk,
        model_ref="openai:gpt-4o-mini",
        provider="openai",
        operation="chat",
        input_tokens=0,
        output_tokens=0,
        cost_usd=Decimal(spent),
        latency_ms=1,
        time_to_first_token_ms=None,
    )
    provider_services.monthly_budget_update(actor=world.actor(), monthly_budget_usd=Decimal(monthly))


@pytest.mark.anyio
@pytest.mark.usefixtures("db_thread_cleanup")
async def test_a_turn_admitted_whose_answer_no_longer_fits_is_stored_as_refused_without_a_model_call(
    openai_stub: OpenAIStub,
) -> None:
    """The early check passes (the month is not spent), the answer's reservation does not fit what is
    left: the turn has started, so the refusal comes as an error after its start and is stored."""
    from asgiref.sync import sync_to_async

    from bots.chat import engine
    from bots.chat.engine import TurnStarted

    world = await sync_to_async(make_world)()
    await sync_to_async(use_openai)(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = await sync_to_async(bot_services.bot_create)(
        actor=world.actor(), name="Late", chat_model="openai:gpt-4o-mini", answer_policy="open"
    )
    await sync_to_async(_spent_to_just_under)(world, "0.01", "0.0099")
    seen: list[Any] = []

    async def run_the_turn() -> None:
        async for event in engine.converse(
            tenant_id=world.tenant.pk, bot_id=bot.pk, question="Hello?", channel="api"
        ):
            seen.append(event)

    with pytest.raises(chat_services.BudgetExhausted, match=r"monthly budget of \$0\.01"):
        await run_the_turn()

    assert isinstance(seen[0], TurnStarted)
    assert openai_stub.requests_to("/v1/chat/completions") == []

    def stored() -> Message:
        with tenant_context(world.tenant.pk):
            return Message.objects.get(conversation__bot=bot, role="assistant")

    answer = await sync_to_async(stored)()
    assert answer.outcome == "error" and "monthly budget" in answer.error_message
