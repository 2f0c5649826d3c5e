"""OpenAI and OpenAI-compatible servers (Ollama, vLLM, LM Studio) through the official ``AsyncOpenAI``.

Chat uses the Chat Completions API streamed with ``stream_options={"include_usage": True}``, which every
compatible server understands (the newer Responses API is OpenAI's alone). Retries with backoff are the
SDK's: it retries 408, 409, 429 and 5xx, connection errors and timeouts, honours ``retry-after-ms`` /
``retry-after`` (up to two minutes), and never retries other 4xx such as 400, 401 and 403.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from providers.adapters.base import (
    CallSettings,
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    EmbeddingResult,
    SdkAdapter,
    TextDelta,
    Usage,
    shared_ssl_context,
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
from providers.tokens import count_message_tokens, count_tokens, encoding_for_model

logger = logging.getLogger(__name__)
T = TypeVar("T")

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
# Anything in a provider's message that looks like a key is cut out before a tenant (or a log) sees it.
KEY_PATTERN = re.compile(r"\b(?:sk|gw_sk)[-_][A-Za-z0-9_\-*.]{6,}|Bearer\s+\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Naming:
    """How messages name the other side: mid-sentence ("OpenAI"), and its key ("The OpenAI key")."""

    name: str
    key_phrase: str

    @property
    def title(self) -> str:
        return self.name[:1].upper() + self.name[1:]


def naming_for(provider: str, base_url: str | None) -> Naming:
    if provider == OPENAI:
        return Naming("OpenAI", "The OpenAI key")
    host = urlsplit(base_url or "").netloc or "your endpoint"
    return Naming(f"the model server at {host}", f"The key for the model server at {host}")


def make_client(*, api_key: str | None, base_url: str | None, call_settings: CallSettings) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=api_key or NO_KEY_PLACEHOLDER,
        base_url=base_url,
        timeout=call_settings.timeout_seconds,
        max_retries=call_settings.max_retries,
        default_headers=call_settings.extra_headers or None,
        http_client=openai.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
    )


def make_sync_client(*, api_key: str | None, base_url: str | None, timeout_seconds: float) -> openai.OpenAI:
    """A client for one quick probe (the "test connection" button): short timeout, no retries."""
    return openai.OpenAI(
        api_key=api_key or NO_KEY_PLACEHOLDER, base_url=base_url, timeout=timeout_seconds, max_retries=0
    )


# --- errors -----------------------------------------------------------------------------------------


def scrub(text: str, secret: str) -> str:
    """The text without the secret or anything shaped like a key, shortened for a message."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return KEY_PATTERN.sub("[redacted]", text)[:300]


def retried(count: int) -> str:
    if count <= 0:
        return "not retried"
    return "retried once" if count == 1 else f"retried {count} times"


def retries_taken(request: httpx2.Request | None) -> int:
    """How many retries the SDK made before this final attempt: it stamps each attempt's number on it."""
    if request is None:
        return 0
    try:
        return int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        return 0


def _provider_message(body: object) -> str:
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def status_error(
    status: int,
    *,
    naming: Naming,
    provider: str,
    retries: int,
    detail: str,
    model: str = "",
    error_type: str = "",
) -> ProviderError:
    """The domain error for an HTTP error status that survived the SDK's retries (or was not retried)."""
    if status == 401:
        return ProviderAuthError(
            f"{naming.key_phrase} was rejected. Check or replace it in Models.",
            provider=provider,
            code="auth",
        )
    if status == 403:
        target = f"use {model}" if model else "do this"
        return ProviderAuthError(
            f"{naming.key_phrase} is not allowed to {target} (permission denied).",
            provider=provider,
            code="forbidden",
        )
    if status == 429:
        if error_type == "insufficient_quota":
            return ProviderRateLimited(
                f"{naming.title} says the account has no credit left (insufficient quota), "
                f"{retried(retries)}.",
                provider=provider,
                code="quota",
            )
        return ProviderRateLimited(
            f"Rate limited by {naming.name}, {retried(retries)}.", provider=provider, code="rate_limited"
        )
    if status == 529 or error_type == "overloaded_error":
        return ProviderUnavailable(
            f"{naming.title} is overloaded ({status}), {retried(retries)}.",
            provider=provider,
            code="overloaded",
        )
    if status >= 500:
        return ProviderUnavailable(
            f"{naming.title} had a server error ({status}), {retried(retries)}.",
            provider=provider,
            code="server_error",
        )
    if status == 404:
        about = f"the model “{model}”" if model else "what was asked for"
        return ProviderBadRequest(
            f"{naming.title} does not know {about}" + (f": {detail}" if detail else "."),
            provider=provider,
            code="not_found",
        )
    return ProviderBadRequest(
        f"{naming.title} refused the request ({status})" + (f": {detail}" if detail else "."),
        provider=provider,
        code="bad_request",
    )


def stream_error(
    reason: str, *, naming: Naming, provider: str, text_started: bool, code: str = "stream_interrupted"
) -> ProviderStreamError:
    when = "after the answer had started" if text_started else "before any text arrived"
    return ProviderStreamError(
        f"The answer from {naming.name} broke off {when}: {reason}.", provider=provider, code=code
    )


def openai_error(
    error: BaseException,
    *,
    naming: Naming,
    provider: str,
    secret: str,
    timeout_seconds: float,
    model: str = "",
    in_stream: bool = False,
    text_started: bool = False,
) -> ProviderError:
    """Translate what the openai SDK raised into a domain error whose message a tenant can act on.

    ``in_stream``: raised while reading a started stream (the SDK never retries those), where every
    failure is a ProviderStreamError — retryable, so a fallback model may answer if no text was shown.
    """
    if isinstance(error, ProviderError):
        return error
    if in_stream:
        if isinstance(error, openai.APITimeoutError):
            reason = f"it sent nothing for {timeout_seconds:g} seconds"
            return stream_error(reason, naming=naming, provider=provider, text_started=text_started)
        if isinstance(error, openai.APIConnectionError | httpx2.HTTPError):
            reason = "the connection closed in the middle of the stream"
            return stream_error(reason, naming=naming, provider=provider, text_started=text_started)
        if isinstance(error, openai.APIError):  # an error object sent inside the 200 stream
            reason = f"it reported an error ({scrub(error.message, secret)})"
            return stream_error(reason, naming=naming, provider=provider, text_started=text_started)
        return stream_error(
            "it sent an event Groundwork could not read",
            naming=naming,
            provider=provider,
            text_started=text_started,
            code="stream_malformed",
        )
    if isinstance(error, openai.APIStatusError):
        body = error.body
        error_type = ""
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict):
                error_type = str(inner.get("code") or inner.get("type") or "")
        logger.debug(
            "%s answered %s (request id %s)", naming.name, error.status_code, error.request_id or "none"
        )
        return status_error(
            error.status_code,
            naming=naming,
            provider=provider,
            retries=retries_taken(error.response.request),
            detail=scrub(_provider_message(body), secret),
            model=model,
            error_type=error_type,
        )
    if isinstance(error, openai.APITimeoutError):
        return ProviderTimeout(
            f"{naming.title} did not answer within {timeout_seconds:g} seconds, "
            f"{retried(retries_taken(error.request))}.",
            provider=provider,
            code="timeout",
        )
    if isinstance(error, openai.APIConnectionError):
        return ProviderUnavailable(
            f"Could not connect to {naming.name}, {retried(retries_taken(error.request))}.",
            provider=provider,
            code="connection",
        )
    return ProviderError(
        f"The call to {naming.name} failed: its answer could not be read ({type(error).__name__}).",
        provider=provider,
        code="bad_response",
    )


# --- adapters ---------------------------------------------------------------------------------------


class _OpenAIClientOwner(SdkAdapter):
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
            api_key=api_key, base_url=base_url, call_settings=self.call_settings
        )

    def _error(
        self, error: BaseException, *, model: str, in_stream: bool = False, text_started: bool = False
    ) -> ProviderError:
        return openai_error(
            error,
            naming=self.naming,
            provider=self.provider,
            secret=self._secret,
            timeout_seconds=self.call_settings.timeout_seconds,
            model=model,
            in_stream=in_stream,
            text_started=text_started,
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

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        response = await self._call(
            self._client.chat.completions.create(
                **self._arguments(request), stream=True, stream_options={"include_usage": True}
            ),
            model=request.model,
        )
        failure: ProviderError | None = None
        parts: list[str] = []
        finish_reason: str | None = None
        usage: Usage | None = None
        model_version = ""
        try:
            async for chunk in response:
                model_version = model_version or chunk.model or ""
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                        yield TextDelta(choice.delta.content)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except Exception as error:
            failure = self._error(error, model=request.model, in_stream=True, text_started=bool(parts))
        finally:
            await response.close()
        if failure is not None:
            raise failure  # outside the handler, as in _call
        if finish_reason is None:
            raise stream_error(
                "the stream ended without saying the answer was complete",
                naming=self.naming,
                provider=self.provider,
                text_started=bool(parts),
                code="stream_incomplete",
            )
        yield Completed(
            usage=usage or estimate_usage(request.messages, "".join(parts)),
            finish_reason=FINISH_REASONS.get(finish_reason, finish_reason),
            model_version=model_version,
        )

    async def complete(self, request: ChatRequest) -> tuple[str, Completed]:
        """One plain (non-streamed) completion: the whole text and its Completed event."""
        response = await self._call(
            self._client.chat.completions.create(**self._arguments(request)), model=request.model
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
                self._client.embeddings.create(model=model, input=inputs), model=model
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
