"""The gateway end to end: model and key resolution, the real SDKs against the stubs, fallback, metering.

These tests are async and the gateway reaches the database from a worker thread (``sync_to_async``), so
they use committed data (``transaction=True``), as production does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from providers import gateway, services
from providers.adapters.base import ChatMessage, Completed, Passage, TextDelta, Usage
from providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderNotConfigured,
    ProviderStreamError,
    ProviderUnavailable,
)
from providers.models import CustomModel, FoundationModel, ModelSpec, ProviderCredential, UsageRecord
from providers.tokens import count_message_tokens, count_tokens
from tenants.context import tenant_context
from tenants.models import Tenant
from tests.providers.helpers import ANTHROPIC_KEY, OPENAI_KEY, collect
from tests.stubs import Fault, count_words
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.anthropic_stub import model_version as anthropic_version
from tests.stubs.openai_stub import OpenAIStub, embedding_for
from tests.stubs.openai_stub import model_version as openai_version
from tests.tenants.factories import World, make_world

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("db_thread_cleanup"),
]

MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "Where is my parcel?")]
PROMPT_WORDS = sum(count_words(message.content) for message in MESSAGES)
ANSWER = "Your parcel left the warehouse this morning."
EIGHT_DECIMALS = Decimal("0.00000001")


@pytest.fixture
def acme(transactional_db: None) -> World:
    return make_world("Acme")


@pytest.fixture
def openai_credential(acme: World) -> ProviderCredential:
    return services.credential_create(
        actor=acme.actor(), provider="openai", name="OpenAI", api_key=OPENAI_KEY
    )


@pytest.fixture
def anthropic_credential(acme: World) -> ProviderCredential:
    return services.credential_create(
        actor=acme.actor(), provider="anthropic", name="Anthropic", api_key=ANTHROPIC_KEY
    )


def set_plan(world: World, plan: str) -> None:
    Tenant.objects.filter(pk=world.tenant.pk).update(plan=plan)


def usage_rows(tenant_id: uuid.UUID) -> list[UsageRecord]:
    with tenant_context(tenant_id):
        return list(UsageRecord.objects.for_tenant(tenant_id).order_by("created_at"))


async def usage_of(world: World) -> list[UsageRecord]:
    return await sync_to_async(usage_rows)(world.tenant.pk)


async def catalog_spec(ref: str) -> ModelSpec:
    provider, _, model_id = ref.partition(":")
    return await sync_to_async(FoundationModel.objects.get)(provider=provider, model_id=model_id)


def cost(spec: ModelSpec, input_tokens: int, output_tokens: int) -> Decimal:
    return spec.cost_usd(input_tokens, output_tokens).quantize(EIGHT_DECIMALS)


def texts(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


# --- answered calls ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("openai_credential")
async def test_a_streamed_answer_is_metered_with_tokens_cost_and_timings(
    acme: World, openai_stub: OpenAIStub
) -> None:
    openai_stub.answers["gpt-4o-mini"] = ANSWER
    # The first words arrive only after 0.3 s, which time to first token must show.
    openai_stub.add_faults(Fault.stall(after_events=1, seconds=0.3))
    bot_id = uuid.uuid4()

    events, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o-mini", messages=MESSAGES, bot_id=bot_id
        )
    )

    assert error is None
    assert texts(events) == ANSWER
    assert events[-1] == Completed(Usage(PROMPT_WORDS, 7), "stop", openai_version("gpt-4o-mini"))
    [row] = await usage_of(acme)
    spec = await catalog_spec("openai:gpt-4o-mini")
    assert (row.model_ref, row.provider, row.operation, row.outcome) == (
        "openai:gpt-4o-mini",
        "openai",
        "chat",
        "ok",
    )
    assert (row.input_tokens, row.output_tokens) == (PROMPT_WORDS, 7)
    assert row.cost_usd == cost(spec, PROMPT_WORDS, 7) > 0
    assert row.bot_id == bot_id
    assert row.model_version == openai_version("gpt-4o-mini")
    assert row.time_to_first_token_ms is not None and 300 <= row.time_to_first_token_ms <= row.latency_ms
    assert (row.error_code, row.used_fallback) == ("", False)
    [sent] = openai_stub.requests_to("/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"  # the tenant's own key, decrypted


@pytest.mark.usefixtures("anthropic_credential")
async def test_a_plain_answer_is_metered(acme: World, anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER

    text, completed = await gateway.chat_complete(
        tenant_id=acme.tenant.pk,
        model_ref="anthropic:claude-haiku-4-5",
        messages=MESSAGES,
        max_output_tokens=500,
    )

    assert text == ANSWER
    assert completed.usage == Usage(PROMPT_WORDS, 7)
    [row] = await usage_of(acme)
    spec = await catalog_spec("anthropic:claude-haiku-4-5")
    assert (row.provider, row.outcome, row.input_tokens, row.output_tokens) == (
        "anthropic",
        "ok",
        PROMPT_WORDS,
        7,
    )
    assert row.cost_usd == cost(spec, PROMPT_WORDS, 7) > 0
    assert row.model_version == anthropic_version("claude-haiku-4-5")
    [sent] = anthropic_stub.requests_to("/v1/messages")
    assert sent.body["max_tokens"] == 500 and "stream" not in sent.body


@pytest.mark.usefixtures("openai_credential")
async def test_embeddings_are_metered(acme: World, openai_stub: OpenAIStub) -> None:
    inputs = ["How do refunds work?", "Shipping takes three days.", "Contact us by email."]

    result = await gateway.embed(
        tenant_id=acme.tenant.pk, model_ref="openai:text-embedding-3-small", texts=inputs
    )

    assert result.vectors == [embedding_for(text) for text in inputs]
    [row] = await usage_of(acme)
    tokens = sum(count_words(text) for text in inputs)
    spec = await catalog_spec("openai:text-embedding-3-small")
    assert (row.operation, row.outcome, row.input_tokens, row.output_tokens) == ("embedding", "ok", tokens, 0)
    assert row.cost_usd == cost(spec, tokens, 0) > 0
    assert row.time_to_first_token_ms is None


async def test_a_custom_model_on_a_compatible_server_is_metered_at_its_own_prices(
    acme: World, compatible_stub: OpenAIStub
) -> None:
    credential = await sync_to_async(services.credential_create)(
        actor=acme.actor(), provider="openai_compatible", name="Ollama", base_url=compatible_stub.base_url
    )
    custom: CustomModel = await sync_to_async(services.custom_model_create)(
        actor=acme.actor(),
        credential_id=credential.pk,
        model_name="llama3.1:8b",
        display_name="Llama 3.1 8B",
        kind="chat",
        context_window=128_000,
        input_price_per_million=Decimal("1.5"),
        output_price_per_million=Decimal("3"),
    )

    events, error = await collect(
        gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref=custom.ref, messages=MESSAGES)
    )

    assert error is None and isinstance(events[-1], Completed)
    [row] = await usage_of(acme)
    output_tokens = count_words(compatible_stub.default_answer)
    assert (row.model_ref, row.provider, row.outcome) == (custom.ref, "openai_compatible", "ok")
    assert row.cost_usd == cost(custom, PROMPT_WORDS, output_tokens) > 0
    [sent] = compatible_stub.requests_to("/v1/chat/completions")
    assert sent.body["model"] == "llama3.1:8b"
    assert sent.headers["authorization"] == "Bearer no-key-needed"


# --- failures, cancellation, fallback ------------------------------------------------------------------


async def test_a_failed_call_is_metered_as_an_error(acme: World, openai_stub: OpenAIStub) -> None:
    await sync_to_async(services.credential_create)(
        actor=acme.actor(), provider="openai", name="OpenAI", api_key="sk-revoked-key-00000000"
    )

    events, error = await collect(
        gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o-mini", messages=MESSAGES)
    )

    assert events == []
    assert isinstance(error, ProviderAuthError)
    assert error.message == "The OpenAI key was rejected. Check or replace it in Models."
    [row] = await usage_of(acme)
    assert (row.outcome, row.error_code, row.input_tokens, row.output_tokens) == ("error", "auth", 0, 0)
    assert row.cost_usd == 0 and row.time_to_first_token_ms is None


@pytest.mark.usefixtures("openai_credential")
async def test_closing_the_stream_mid_answer_is_metered_as_cancelled(
    acme: World, openai_stub: OpenAIStub
) -> None:
    stream = gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o-mini", messages=MESSAGES)
    first = await stream.__anext__()
    second = await stream.__anext__()

    await stream.aclose()  # the visitor left

    shown = first.text + second.text
    assert shown == "Hello from"
    [row] = await usage_of(acme)
    assert row.outcome == "cancelled"
    assert (row.input_tokens, row.output_tokens) == (count_message_tokens(MESSAGES), count_tokens(shown))
    spec = await catalog_spec("openai:gpt-4o-mini")
    assert row.cost_usd == cost(spec, row.input_tokens, row.output_tokens)
    assert row.time_to_first_token_ms is not None


@pytest.mark.usefixtures("openai_credential")
async def test_a_cancelled_task_is_metered_as_cancelled(acme: World, openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.stall(after_events=2, seconds=5))
    received: list[Any] = []

    async def consume() -> None:
        async for event in gateway.chat_stream(
            tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o-mini", messages=MESSAGES
        ):
            received.append(event)

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        while not received:
            await asyncio.sleep(0.01)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = await usage_of(acme)
    assert row.outcome == "cancelled"
    assert row.output_tokens == count_tokens("Hello")


@pytest.mark.usefixtures("openai_credential", "anthropic_credential")
async def test_the_fallback_answers_when_the_primary_fails_before_any_text(
    acme: World, openai_stub: OpenAIStub, anthropic_stub: AnthropicStub
) -> None:
    openai_stub.add_faults(*[Fault.http(500)] * 4)
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER

    events, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk,
            model_ref="openai:gpt-4o-mini",
            fallback_model_ref="anthropic:claude-haiku-4-5",
            messages=MESSAGES,
        )
    )

    assert error is None
    assert texts(events) == ANSWER
    assert len(openai_stub.requests) == 4  # the primary's retries ran out first
    primary, fallback = await usage_of(acme)
    assert (primary.model_ref, primary.outcome, primary.error_code, primary.used_fallback) == (
        "openai:gpt-4o-mini",
        "error",
        "server_error",
        False,
    )
    assert (fallback.model_ref, fallback.outcome, fallback.used_fallback) == (
        "anthropic:claude-haiku-4-5",
        "ok",
        True,
    )
    assert fallback.output_tokens == 7


@pytest.mark.usefixtures("openai_credential", "anthropic_credential")
async def test_no_fallback_once_text_was_streamed(
    acme: World, openai_stub: OpenAIStub, anthropic_stub: AnthropicStub
) -> None:
    openai_stub.add_faults(Fault.cut(after_events=3))

    events, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk,
            model_ref="openai:gpt-4o-mini",
            fallback_model_ref="anthropic:claude-haiku-4-5",
            messages=MESSAGES,
        )
    )

    assert texts(events) == "Hello from"
    assert isinstance(error, ProviderStreamError)
    assert anthropic_stub.requests == []
    [row] = await usage_of(acme)
    assert (row.outcome, row.error_code) == ("error", "stream_interrupted")
    assert (row.input_tokens, row.output_tokens) == (
        count_message_tokens(MESSAGES),
        count_tokens("Hello from"),
    )


@pytest.mark.usefixtures("openai_credential", "anthropic_credential")
async def test_when_the_fallback_fails_too_its_error_is_raised(
    acme: World, openai_stub: OpenAIStub, anthropic_stub: AnthropicStub
) -> None:
    openai_stub.add_faults(*[Fault.http(500)] * 4)
    anthropic_stub.add_faults(*[Fault.http(529)] * 4)

    _, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk,
            model_ref="openai:gpt-4o-mini",
            fallback_model_ref="anthropic:claude-haiku-4-5",
            messages=MESSAGES,
        )
    )

    assert isinstance(error, ProviderUnavailable)
    assert error.message == "Anthropic is overloaded (529), retried 3 times."
    assert isinstance(error.__cause__, ProviderUnavailable) and error.__cause__.provider == "openai"
    assert [(row.outcome, row.used_fallback) for row in await usage_of(acme)] == [
        ("error", False),
        ("error", True),
    ]


async def test_a_model_without_a_key_falls_back_to_the_local_answerer(
    acme: World, openai_stub: OpenAIStub
) -> None:
    passage = Passage(
        text="Parcels ship within two working days.", title="Shipping", source="faq.html#shipping"
    )

    events, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk,
            model_ref="openai:gpt-4o-mini",
            fallback_model_ref="local:no-llm",
            messages=MESSAGES,
            passages=[passage],
        )
    )

    assert error is None
    assert passage.text in texts(events)
    assert openai_stub.requests == []
    primary, fallback = await usage_of(acme)
    assert (primary.outcome, primary.error_code) == ("error", "not_configured")
    assert (fallback.provider, fallback.outcome, fallback.used_fallback, fallback.cost_usd) == (
        "local",
        "ok",
        True,
        0,
    )


# --- keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", ["team", "business"])
async def test_the_platform_key_serves_plans_that_include_it(
    acme: World, openai_stub: OpenAIStub, settings: Any, plan: str
) -> None:
    settings.OPENAI_API_KEY = "sk-platform-key-1111111111"
    openai_stub.api_key = settings.OPENAI_API_KEY
    await sync_to_async(set_plan)(acme, plan)

    events, error = await collect(
        gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )

    assert error is None and isinstance(events[-1], Completed)
    [sent] = openai_stub.requests
    assert sent.headers["authorization"] == "Bearer sk-platform-key-1111111111"
    [row] = await usage_of(acme)
    assert row.outcome == "ok"


async def test_the_free_plan_does_not_get_the_platform_key(
    acme: World, openai_stub: OpenAIStub, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "sk-platform-key-1111111111"

    events, error = await collect(
        gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )

    assert events == []
    assert isinstance(error, ProviderNotConfigured)
    assert error.message == (
        "Add your own OpenAI key in Models to use GPT-4o: "
        "the Free plan does not include Groundwork's OpenAI access."
    )
    assert openai_stub.requests == []
    [row] = await usage_of(acme)
    assert (row.outcome, row.error_code) == ("error", "not_configured")


async def test_without_any_key_the_tenant_is_told_to_add_one(
    acme: World, anthropic_stub: AnthropicStub
) -> None:
    await sync_to_async(set_plan)(acme, "business")

    with pytest.raises(ProviderNotConfigured, match=r"^No Anthropic key is set up\. Add one in Models"):
        await gateway.chat_complete(
            tenant_id=acme.tenant.pk, model_ref="anthropic:claude-haiku-4-5", messages=MESSAGES
        )
    assert anthropic_stub.requests == []


@pytest.mark.usefixtures("openai_credential")
async def test_the_tenants_own_key_comes_before_the_platform_key(
    acme: World, openai_stub: OpenAIStub, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "sk-platform-key-1111111111"
    await sync_to_async(set_plan)(acme, "business")

    _, error = await collect(
        gateway.chat_stream(tenant_id=acme.tenant.pk, model_ref="openai:gpt-4o", messages=MESSAGES)
    )

    assert error is None
    assert openai_stub.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.usefixtures("openai_credential")
async def test_a_model_of_the_wrong_kind_is_refused(acme: World, openai_stub: OpenAIStub) -> None:
    _, error = await collect(
        gateway.chat_stream(
            tenant_id=acme.tenant.pk, model_ref="openai:text-embedding-3-small", messages=MESSAGES
        )
    )

    assert isinstance(error, ProviderBadRequest)
    assert error.message == "text-embedding-3-small is an embedding model, not a chat model."
    assert openai_stub.requests == []


# --- secrets ----------------------------------------------------------------------------------------

OPENAI_SECRET = "sk-test-SECRET-1234567890"
ANTHROPIC_SECRET = "sk-ant-SECRET-0987654321"


@pytest.fixture
def secret_credentials(acme: World, openai_stub: OpenAIStub, anthropic_stub: AnthropicStub) -> None:
    openai_stub.api_key, anthropic_stub.api_key = OPENAI_SECRET, ANTHROPIC_SECRET
    services.credential_create(actor=acme.actor(), provider="openai", name="OpenAI", api_key=OPENAI_SECRET)
    services.credential_create(
        actor=acme.actor(), provider="anthropic", name="Anthropic", api_key=ANTHROPIC_SECRET
    )


@pytest.mark.usefixtures("secret_credentials")
async def test_a_secret_never_appears_in_logs_errors_or_records(
    acme: World, openai_stub: OpenAIStub, anthropic_stub: AnthropicStub, settings: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDKs' and the HTTP client's included
    settings.MODEL_CALL_MAX_RETRIES = 1
    tenant = acme.tenant.pk
    errors: list[BaseException] = []

    async def chat(model_ref: str) -> None:
        _, error = await collect(
            gateway.chat_stream(tenant_id=tenant, model_ref=model_ref, messages=MESSAGES)
        )
        if error is not None:
            errors.append(error)

    # Answered calls.
    await chat("openai:gpt-4o-mini")
    await chat("anthropic:claude-haiku-4-5")
    await gateway.chat_complete(tenant_id=tenant, model_ref="openai:gpt-4o-mini", messages=MESSAGES)
    await gateway.embed(tenant_id=tenant, model_ref="openai:text-embedding-3-small", texts=["one", "two"])
    # Failures of every kind.
    openai_stub.add_faults(Fault.http(500), Fault.http(500))
    await chat("openai:gpt-4o-mini")
    openai_stub.add_faults(Fault.http(400, message=f"Your key {OPENAI_SECRET} is not valid for this model"))
    await chat("openai:gpt-4o-mini")
    openai_stub.add_faults(Fault.cut(after_events=3))
    await chat("openai:gpt-4o-mini")
    anthropic_stub.add_faults(Fault.http(529), Fault.http(529))
    await chat("anthropic:claude-haiku-4-5")
    anthropic_stub.add_faults(Fault.error_event(after_events=4))
    await chat("anthropic:claude-haiku-4-5")
    settings.MODEL_CALL_TIMEOUT_SECONDS = 0.3
    openai_stub.add_faults(Fault.delay(2), Fault.delay(2))
    await chat("openai:gpt-4o-mini")
    openai_stub.api_key = anthropic_stub.api_key = "a-different-key-000000"
    await chat("openai:gpt-4o-mini")
    await chat("anthropic:claude-haiku-4-5")
    credentials = await sync_to_async(usage_credentials)(acme)
    for credential in credentials:
        tested = await sync_to_async(gateway.credential_test)(actor=acme.actor(), credential_id=credential.pk)
        assert tested.last_test_ok is False

    # The secrets were really in play ...
    assert any(OPENAI_SECRET in request.headers.get("authorization", "") for request in openai_stub.requests)
    assert any(
        ANTHROPIC_SECRET in request.headers.get("authorization", "") for request in anthropic_stub.requests
    )
    assert len(errors) == 8
    # ... and appear nowhere a person or a log could read them.
    formatter = logging.Formatter()
    written = [record.getMessage() for record in caplog.records]
    written += [formatter.formatException(record.exc_info) for record in caplog.records if record.exc_info]
    for error in errors:
        written += [str(error), repr(error), str(error.__cause__), str(error.__context__)]
    for row in await usage_of(acme):
        written += [str(value) for value in row.__dict__.values()]
    written += [credential.last_test_message for credential in await sync_to_async(usage_credentials)(acme)]
    assert len(caplog.records) > 20
    for text in written:
        assert OPENAI_SECRET not in text
        assert ANTHROPIC_SECRET not in text
        assert "SECRET-" not in text


def usage_credentials(world: World) -> list[ProviderCredential]:
    with tenant_context(world.tenant.pk):
        return list(ProviderCredential.objects.for_tenant(world.tenant).order_by("provider"))
