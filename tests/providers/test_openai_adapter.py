"""The OpenAI adapter through the real ``openai`` SDK against the OpenAI stub: requests, streams, faults."""

from __future__ import annotations

import time

import pytest

from providers.adapters.base import CallSettings, ChatMessage, ChatRequest, Completed, TextDelta, Usage
from providers.adapters.openai import (
    NO_KEY_PLACEHOLDER,
    OpenAIChatAdapter,
    OpenAIEmbeddingAdapter,
    embedding_batches,
)
from providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.tokens import count_message_tokens, count_tokens
from tests.providers.helpers import OPENAI_KEY, closed_port_url, collect
from tests.stubs import Fault, count_words
from tests.stubs.openai_stub import OpenAIStub, embedding_for, model_version

pytestmark = pytest.mark.anyio

PATIENT = CallSettings(timeout_seconds=5.0, max_retries=3)
ANSWER = "Paris is the capital of France."
MESSAGES = [
    ChatMessage("system", "Answer from the passages only."),
    ChatMessage("user", "What is the capital of France?"),
]
PROMPT_WORDS = sum(count_words(message.content) for message in MESSAGES)


def chat_adapter(
    stub: OpenAIStub,
    *,
    api_key: str | None = OPENAI_KEY,
    settings: CallSettings = PATIENT,
    provider: str = "openai",
) -> OpenAIChatAdapter:
    return OpenAIChatAdapter(
        api_key=api_key, base_url=stub.base_url, call_settings=settings, provider=provider
    )


async def stream(
    adapter: OpenAIChatAdapter, request: ChatRequest
) -> tuple[list[object], ProviderError | None]:
    try:
        return await collect(adapter.stream(request))
    finally:
        await adapter.aclose()


def texts(events: list[object]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


# --- chat -------------------------------------------------------------------------------------------


async def test_streamed_chat_sends_the_request_and_yields_text_then_usage(openai_stub: OpenAIStub) -> None:
    openai_stub.answers["gpt-4o-mini"] = ANSWER
    request = ChatRequest(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_output_tokens=100)

    events, error = await stream(chat_adapter(openai_stub), request)

    assert error is None
    assert texts(events) == ["Paris", " is", " the", " capital", " of", " France."]
    assert events[-1] == Completed(
        usage=Usage(input_tokens=PROMPT_WORDS, output_tokens=6),
        finish_reason="stop",
        model_version=model_version("gpt-4o-mini"),
    )
    [sent] = openai_stub.requests_to("/v1/chat/completions")
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer from the passages only."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0.2,
        "max_completion_tokens": 100,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"


async def test_plain_chat_returns_the_whole_answer(openai_stub: OpenAIStub) -> None:
    openai_stub.answers["gpt-4o-mini"] = ANSWER
    adapter = chat_adapter(openai_stub)

    text, completed = await adapter.complete(ChatRequest(model="gpt-4o-mini", messages=MESSAGES))
    await adapter.aclose()

    assert text == ANSWER
    assert completed == Completed(Usage(PROMPT_WORDS, 6), "stop", model_version("gpt-4o-mini"))
    [sent] = openai_stub.requests_to("/v1/chat/completions")
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": message.role, "content": message.content} for message in MESSAGES],
    }


async def test_an_answer_cut_by_the_output_limit_finishes_with_length(openai_stub: OpenAIStub) -> None:
    openai_stub.answers["gpt-4o"] = ANSWER
    request = ChatRequest(model="gpt-4o", messages=MESSAGES, max_output_tokens=3)

    events, error = await stream(chat_adapter(openai_stub), request)

    assert error is None
    assert "".join(texts(events)) == "Paris is the"
    assert isinstance(events[-1], Completed)
    assert events[-1].finish_reason == "length"
    assert events[-1].usage.output_tokens == 3


async def test_a_compatible_server_without_key_or_usage_gets_a_placeholder_key_and_estimates(
    compatible_stub: OpenAIStub,
) -> None:
    compatible_stub.send_usage = False  # like servers that ignore stream_options.include_usage
    compatible_stub.answers["llama3.1:8b"] = ANSWER
    adapter = chat_adapter(compatible_stub, api_key=None, provider="openai_compatible")
    request = ChatRequest(model="llama3.1:8b", messages=MESSAGES, max_output_tokens=50)

    events, error = await stream(adapter, request)

    assert error is None
    assert events[-1] == Completed(
        usage=Usage(count_message_tokens(MESSAGES), count_tokens(ANSWER)),
        finish_reason="stop",
        model_version=model_version("llama3.1:8b"),
    )
    [sent] = compatible_stub.requests_to("/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {NO_KEY_PLACEHOLDER}"
    assert sent.body["max_tokens"] == 50  # the name compatible servers understand
    assert "max_completion_tokens" not in sent.body


# --- embeddings -------------------------------------------------------------------------------------


async def test_embeddings_are_batched_to_2048_inputs_in_order(openai_stub: OpenAIStub) -> None:
    inputs = [f"passage number {index}" for index in range(5000)]
    adapter = OpenAIEmbeddingAdapter(api_key=OPENAI_KEY, base_url=openai_stub.base_url, call_settings=PATIENT)

    result = await adapter.embed("text-embedding-3-small", inputs)
    await adapter.aclose()

    sent = openai_stub.requests_to("/v1/embeddings")
    assert [len(request.body["input"]) for request in sent] == [2048, 2048, 904]
    assert [text for request in sent for text in request.body["input"]] == inputs
    assert all(request.body["encoding_format"] == "base64" for request in sent)
    assert result.vectors == [embedding_for(text) for text in inputs]
    assert result.input_tokens == 3 * 5000  # as the stub reported, summed over the batches
    assert result.batches == 3
    assert result.model_version == "text-embedding-3-small"


async def test_embeddings_stay_under_300000_tokens_per_request(openai_stub: OpenAIStub) -> None:
    long_text = "word " * 999 + "word"  # 1,000 tokens by the adapter's count, 1,000 words by the stub's
    assert count_tokens(long_text) == 1000
    adapter = OpenAIEmbeddingAdapter(api_key=OPENAI_KEY, base_url=openai_stub.base_url, call_settings=PATIENT)

    result = await adapter.embed("text-embedding-3-small", [long_text] * 450)
    await adapter.aclose()

    sent = openai_stub.requests_to("/v1/embeddings")
    assert [len(request.body["input"]) for request in sent] == [300, 150]
    assert len(result.vectors) == 450
    assert result.input_tokens == 450_000


def test_batches_respect_both_limits() -> None:
    assert embedding_batches([1] * 5000) == [range(0, 2048), range(2048, 4096), range(4096, 5000)]
    assert embedding_batches([200_000, 100_000, 1, 150_000]) == [range(0, 2), range(2, 4)]
    assert embedding_batches([400_000, 10]) == [range(0, 1), range(1, 2)]  # too big: alone, the API says why
    assert embedding_batches([]) == []


async def test_no_texts_make_no_request(openai_stub: OpenAIStub) -> None:
    adapter = OpenAIEmbeddingAdapter(api_key=OPENAI_KEY, base_url=openai_stub.base_url, call_settings=PATIENT)

    result = await adapter.embed("text-embedding-3-small", [])
    await adapter.aclose()

    assert result.vectors == [] and result.batches == 0
    assert openai_stub.requests == []


# --- faults -----------------------------------------------------------------------------------------


async def test_429_is_retried_after_the_time_the_server_asks_for(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.http(429, retry_after="0.3"), Fault.http(429, retry_after="0.3"))
    started = time.monotonic()

    events, error = await stream(
        chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES)
    )

    assert error is None and isinstance(events[-1], Completed)
    assert time.monotonic() - started >= 0.6
    sent = openai_stub.requests_to("/v1/chat/completions")
    assert [request.headers["x-stainless-retry-count"] for request in sent] == ["0", "1", "2"]


async def test_500_is_retried(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.http(500))

    events, error = await stream(
        chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES)
    )

    assert error is None and isinstance(events[-1], Completed)
    assert len(openai_stub.requests_to("/v1/chat/completions")) == 2


@pytest.mark.parametrize(
    ("status", "error_class", "code", "message"),
    [
        (429, ProviderRateLimited, "rate_limited", "Rate limited by OpenAI, retried 3 times."),
        (500, ProviderUnavailable, "server_error", "OpenAI had a server error (500), retried 3 times."),
        (503, ProviderUnavailable, "server_error", "OpenAI had a server error (503), retried 3 times."),
    ],
)
async def test_retries_run_out(
    openai_stub: OpenAIStub, status: int, error_class: type[ProviderError], code: str, message: str
) -> None:
    openai_stub.add_faults(*[Fault.http(status)] * 4)

    events, error = await stream(
        chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES)
    )

    assert events == []
    assert type(error) is error_class
    assert (error.code, error.message, error.provider) == (code, message, "openai")
    assert len(openai_stub.requests_to("/v1/chat/completions")) == 4


async def test_out_of_credit_says_so(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(*[Fault.http(429, error_type="insufficient_quota")] * 2)

    _, error = await stream(
        chat_adapter(openai_stub, settings=CallSettings(timeout_seconds=5, max_retries=1)),
        ChatRequest(model="gpt-4o-mini", messages=MESSAGES),
    )

    assert isinstance(error, ProviderRateLimited)
    assert error.code == "quota"
    assert error.message == "OpenAI says the account has no credit left (insufficient quota), retried once."


async def test_a_rejected_key_is_not_retried(openai_stub: OpenAIStub) -> None:
    events, error = await stream(
        chat_adapter(openai_stub, api_key="sk-wrong-key-000000000"),
        ChatRequest(model="gpt-4o-mini", messages=MESSAGES),
    )

    assert events == []
    assert isinstance(error, ProviderAuthError)
    assert (error.code, error.message) == (
        "auth",
        "The OpenAI key was rejected. Check or replace it in Models.",
    )
    assert len(openai_stub.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, ProviderBadRequest, "bad_request"),
        (403, ProviderAuthError, "forbidden"),
        (404, ProviderBadRequest, "not_found"),
    ],
)
async def test_client_errors_are_not_retried(
    openai_stub: OpenAIStub, status: int, error_class: type[ProviderError], code: str
) -> None:
    openai_stub.add_faults(Fault.http(status, message="Something about the request is wrong."))

    _, error = await stream(chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES))

    assert type(error) is error_class and error.code == code
    assert len(openai_stub.requests) == 1


async def test_an_unknown_model_is_named(openai_stub: OpenAIStub) -> None:
    openai_stub.unknown_models.add("gpt-9")

    _, error = await stream(chat_adapter(openai_stub), ChatRequest(model="gpt-9", messages=MESSAGES))

    assert isinstance(error, ProviderBadRequest)
    assert error.message.startswith(
        "OpenAI does not know the model “gpt-9”: The model `gpt-9` does not exist"
    )


async def test_a_key_quoted_by_the_provider_is_cut_from_the_message(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.http(400, message=f"Invalid header: Bearer {OPENAI_KEY}; key {OPENAI_KEY}"))

    _, error = await stream(chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES))

    assert isinstance(error, ProviderBadRequest)
    assert OPENAI_KEY not in error.message and "0123456789" not in error.message
    assert "[redacted]" in error.message
    assert error.__cause__ is None and error.__context__ is None  # the SDK's unscrubbed text is not attached


async def test_a_server_slower_than_the_timeout_is_a_timeout(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.delay(3), Fault.delay(3))
    hasty = CallSettings(timeout_seconds=0.3, max_retries=1)

    _, error = await stream(
        chat_adapter(openai_stub, settings=hasty), ChatRequest(model="gpt-4o", messages=MESSAGES)
    )

    assert isinstance(error, ProviderTimeout)
    assert (error.code, error.message) == (
        "timeout",
        "OpenAI did not answer within 0.3 seconds, retried once.",
    )
    assert openai_stub.received(2) == 2


async def test_an_unreachable_server_is_unavailable() -> None:
    adapter = OpenAIChatAdapter(
        api_key=OPENAI_KEY, base_url=closed_port_url("/v1"), call_settings=CallSettings(5, max_retries=1)
    )

    _, error = await stream(adapter, ChatRequest(model="gpt-4o", messages=MESSAGES))

    assert isinstance(error, ProviderUnavailable)
    assert (error.code, error.message) == ("connection", "Could not connect to OpenAI, retried once.")


async def test_a_stream_cut_half_way_is_a_stream_error_after_the_partial_text(
    openai_stub: OpenAIStub,
) -> None:
    openai_stub.answers["gpt-4o-mini"] = ANSWER
    openai_stub.add_faults(Fault.cut(after_events=3))  # the role chunk, then two words

    events, error = await stream(
        chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES)
    )

    assert texts(events) == ["Paris", " is"]
    assert isinstance(error, ProviderStreamError)
    assert error.code == "stream_interrupted"
    assert error.message == (
        "The answer from OpenAI broke off after the answer had started: "
        "the connection closed in the middle of the stream."
    )
    assert len(openai_stub.requests) == 1  # a started stream is never retried


async def test_a_malformed_event_is_a_stream_error(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.malformed(after_events=2))

    events, error = await stream(
        chat_adapter(openai_stub), ChatRequest(model="gpt-4o-mini", messages=MESSAGES)
    )

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert error.code == "stream_malformed"


async def test_a_stream_that_stalls_is_a_stream_error(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.stall(after_events=2, seconds=3))
    hasty = CallSettings(timeout_seconds=0.3, max_retries=3)

    events, error = await stream(
        chat_adapter(openai_stub, settings=hasty), ChatRequest(model="gpt-4o", messages=MESSAGES)
    )

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert error.message.endswith("it sent nothing for 0.3 seconds.")


async def test_an_error_inside_the_stream_is_a_stream_error(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.error_event(after_events=2))

    events, error = await stream(chat_adapter(openai_stub), ChatRequest(model="gpt-4o", messages=MESSAGES))

    assert texts(events) == ["Hello"]
    assert isinstance(error, ProviderStreamError)
    assert "it reported an error (The server had an error while processing your request.)" in error.message


async def test_a_stream_cut_before_any_text_says_so(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(Fault.cut(after_events=0))

    events, error = await stream(chat_adapter(openai_stub), ChatRequest(model="gpt-4o", messages=MESSAGES))

    assert events == []
    assert isinstance(error, ProviderStreamError)
    assert "before any text arrived" in error.message
    assert error.retryable  # so a fallback model may still answer


async def test_embedding_faults_are_mapped_too(openai_stub: OpenAIStub) -> None:
    openai_stub.add_faults(*[Fault.http(429)] * 2)
    adapter = OpenAIEmbeddingAdapter(
        api_key=OPENAI_KEY, base_url=openai_stub.base_url, call_settings=CallSettings(5, max_retries=1)
    )

    with pytest.raises(ProviderRateLimited, match=r"^Rate limited by OpenAI, retried once\.$"):
        await adapter.embed("text-embedding-3-small", ["one", "two"])
    await adapter.aclose()
    assert len(openai_stub.requests_to("/v1/embeddings")) == 2
