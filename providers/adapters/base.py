"""One interface for every foundation model: chat as an async stream of events, embeddings as vectors.

Adapters wrap the official SDKs (``openai``, ``anthropic``), an OpenAI-compatible server through the
``openai`` SDK with a ``base_url``, or the built-in local models. They know nothing about tenants,
metering or fallbacks: ``providers.services`` adds those around them.

What the SDK-backed adapters share lives here too: one vocabulary for failures (tenants read the same
sentences whichever provider failed; each SDK only says which of its exceptions means what) and the
reading of a streamed answer (each SDK only says what its events carry), cut at a size derived from
the call's max output tokens and at a wall-clock deadline (:func:`answer_limits`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import httpx2
from django.conf import settings

from core import outbound
from providers.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderStreamError,
    ProviderTimeout,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Passage:
    """A retrieved passage offered to the model (and, for the no-LLM answerer, the answer itself)."""

    text: str
    title: str = ""
    source: str = ""  # URL or filename with page/anchor
    score: float = 0.0


Audience = Literal["owner", "visitor"]


@dataclass(frozen=True)
class ChatRequest:
    model: str  # the provider's model id, e.g. "gpt-4o-mini" or "claude-haiku-4-5"
    messages: Sequence[ChatMessage]
    temperature: float | None = None
    max_output_tokens: int | None = None
    passages: Sequence[Passage] = ()  # used by the local no-LLM answerer; others get them inside messages
    # Who reads the answer: "visitor" (the widget and the APIs) or "owner" (the builder's playground). Only
    # the local no-LLM answerer words its reply differently; a language model gets the same prompt.
    audience: Audience = "owner"


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Completed:
    """The last event of a successful stream."""

    usage: Usage
    finish_reason: str  # "stop", "length", ... as the provider says it
    model_version: str = ""  # the exact model that answered (e.g. "gpt-4o-mini-2024-07-18")


ChatEvent = TextDelta | Completed


class ChatAdapter(Protocol):
    provider: str

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Yield TextDelta events as text arrives, then exactly one Completed.

        Raises ProviderError subclasses.
        """
        ...


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    input_tokens: int
    model_version: str = ""
    batches: int = 1


class EmbeddingAdapter(Protocol):
    provider: str

    async def embed(self, model: str, texts: Sequence[str]) -> EmbeddingResult:
        """Vectors in the order of ``texts``, batched to the provider's limits.

        Raises ProviderError subclasses.
        """
        ...


@dataclass(frozen=True)
class CallSettings:
    """How patiently to call a provider."""

    timeout_seconds: float = 60.0
    max_retries: int = 3
    extra_headers: dict[str, str] = field(default_factory=dict)


T = TypeVar("T")


# One TLS context for every SDK client of the process (see core.outbound.shared_ssl_context).
shared_ssl_context = outbound.shared_ssl_context


# --- caps on what a model sends back ------------------------------------------------------------------

# What an answer may carry besides its tokens: the opening and closing events (role, finish reason,
# usage), so a call asking for a handful of tokens is not cut at its first event.
ANSWER_FRAMING_BYTES = 64 * 1024
# One embedding on the wire: 8,192 dimensions as JSON numbers of ~15 characters, with room to spare
# (OpenAI's base64 encoding of 3,072 float32 dimensions is ~16 KiB).
EMBEDDING_BYTES_PER_INPUT = 128 * 1024


def answer_limits(max_output_tokens: int | None) -> outbound.ResponseLimits:
    """The caps of one chat call: bytes derived from its max output tokens, time from the settings.

    Counted on the wire, where each token of OpenAI's stream is an SSE event of 200-400 bytes of JSON
    framing; ``MODEL_ANSWER_BYTES_PER_TOKEN`` (1 KiB by default) leaves an honest answer far inside it.
    A call without a token bound is capped at ``MODEL_RESPONSE_MAX_BYTES``.
    """
    seconds = float(settings.MODEL_CALL_DEADLINE_SECONDS)
    if max_output_tokens:
        max_bytes = max_output_tokens * settings.MODEL_ANSWER_BYTES_PER_TOKEN + ANSWER_FRAMING_BYTES
        bound = f", more than {max_output_tokens:,} output tokens can take,"
    else:
        max_bytes, bound = settings.MODEL_RESPONSE_MAX_BYTES, ""
    return outbound.ResponseLimits(
        max_bytes=max_bytes,
        seconds=seconds,
        too_large=f"The model's answer exceeded {max_bytes:,} bytes{bound} and was cut off.",
        too_slow=f"The model's answer took longer than {seconds:g} seconds and was cut off.",
    )


def embedding_limits(inputs: int) -> outbound.ResponseLimits:
    """The caps of one embeddings call of ``inputs`` texts."""
    seconds = float(settings.MODEL_CALL_DEADLINE_SECONDS)
    max_bytes = inputs * EMBEDDING_BYTES_PER_INPUT + ANSWER_FRAMING_BYTES
    return outbound.ResponseLimits(
        max_bytes=max_bytes,
        seconds=seconds,
        too_large=f"The embeddings of {inputs:,} input{'' if inputs == 1 else 's'} exceeded "
        f"{max_bytes:,} bytes and were refused.",
        too_slow=f"The embeddings took longer than {seconds:g} seconds and were refused.",
    )


def call_limits(seconds: float | None = None) -> outbound.ResponseLimits:
    """The caps of any other call (listing models): ``MODEL_RESPONSE_MAX_BYTES`` and the deadline."""
    return outbound.ResponseLimits(
        max_bytes=settings.MODEL_RESPONSE_MAX_BYTES,
        seconds=float(seconds if seconds is not None else settings.MODEL_CALL_DEADLINE_SECONDS),
    )


def endpoint_policy() -> outbound.AddressPolicy:
    """Where a tenant's own model endpoint may point: public addresses only, unless the platform allows
    private ones (ALLOW_PRIVATE_MODEL_ENDPOINTS, for an Ollama beside a self-hosted Groundwork)."""
    return outbound.AddressPolicy(
        allow_private=settings.ALLOW_PRIVATE_MODEL_ENDPOINTS, refused_action="called"
    )


# --- failures: one vocabulary for every SDK ---------------------------------------------------------

# Anything in a provider's message that looks like a key is cut out before a tenant (or a log) sees it.
KEY_PATTERN = re.compile(r"\b(?:sk|gw_sk)[-_][A-Za-z0-9_\-*.]{6,}|Bearer\s+\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Naming:
    """How messages name the other side: mid-sentence ("OpenAI"), and its key ("The OpenAI key")."""

    name: str
    key_phrase: str
    # Whether an error text the other side sends may be shown to a tenant. Yes for OpenAI and Anthropic;
    # no for a tenant's own endpoint, which may be any service that answers HTTP (an internal one too):
    # its failures are told by status code and kind only.
    shows_its_messages: bool = True

    @property
    def title(self) -> str:
        return self.name[:1].upper() + self.name[1:]


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


@dataclass(frozen=True)
class SdkErrors:
    """Which of one SDK's exceptions means what, for :func:`translate_error`.

    A call, after the SDK's own retries: ``status`` (an HTTP error status), ``timeout``, ``connection``
    (checked after ``timeout``, which derives from it). Reading a started stream, which the SDKs never
    retry: ``stream_timeouts``, ``stream_disconnects`` and ``stream_reports`` (an error the provider sent
    inside the stream). The classes are typed ``Any``: each SDK's own classes carry the attributes used.
    """

    status: type[Any]
    timeout: type[Any]
    connection: type[Any]
    stream_timeouts: tuple[type[Any], ...]
    stream_disconnects: tuple[type[Any], ...]
    stream_reports: tuple[type[Any], ...]
    status_details: Callable[[Any], tuple[str, str]]  # a status error's message and error type
    report: Callable[[Any], str]  # what an error inside the stream says


def translate_error(
    error: BaseException,
    sdk: SdkErrors,
    *,
    naming: Naming,
    provider: str,
    secret: str,
    timeout_seconds: float,
    model: str = "",
    in_stream: bool = False,
    text_started: bool = False,
) -> ProviderError:
    """Translate what an SDK raised into a domain error whose message a tenant can act on.

    ``in_stream``: raised while reading a started stream, where every failure is a ProviderStreamError —
    retryable, so a fallback model may answer if no text was shown.
    """
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, outbound.OutboundRefused):
        return outbound_error(error, naming=naming, provider=provider, in_stream=in_stream)
    if in_stream:
        code = "stream_interrupted"
        if isinstance(error, sdk.stream_timeouts):
            reason = f"it sent nothing for {timeout_seconds:g} seconds"
        elif isinstance(error, sdk.stream_disconnects):
            reason = "the connection closed in the middle of the stream"
        elif isinstance(error, sdk.stream_reports):
            said = f" ({scrub(sdk.report(error), secret)})" if naming.shows_its_messages else ""
            reason = f"it reported an error{said}"
        else:
            reason, code = "it sent an event Groundwork could not read", "stream_malformed"
        return stream_error(reason, naming=naming, provider=provider, text_started=text_started, code=code)
    if isinstance(error, sdk.status):
        detail, error_type = sdk.status_details(error)
        if not naming.shows_its_messages:
            detail = ""
        logger.debug(
            "%s answered %s (request id %s)",
            naming.name,
            error.status_code,
            getattr(error, "request_id", None) or "none",
        )
        return status_error(
            error.status_code,
            naming=naming,
            provider=provider,
            retries=retries_taken(error.response.request),
            detail=scrub(detail, secret),
            model=model,
            error_type=error_type,
        )
    if isinstance(error, sdk.timeout):
        return ProviderTimeout(
            f"{naming.title} did not answer within {timeout_seconds:g} seconds, "
            f"{retried(retries_taken(error.request))}.",
            provider=provider,
            code="timeout",
        )
    if isinstance(error, sdk.connection):
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


def outbound_error(
    error: outbound.OutboundRefused, *, naming: Naming, provider: str, in_stream: bool = False
) -> ProviderError:
    """The domain error for a refusal of the guarded transport (``core.outbound``); its messages name
    hosts, addresses and caps, never what the other side sent."""
    if isinstance(error, outbound.ResponseLimitExceeded):
        code = "answer_too_large" if error.kind == "size" else "answer_too_slow"
        if in_stream:
            return ProviderStreamError(error.message, provider=provider, code=code)
        if error.kind == "time":
            return ProviderTimeout(error.message, provider=provider, code=code)
        return ProviderError(error.message, provider=provider, code=code)
    if isinstance(error, outbound.HostNotResolved):
        return ProviderUnavailable(
            f"Could not connect to {naming.name}: {error.message}", provider=provider, code="connection"
        )
    return ProviderError(f"Refused: {error.message}", provider=provider, code="refused")


# --- the SDK-backed adapters ------------------------------------------------------------------------


class StreamReader(Protocol):
    """One streamed answer as a provider's events tell it (a new reader for every stream)."""

    @property
    def finished(self) -> bool:
        """Whether the provider said the answer is complete."""
        ...

    def read(self, event: Any) -> Iterator[str]:
        """Take in one event; yield the text it adds to the answer, if any."""
        ...

    def completed(self) -> Completed:
        """The last event of a finished stream."""
        ...


class SdkAdapter(abc.ABC):
    """What the SDK-backed adapters share: one client, closed with ``aclose``; ``_call``, which turns
    whatever an SDK call raises into a domain error; and ``_stream``, which reads a streamed answer."""

    provider: str
    naming: Naming
    errors: ClassVar[SdkErrors]
    call_settings: CallSettings
    _secret: str
    _client: Any

    async def aclose(self) -> None:
        """Release the client's connection pool."""
        await self._client.close()

    async def _call(
        self, call: Awaitable[T], *, model: str, limits: outbound.ResponseLimits | None = None
    ) -> T:
        """Await one SDK call; what it raises comes out as a domain error. ``limits`` cap its response
        (the client's guarded transport applies them; a client without one ignores them)."""
        try:
            with outbound.response_limits(limits or call_limits()):
                return await call
        except Exception as error:
            failure = self._error(error, model=model)
        # Raised outside the handler on purpose: the SDK's exception, whose text may quote the provider's
        # body unscrubbed, must not ride along as __context__ into logs and error trackers.
        raise failure

    def _error(
        self, error: BaseException, *, model: str, in_stream: bool = False, text_started: bool = False
    ) -> ProviderError:
        """The domain error for what the SDK raised."""
        return translate_error(
            error,
            self.errors,
            naming=self.naming,
            provider=self.provider,
            secret=self._secret,
            timeout_seconds=self.call_settings.timeout_seconds,
            model=model,
            in_stream=in_stream,
            text_started=text_started,
        )

    async def _stream(
        self,
        open_stream: Callable[[], Awaitable[Any]],
        reader: StreamReader,
        *,
        model: str,
        limits: outbound.ResponseLimits,
    ) -> AsyncIterator[ChatEvent]:
        """Open a stream with one SDK call; yield the text ``reader`` finds as TextDelta events, then one
        Completed.

        A stream that breaks, sends something unreadable, ends without saying the answer is complete, or
        outgrows ``limits`` (bytes on the wire, or the wall-clock deadline from the call's start) raises
        a ProviderStreamError. The stream is closed however it ends, also when the consumer closes this
        generator early: past a cap nothing more is read.

        The caps are held twice: by the guarded transport of an OpenAI client, chunk by chunk below the
        SDK (which would otherwise buffer one endless line whole), and here, event by event, for any
        client.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.seconds
        events = await self._call(open_stream(), model=model, limits=limits)
        failure: ProviderError | None = None
        text_started = False
        iterator = aiter(events)
        try:
            while True:
                waiting = asyncio.timeout_at(deadline)
                try:
                    async with waiting:
                        event = await anext(iterator)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if not waiting.expired():
                        raise
                    raise limits.exceeded("time", "") from None
                if _bytes_read(events) > limits.max_bytes:
                    raise limits.exceeded("size", "")
                for text in reader.read(event):
                    text_started = True
                    yield TextDelta(text)
        except Exception as error:
            failure = self._error(error, model=model, in_stream=True, text_started=text_started)
        finally:
            await events.close()
        if failure is not None:
            raise failure  # outside the handler, as in _call
        if not reader.finished:
            raise stream_error(
                "the stream ended without saying the answer was complete",
                naming=self.naming,
                provider=self.provider,
                text_started=text_started,
                code="stream_incomplete",
            )
        yield reader.completed()


def _bytes_read(events: Any) -> int:
    """How many bytes of the body an SDK stream has read from the wire (both SDKs keep the httpx
    response on the stream)."""
    response = getattr(events, "response", None)
    downloaded = getattr(response, "num_bytes_downloaded", 0)
    return downloaded if isinstance(downloaded, int) else 0
