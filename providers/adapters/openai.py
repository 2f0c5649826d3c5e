"""OpenAI and OpenAI-compatible servers (Ollama, vLLM, LM Studio) through the official ``AsyncOpenAI``.

Chat uses the Chat Completions API streamed with ``stream_options={"include_usage": True}``, which every
compatible server understands (the newer Responses API is OpenAI's alone). Retries with backoff are the
SDK's: it retries 408, 409, 429 and 5xx, connection errors and timeouts, honours ``retry-after-ms`` /
``retry-after`` (up to two minutes), and never retries other 4xx such as 400, 401 and 403.

Every client speaks through ``core.outbound``'s guarded transport: redirects are refused (the SDK would
follow them wherever they point), responses are capped in bytes and time, and for a tenant's own
endpoint (``openai_compatible``) every address is checked when the connection is made — whatever the
base URL resolved to when it was saved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from core import outbound
from providers.adapters.base import (
    CallSettings,
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    EmbeddingResult,
    Naming,
    SdkAdapter,
    SdkErrors,
    Usage,
    answer_limits,
    call_limits,
    embedding_limits,
    endpoint_policy,
    shared_ssl_context,
    translate_error,
)
from providers.errors import ProviderError
from providers.tokens import count_message_tokens, count_tokens, encoding_for_model

OPENAI = "openai"
OPENAI_COMPATIBLE = "openai_compatible"
# The SDK refuses to start without a key, but Ollama and a vLLM started without --api-key need none and
# ignore whatever bearer token they get.
NO_KEY_PLACEHOLDER = "no-key-needed"
# OpenAI's embedding limits per request (its API reference): inputs, and tokens summed over the inputs.
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_TOKENS = 300_000
# One vocabulary for every provider's reason a stream ended (Completed.finish_reason).
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def naming_for(provider: str, base_url: str | None) -> Naming:
    if provider == OPENAI:
        return Naming("OpenAI", "The OpenAI key")
    host = urlsplit(base_url or "").netloc or "your endpoint"
    return Naming(
        f"the model server at {host}", f"The key for the model server at {host}", shows_its_messages=False
    )


def _policy(provider: str) -> outbound.AddressPolicy | None:
    """A tenant's own endpoint is checked at every connection; OpenAI's base URL is the operator's."""
    return endpoint_policy() if provider == OPENAI_COMPATIBLE else None


def make_client(
    *, api_key: str | None, base_url: str | None, call_settings: CallSettings, provider: str = OPENAI
) -> AsyncOpenAI:
    transport = outbound.GuardedAsyncTransport(
        policy=_policy(provider), limits=call_limits(), refuse_redirects=True, verify=shared_ssl_context()
    )
    return AsyncOpenAI(
        api_key=api_key or NO_KEY_PLACEHOLDER,
        base_url=base_url,
        timeout=call_settings.timeout_seconds,
        max_retries=call_settings.max_retries,
        default_headers=call_settings.extra_headers or None,
        http_client=openai.DefaultAsyncHttpxClient(transport=transport, follow_redirects=False),
    )


def make_sync_client(
    *, api_key: str | None, base_url: str | None, timeout_seconds: float, provider: str = OPENAI
) -> openai.OpenAI:
    """A client for one quick probe (the "test connection" button): short timeout, no retries."""
    transport = outbound.GuardedTransport(
        policy=_policy(provider),
        limits=call_limits(timeout_seconds),
        refuse_redirects=True,
        verify=shared_ssl_context(),
    )
    return openai.OpenAI(
        api_key=api_key or NO_KEY_PLACEHOLDER,
        base_url=base_url,
        timeout=timeout_seconds,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=transport, follow_redirects=False),
    )


# --- errors -----------------------------------------------------------------------------------------


def _status_details(error: openai.APIStatusError) -> tuple[str, str]:
    """The message and the error type (its ``code``, else its ``type``) of an error body."""
    body = error.body
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return "", ""
    message = inner.get("message")
    return message if isinstance(message, str) else "", str(inner.get("code") or inner.get("type") or "")


OPENAI_ERRORS = SdkErrors(
    status=openai.APIStatusError,
    timeout=openai.APITimeoutError,
    connection=openai.APIConnectionError,
    stream_timeouts=(openai.APITimeoutError,),
    stream_disconnects=(openai.APIConnectionError, httpx2.HTTPError),
    stream_reports=(openai.APIError,),  # an error object sent inside the 200 stream
    status_details=_status_details,
    report=lambda error: error.message,
)


def openai_error(
    error: BaseException,
    *,
    naming: Naming,
    provider: str,
    secret: str,
    timeout_seconds: float,
) -> ProviderError:
    """What the openai SDK raised outside an adapter (the connection test), as a domain error."""
    return translate_error(
        error, OPENAI_ERRORS, naming=naming, provider=provider, secret=secret, timeout_seconds=timeout_seconds
    )


# --- adapters ---------------------------------------------------------------------------------------


class _OpenAIClientOwner(SdkAdapter):
    errors = OPENAI_ERRORS

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        call_settings: CallSettings | None = None,
        provider: str = OPENAI,
        client: AsyncOpenAI | None = None,
    ) -> None:
        self.provider = provider
        self.call_settings = call_settings or CallSettings()
        self.naming = naming_for(provider, base_url)
        self._secret = api_key or ""
        self._client = client or make_client(
            api_key=api_key, base_url=base_url, call_settings=self.call_settings, provider=provider
        )


def _message_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


def estimate_usage(messages: Sequence[ChatMessage], output: str) -> Usage:
    """Token counts for a server that reports none, from Groundwork's own tokenizer (an estimate for
    models that tokenize differently, which is every model such a server runs)."""
    return Usage(input_tokens=count_message_tokens(messages), output_tokens=count_tokens(output))


@dataclass
class _ChunkReader:
    """A Chat Completions stream, chunk by chunk: the first choice's text, its finish reason and usage."""

    messages: Sequence[ChatMessage]
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model_version: str = ""

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def read(self, chunk: ChatCompletionChunk) -> Iterator[str]:
        self.model_version = self.model_version or chunk.model or ""
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.delta is not None and choice.delta.content:
                self.parts.append(choice.delta.content)
                yield choice.delta.content
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def completed(self) -> Completed:
        assert self.finish_reason is not None  # asked only once finished
        return Completed(
            usage=self.usage or estimate_usage(self.messages, "".join(self.parts)),
            finish_reason=FINISH_REASONS.get(self.finish_reason, self.finish_reason),
            model_version=self.model_version,
        )


class OpenAIChatAdapter(_OpenAIClientOwner):
    """Chat Completions, streamed; also for OpenAI-compatible servers (``provider="openai_compatible"``)."""

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_param(message) for message in request.messages],
        }
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            # OpenAI replaced max_tokens with max_completion_tokens (its reasoning models refuse the old
            # name); compatible servers such as Ollama and older vLLM only know max_tokens.
            name = "max_completion_tokens" if self.provider == OPENAI else "max_tokens"
            arguments[name] = request.max_output_tokens
        return arguments

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        arguments = self._arguments(request)
        return self._stream(
            lambda: self._client.chat.completions.create(
                **arguments, stream=True, stream_options={"include_usage": True}
            ),
            _ChunkReader(request.messages),
            model=request.model,
            limits=answer_limits(request.max_output_tokens),
        )

    async def complete(self, request: ChatRequest) -> tuple[str, Completed]:
        """One plain (non-streamed) completion: the whole text and its Completed event."""
        response = await self._call(
            self._client.chat.completions.create(**self._arguments(request)),
            model=request.model,
            limits=answer_limits(request.max_output_tokens),
        )
        if not response.choices:
            raise ProviderError(
                f"{self.naming.title} answered without any text.", provider=self.provider, code="bad_response"
            )
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = (
            Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
            if response.usage is not None
            else estimate_usage(request.messages, text)
        )
        reason = choice.finish_reason or "stop"
        return text, Completed(
            usage=usage, finish_reason=FINISH_REASONS.get(reason, reason), model_version=response.model or ""
        )


def embedding_batches(
    token_counts: Sequence[int],
    *,
    max_inputs: int = MAX_EMBEDDING_INPUTS,
    max_tokens: int = MAX_EMBEDDING_TOKENS,
) -> list[range]:
    """Consecutive index ranges, each within both limits. An input over the token limit goes alone (and
    the provider's 400 then names the problem)."""
    batches: list[range] = []
    start, tokens = 0, 0
    for index, count in enumerate(token_counts):
        if index > start and (index - start >= max_inputs or tokens + count > max_tokens):
            batches.append(range(start, index))
            start, tokens = index, 0
        tokens += count
    if start < len(token_counts):
        batches.append(range(start, len(token_counts)))
    return batches


class OpenAIEmbeddingAdapter(_OpenAIClientOwner):
    """Embeddings, batched to OpenAI's per-request limits, one request at a time, order preserved."""

    async def embed(self, model: str, texts: Sequence[str]) -> EmbeddingResult:
        if not texts:
            return EmbeddingResult(vectors=[], input_tokens=0, batches=0)
        encoding = encoding_for_model(model)
        estimates = [count_tokens(text, encoding=encoding) for text in texts]
        vectors: list[list[float]] = []
        input_tokens = 0
        model_version = ""
        batches = embedding_batches(estimates)
        for batch in batches:
            inputs = [texts[index] for index in batch]
            response = await self._call(
                self._client.embeddings.create(model=model, input=inputs),
                model=model,
                limits=embedding_limits(len(inputs)),
            )
            # Vectors are paired with inputs by `index`; nothing promises they arrive in that order.
            data = sorted(response.data, key=lambda item: item.index)
            if [item.index for item in data] != list(range(len(inputs))):
                raise ProviderError(
                    f"{self.naming.title} returned {len(data)} vectors for {len(inputs)} texts.",
                    provider=self.provider,
                    code="bad_response",
                )
            vectors.extend([float(value) for value in item.embedding] for item in data)
            reported = response.usage.prompt_tokens if response.usage is not None else 0
            input_tokens += reported or sum(estimates[index] for index in batch)
            model_version = model_version or response.model or ""
        return EmbeddingResult(
            vectors=vectors, input_tokens=input_tokens, model_version=model_version, batches=len(batches)
        )
