"""The Anthropic adapter through the real ``anthropic`` SDK against the Anthropic stub."""

from __future__ import annotations

import pytest

from providers.adapters.anthropic import DEFAULT_MAX_OUTPUT_TOKENS, AnthropicChatAdapter
from providers.adapters.base import CallSettings, ChatMessage, ChatRequest, Completed, TextDelta, Usage
from providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderTimeout,
    ProviderUnavailable,
)
from tests.providers.helpers import ANTHROPIC_KEY, collect
from tests.stubs import Fault, count_words
from tests.stubs.anthropic_stub import AnthropicStub, model_version

pytestmark = pytest.mark.anyio

PATIENT = CallSettings(timeout_seconds=5.0, max_retries=3)
ANSWER = "Refunds take five working days."
MESSAGES = [
    ChatMessage("system", "You are the support assistant of Acme."),
    ChatMessage("system", "Be brief."),
    ChatMessage("user", "Hello"),
    ChatMessage("assistant", "Hi! How can I help?"),
    ChatMessage("user", "How long do refunds take?"),
]
PROMPT_WORDS = sum(count_words(message.content) for message in MESSAGES)
# Events before the first text: message_start, content_block_start, ping.
EVENTS_BEFORE_TEXT = 3


def adapter_for(
    stub: AnthropicStub, *, api_key: str = ANTHROPIC_KEY, settings: CallSettings = PATIENT
) -> AnthropicChatAdapter:
    return AnthropicChatAdapter(api_key=api_key, base_url=stub.base_url, call_settings=settings)


async def stream(
    adapter: AnthropicChatAdapter, request: ChatRequest
) -> tuple[list[object], ProviderError | None]:
    try:
        return await collect(adapter.stream(request))
    finally:
        await adapter.aclose()


def texts(events: list[object]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


def request(**changes: object) -> ChatRequest:
    values: dict[str, object] = {"model": "claude-haiku-4-5", "messages": MESSAGES, "max_output_tokens": 1024}
    values.update(changes)
    return ChatRequest(**values)  # type: ignore[arg-type]


async def test_streamed_chat_puts_system_messages_in_system_and_reports_usage(
    anthropic_stub: AnthropicStub,
) -> None:
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER

    events, error = await stream(adapter_for(anthropic_stub), request(temperature=0.7))

    assert error is None
    assert texts(events) == ["Refunds", " take", " five", " working", " days."]
    assert events[-1] == Completed(
        usage=Usage(
            input_tokens=PROMPT_WORDS, output_tokens=5
        ),  # message_start's input, message_delta's output
        finish_reason="stop",
        model_version=model_version("claude-haiku-4-5"),
    )
    [sent] = anthropic_stub.requests_to("/v1/messages")
    # No temperature: API version 2026-10-21 refuses sampling parameters (the stub answers 400 to them).
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "How long do refunds take?"},
        ],
        "system": "You are the support assistant of Acme.\n\nBe brief.",
        "stream": True,
    }
    assert sent.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert sent.headers["anthropic-version"]


async def test_max_tokens_has_a_default_and_a_reached_limit_finishes_with_length(
    anthropic_stub: AnthropicStub,
) -> None:
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER

    events, _ = await stream(
        adapter_for(anthropic_stub), request(max_output_tokens=None, messages=MESSAGES[2:3])
    )
    limited, _ = await stream(adapter_for(anthropic_stub), request(max_output_tokens=2))

    first, second = anthropic_stub.requests_to("/v1/messages")
    assert first.body["max_tokens"] == DEFAULT_MAX_OUTPUT_TOKENS
    assert "system" not in first.body
    assert second.body["max_tokens"] == 2
    assert isinstance(events[-1], Completed) and events[-1].finish_reason == "stop"
    assert "".join(texts(limited)) == "Refunds take"
    assert isinstance(limited[-1], Completed) and limited[-1].finish_reason == "length"


async def test_plain_chat_returns_the_whole_answer(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER
    adapter = adapter_for(anthropic_stub)

    text, completed = await adapter.complete(request())
    await adapter.aclose()

    assert text == ANSWER
    assert completed == Completed(Usage(PROMPT_WORDS, 5), "stop", model_version("claude-haiku-4-5"))
    [sent] = anthropic_stub.requests_to("/v1/messages")
    assert "stream" not in sent.body
    assert sent.body["system"] == "You are the support assistant of Acme.\n\nBe brief."


async def test_529_overloaded_is_retried(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.add_faults(Fault.http(529), Fault.http(529))

    events, error = await stream(adapter_for(anthropic_stub), request())

    assert error is None and isinstance(events[-1], Completed)
    sent = anthropic_stub.requests_to("/v1/messages")
    assert [request.headers["x-stainless-retry-count"] for request in sent] == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("status", "error_class", "code", "message"),
    [
        (529, ProviderUnavailable, "overloaded", "Anthropic is overloaded (529), retried 3 times."),
        (429, ProviderRateLimited, "rate_limited", "Rate limited by Anthropic, retried 3 times."),
        (500, ProviderUnavailable, "server_error", "Anthropic had a server error (500), retried 3 times."),
    ],
)
async def test_retries_run_out(
    anthropic_stub: AnthropicStub, status: int, error_class: type[ProviderError], code: str, message: str
) -> None:
    anthropic_stub.add_faults(*[Fault.http(status)] * 4)

    events, error = await stream(adapter_for(anthropic_stub), request())

    assert events == []
    assert type(error) is error_class
    assert (error.code, error.message, error.provider) == (code, message, "anthropic")
    assert len(anthropic_stub.requests) == 4


async def test_a_rejected_key_is_not_retried(anthropic_stub: AnthropicStub) -> None:
    _, error = await stream(adapter_for(anthropic_stub, api_key="sk-ant-wrong-000000000"), request())

    assert isinstance(error, ProviderAuthError)
    assert error.message == "The Anthropic key was rejected. Check or replace it in Models."
    assert len(anthropic_stub.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, ProviderBadRequest), (403, ProviderAuthError), (404, ProviderBadRequest)],
)
async def test_client_errors_are_not_retried(
    anthropic_stub: AnthropicStub, status: int, error_class: type[ProviderError]
) -> None:
    anthropic_stub.add_faults(Fault.http(status, message="messages: text content blocks must be non-empty"))

    _, error = await stream(adapter_for(anthropic_stub), request())

    assert type(error) is error_class
    assert len(anthropic_stub.requests) == 1


async def test_the_provider_explains_a_bad_request(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.unknown_models.add("claude-0")

    _, error = await stream(adapter_for(anthropic_stub), request(model="claude-0"))

    assert isinstance(error, ProviderBadRequest)
    assert error.message == "Anthropic does not know the model “claude-0”: model: claude-0"


async def test_a_server_slower_than_the_timeout_is_a_timeout(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.add_faults(Fault.delay(3), Fault.delay(3))

    _, error = await stream(adapter_for(anthropic_stub, settings=CallSettings(0.3, max_retries=1)), request())

    assert isinstance(error, ProviderTimeout)
    assert error.message == "Anthropic did not answer within 0.3 seconds, retried once."
    assert anthropic_stub.received(2) == 2


async def test_a_stream_cut_half_way_is_a_stream_error_after_the_partial_text(
    anthropic_stub: AnthropicStub,
) -> None:
    anthropic_stub.answers["claude-haiku-4-5"] = ANSWER
    anthropic_stub.add_faults(Fault.cut(after_events=EVENTS_BEFORE_TEXT + 2))

    events, error = await stream(adapter_for(anthropic_stub), request())

    assert texts(events) == ["Refunds", " take"]
    assert isinstance(error, ProviderStreamError)
    assert error.message == (
        "The answer from Anthropic broke off after the answer had started: "
        "the connection closed in the middle of the stream."
    )
    assert len(anthropic_stub.requests) == 1


async def test_a_malformed_event_is_a_stream_error(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.add_faults(Fault.malformed(after_events=EVENTS_BEFORE_TEXT + 1))

    events, error = await stream(adapter_for(anthropic_stub), request())

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert error.code == "stream_malformed"


async def test_an_overloaded_error_event_mid_stream_is_a_stream_error(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.add_faults(Fault.error_event(after_events=EVENTS_BEFORE_TEXT + 1))

    events, error = await stream(adapter_for(anthropic_stub), request())

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert error.message.endswith("after the answer had started: it reported an error (overloaded_error).")


async def test_a_stream_that_stalls_is_a_stream_error(anthropic_stub: AnthropicStub) -> None:
    anthropic_stub.add_faults(Fault.stall(after_events=EVENTS_BEFORE_TEXT + 1, seconds=3))

    events, error = await stream(
        adapter_for(anthropic_stub, settings=CallSettings(0.3, max_retries=3)), request()
    )

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert error.message.endswith("it sent nothing for 0.3 seconds.")
