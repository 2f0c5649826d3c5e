"""The guarded transport under the official SDKs: a tenant's endpoint cannot reach our own network at
call time (DNS that changes after the save, redirects), its error text is never shown, and a model's
answer is cut at its byte cap and at the deadline — through the real ``openai``/``anthropic`` SDKs
against the local stubs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from providers import services
from providers.adapters.anthropic import AnthropicChatAdapter
from providers.adapters.base import ANSWER_FRAMING_BYTES, CallSettings, ChatMessage, ChatRequest, TextDelta
from providers.adapters.openai import OpenAIChatAdapter, OpenAIEmbeddingAdapter
from providers.errors import ProviderError, ProviderStreamError
from providers.gateway import credential_test
from tests.providers.factories import add_credential
from tests.providers.helpers import ANTHROPIC_KEY, OPENAI_KEY, collect
from tests.stubs import Fault
from tests.stubs.anthropic_stub import AnthropicStub
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World

PATIENT = CallSettings(timeout_seconds=5.0, max_retries=3)
HOST = "models.example.test"
PUBLIC_ADDRESS = "93.184.215.14"  # a public unicast address: what the name resolved to when saved
INTERNAL_TEXT = "db-password=hunter2 (internal admin console)"
MESSAGES = [ChatMessage("user", "Where is my parcel?")]


@pytest.fixture
def internal_service() -> Iterator[OpenAIStub]:
    """A service on 127.0.0.1 that answers anything: what an attacker wants the platform to reach."""
    stub = OpenAIStub(api_key=None).start()
    yield stub
    stub.stop()


def port_of(stub: OpenAIStub) -> int:
    return int(stub.origin.rsplit(":", 1)[1])


def compatible_adapter(base_url: str) -> OpenAIChatAdapter:
    return OpenAIChatAdapter(
        api_key=None, base_url=base_url, call_settings=PATIENT, provider="openai_compatible"
    )


async def stream(adapter: Any, request: ChatRequest) -> tuple[list[object], ProviderError | None]:
    try:
        return await collect(adapter.stream(request))
    finally:
        await adapter.aclose()


def chat(model: str = "llama3.1:8b", max_output_tokens: int | None = 64) -> ChatRequest:
    return ChatRequest(model=model, messages=MESSAGES, max_output_tokens=max_output_tokens)


# --- the address is checked when the connection is made -------------------------------------------


@pytest.mark.anyio
async def test_an_endpoint_that_resolves_to_loopback_at_call_time_is_refused(
    internal_service: OpenAIStub, fake_dns: dict[str, str], settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = False
    fake_dns[HOST] = PUBLIC_ADDRESS
    base_url = services.validate_endpoint_url(f"http://{HOST}:{port_of(internal_service)}/v1")
    fake_dns[HOST] = "127.0.0.1"  # the tenant's DNS answers differently once the URL is saved

    events, error = await stream(compatible_adapter(base_url), chat())

    assert events == []
    assert error is not None and error.code == "refused"
    assert error.message == (
        f"Refused: {HOST} points to a private or reserved address (127.0.0.1); it is not called."
    )
    assert internal_service.requests == []


@pytest.mark.anyio
async def test_the_same_endpoint_is_reached_where_private_endpoints_are_allowed(
    internal_service: OpenAIStub, fake_dns: dict[str, str], settings: Any
) -> None:
    """The control of the test above: the name does lead to the service, only the rule stops it."""
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = True
    fake_dns[HOST] = "127.0.0.1"

    events, error = await stream(compatible_adapter(f"http://{HOST}:{port_of(internal_service)}/v1"), chat())

    assert error is None and any(isinstance(event, TextDelta) for event in events)
    assert internal_service.requests_to("/v1/chat/completions")


def test_test_connection_refuses_an_endpoint_that_now_resolves_to_loopback(
    world: World, internal_service: OpenAIStub, fake_dns: dict[str, str], settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = False
    fake_dns[HOST] = PUBLIC_ADDRESS
    credential = add_credential(
        world, "openai_compatible", base_url=f"http://{HOST}:{port_of(internal_service)}/v1"
    )
    fake_dns[HOST] = "127.0.0.1"

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (
        False,
        f"Refused: {HOST} points to a private or reserved address (127.0.0.1); it is not called.",
    )
    assert internal_service.requests == []


def test_a_name_resolving_to_the_metadata_service_through_nat64_is_refused_at_save(
    fake_dns: dict[str, str], settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = False
    fake_dns[HOST] = "64:ff9b::a9fe:a9fe"  # NAT64 of 169.254.169.254, the metadata service

    with pytest.raises(services.ValidationFailed, match="private or does not resolve"):
        services.validate_endpoint_url(f"https://{HOST}/v1")


def test_the_api_reports_the_refusal_without_anything_the_service_said(
    world: World, admin: Client, internal_service: OpenAIStub, fake_dns: dict[str, str], settings: Any
) -> None:
    settings.ALLOW_PRIVATE_MODEL_ENDPOINTS = False
    fake_dns[HOST] = PUBLIC_ADDRESS
    created = admin.post(
        "/api/v1/provider-credentials",
        {
            "provider": "openai_compatible",
            "name": "Our model server",
            "base_url": f"http://{HOST}:{port_of(internal_service)}/v1",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    fake_dns[HOST] = "127.0.0.1"
    internal_service.model_ids = [INTERNAL_TEXT]

    tested = admin.post(f"/api/v1/provider-credentials/{created.json()['id']}/test")

    assert tested.status_code == 200
    assert (tested.json()["last_test_ok"], tested.json()["last_test_message"]) == (
        False,
        f"Refused: {HOST} points to a private or reserved address (127.0.0.1); it is not called.",
    )
    assert INTERNAL_TEXT not in tested.content.decode()
    assert internal_service.requests == []


# --- redirects are refused -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("target", ["internal", "http://169.254.169.254/latest/meta-data/"])
async def test_a_redirect_from_an_endpoint_is_refused_at_call_time(
    compatible_stub: OpenAIStub, internal_service: OpenAIStub, target: str
) -> None:
    """Even where private endpoints are allowed (the compatible stub is on 127.0.0.1), a redirect is not
    followed: the SDK would otherwise take the request, key and all, wherever it points."""
    location = f"{internal_service.base_url}/chat/completions" if target == "internal" else target
    compatible_stub.add_faults(Fault.redirect(location))

    events, error = await stream(compatible_adapter(compatible_stub.base_url), chat())

    assert events == []
    assert error is not None and error.code == "refused"
    assert (
        error.message == "Refused: 127.0.0.1 answered with a redirect (HTTP 307); redirects are not followed."
    )
    assert len(compatible_stub.requests) == 1  # neither followed nor retried
    assert internal_service.requests == []


def test_test_connection_does_not_follow_a_redirect(
    world: World, compatible_stub: OpenAIStub, internal_service: OpenAIStub
) -> None:
    credential = add_credential(world, "openai_compatible", base_url=compatible_stub.base_url)
    compatible_stub.add_faults(Fault.redirect(f"{internal_service.base_url}/models", status=302))

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    assert (tested.last_test_ok, tested.last_test_message) == (
        False,
        "Refused: 127.0.0.1 answered with a redirect (HTTP 302); redirects are not followed.",
    )
    assert internal_service.requests == []


# --- an endpoint's own words are never shown -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "The model server at {host} refused the request (400)."),
        (404, "The model server at {host} does not know what was asked for."),
        (422, "The model server at {host} refused the request (422)."),
        (500, "The model server at {host} had a server error (500), not retried."),
    ],
)
def test_test_connection_says_what_failed_without_the_answer(
    world: World, compatible_stub: OpenAIStub, status: int, message: str
) -> None:
    credential = add_credential(world, "openai_compatible", base_url=compatible_stub.base_url)
    compatible_stub.add_faults(Fault.http(status, message=INTERNAL_TEXT))

    tested = credential_test(actor=world.actor(), credential_id=credential.pk)

    host = compatible_stub.origin.removeprefix("http://")
    assert (tested.last_test_ok, tested.last_test_message) == (False, message.format(host=host))
    assert len(compatible_stub.requests) == 1  # it did answer, with the text that is not shown


@pytest.mark.anyio
async def test_a_chat_error_from_an_endpoint_does_not_quote_it(compatible_stub: OpenAIStub) -> None:
    compatible_stub.add_faults(Fault.http(400, message=INTERNAL_TEXT))

    _, error = await stream(compatible_adapter(compatible_stub.base_url), chat())

    assert error is not None
    assert (
        error.message
        == f"The model server at {compatible_stub.origin.removeprefix('http://')} refused the request (400)."
    )


@pytest.mark.anyio
async def test_an_error_inside_an_endpoints_stream_is_not_quoted(compatible_stub: OpenAIStub) -> None:
    compatible_stub.add_faults(Fault.error_event(after_events=2))

    _, error = await stream(compatible_adapter(compatible_stub.base_url), chat())

    assert isinstance(error, ProviderStreamError)
    assert error.message.endswith("broke off after the answer had started: it reported an error.")
    assert "processing your request" not in error.message  # what the stub's error event says


# --- answers are capped in bytes and time ------------------------------------------------------------


@pytest.mark.anyio
async def test_a_stream_that_never_ends_is_cut_at_the_size_its_max_tokens_allow(
    compatible_stub: OpenAIStub, settings: Any
) -> None:
    compatible_stub.add_faults(Fault.endless(after_events=1))
    cap = 5 * settings.MODEL_ANSWER_BYTES_PER_TOKEN + ANSWER_FRAMING_BYTES

    events, error = await stream(compatible_adapter(compatible_stub.base_url), chat(max_output_tokens=5))

    assert isinstance(error, ProviderStreamError) and error.code == "answer_too_large"
    assert error.message == (
        f"The model's answer exceeded {cap:,} bytes, more than 5 output tokens can take, and was cut off."
    )
    assert events  # what came before the cut was shown
    assert compatible_stub.hung_up.wait(10), "the web process kept reading past the cap"


@pytest.mark.anyio
async def test_a_stream_that_drips_forever_is_cut_at_the_deadline(
    compatible_stub: OpenAIStub, settings: Any
) -> None:
    settings.MODEL_CALL_DEADLINE_SECONDS = 0.5
    compatible_stub.add_faults(Fault.endless(after_events=1, seconds=0.02))

    _, error = await stream(compatible_adapter(compatible_stub.base_url), chat(max_output_tokens=100_000))

    assert isinstance(error, ProviderStreamError) and error.code == "answer_too_slow"
    assert error.message == "The model's answer took longer than 0.5 seconds and was cut off."
    assert compatible_stub.hung_up.wait(10)


@pytest.mark.anyio
async def test_openais_own_stream_is_capped_too(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.endless(after_events=1))
    adapter = OpenAIChatAdapter(api_key=OPENAI_KEY, base_url=openai_stub.base_url, call_settings=PATIENT)

    _, error = await stream(adapter, chat("gpt-4o-mini", max_output_tokens=5))

    assert error is not None and error.code == "answer_too_large"
    assert openai_stub.hung_up.wait(10)


@pytest.mark.anyio
async def test_an_anthropic_stream_that_never_ends_is_cut(anthropic_stub: AnthropicStub) -> None:
    """Anthropic's client has no guarded transport (its base URL is the operator's): the stream loop
    holds the same caps, event by event."""
    anthropic_stub.add_faults(Fault.endless(after_events=3))  # the first text delta, again and again
    adapter = AnthropicChatAdapter(
        api_key=ANTHROPIC_KEY, base_url=anthropic_stub.base_url, call_settings=PATIENT
    )

    _, error = await stream(adapter, chat("claude-haiku-4-5", max_output_tokens=5))

    assert isinstance(error, ProviderStreamError) and error.code == "answer_too_large"
    assert anthropic_stub.hung_up.wait(10)


@pytest.mark.anyio
async def test_a_plain_answer_over_the_cap_is_refused(compatible_stub: OpenAIStub, settings: Any) -> None:
    settings.MODEL_RESPONSE_MAX_BYTES = 4000
    compatible_stub.answers["llama3.1:8b"] = "word " * 2000
    adapter = compatible_adapter(compatible_stub.base_url)

    try:
        with pytest.raises(ProviderError) as refused:
            await adapter.complete(chat(max_output_tokens=None))
    finally:
        await adapter.aclose()

    assert refused.value.code == "answer_too_large"
    assert refused.value.message == "The model's answer exceeded 4,000 bytes and was cut off."
    assert len(compatible_stub.requests) == 1  # a cap is not retried


@pytest.mark.anyio
async def test_embeddings_over_their_cap_are_refused(compatible_stub: OpenAIStub) -> None:
    compatible_stub.embedding_size = 60_000  # ~320 KB of base64 for one input; the cap is 192 KiB
    adapter = OpenAIEmbeddingAdapter(
        api_key=None, base_url=compatible_stub.base_url, call_settings=PATIENT, provider="openai_compatible"
    )

    try:
        with pytest.raises(ProviderError) as refused:
            await adapter.embed("nomic-embed-text", ["one text"])
    finally:
        await adapter.aclose()

    assert refused.value.code == "answer_too_large"
    assert refused.value.message.startswith("The embeddings of 1 input exceeded ")
