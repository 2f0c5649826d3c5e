"""Anthropic's Claude models through the official SDK's ``AsyncAnthropic`` (Messages API, streamed).

Anthropic has no embedding models. System messages travel in the top-level ``system`` parameter (the
Messages API refuses a ``system`` role inside ``messages``). Sampling parameters are not sent: the API
version anthropic 2.x speaks (2026-10-21) answers 400 to ``temperature``, ``top_p`` and ``top_k``, and
the SDK no longer offers them.

Retries are the SDK's: 408, 409, 429, 5xx and Anthropic's 529 (overloaded), connection errors and
timeouts, with ``retry-after-ms`` / ``retry-after`` honoured; other 4xx are never retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

import anthropic
import httpx2
from anthropic import AsyncAnthropic
from anthropic.types import (
    MessageParam,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
)
from anthropic.types import TextDelta as AnthropicTextDelta

from providers.adapters.base import (
    CallSettings,
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    SdkAdapter,
    TextDelta,
    Usage,
    shared_ssl_context,
)

# The wording of status and stream errors is shared with the OpenAI adapter: tenants read the same
# sentences whichever provider failed.
from providers.adapters.openai import Naming, retried, retries_taken, scrub, status_error, stream_error
from providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable

T = TypeVar("T")
ANTHROPIC = "anthropic"
NAMING = Naming("Anthropic", "The Anthropic key")
# The Messages API requires max_tokens; a support answer rarely needs more.
DEFAULT_MAX_OUTPUT_TOKENS = 4096
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
    "pause_turn": "pause",
}


def make_client(*, api_key: str, base_url: str | None, call_settings: CallSettings) -> AsyncAnthropic:
    return AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=call_settings.timeout_seconds,
        max_retries=call_settings.max_retries,
        default_headers=call_settings.extra_headers or None,
        http_client=anthropic.DefaultAsyncHttpxClient(verify=shared_ssl_context()),
    )


def make_sync_client(*, api_key: str, base_url: str | None, timeout_seconds: float) -> anthropic.Anthropic:
    """A client for one quick probe (the "test connection" button): short timeout, no retries."""
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout_seconds, max_retries=0)


def anthropic_error(
    error: BaseException,
    *,
    secret: str,
    timeout_seconds: float,
    model: str = "",
    in_stream: bool = False,
    text_started: bool = False,
) -> ProviderError:
    """Translate what the anthropic SDK raised into a domain error a tenant can act on.

    ``in_stream``: raised while reading a started stream, which the SDK does not retry; the SDK lets the
    transport's exceptions through there unwrapped, hence the httpx2 classes.
    """
    if isinstance(error, ProviderError):
        return error
    if in_stream:
        if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
            reason = f"it sent nothing for {timeout_seconds:g} seconds"
            return stream_error(reason, naming=NAMING, provider=ANTHROPIC, text_started=text_started)
        if isinstance(error, anthropic.APIConnectionError | httpx2.HTTPError):
            reason = "the connection closed in the middle of the stream"
            return stream_error(reason, naming=NAMING, provider=ANTHROPIC, text_started=text_started)
        if isinstance(error, anthropic.APIStatusError):  # an `event: error` inside the 200 stream
            reason = f"it reported an error ({scrub(error.type or 'unknown', secret)})"
            return stream_error(reason, naming=NAMING, provider=ANTHROPIC, text_started=text_started)
        return stream_error(
            "it sent an event Groundwork could not read",
            naming=NAMING,
            provider=ANTHROPIC,
            text_started=text_started,
            code="stream_malformed",
        )
    if isinstance(error, anthropic.APIStatusError):
        return status_error(
            error.status_code,
            naming=NAMING,
            provider=ANTHROPIC,
            retries=retries_taken(error.response.request),
            detail=scrub(error.api_message or "", secret),
            model=model,
            error_type=str(error.type or ""),
        )
    if isinstance(error, anthropic.APITimeoutError):
        return ProviderTimeout(
            f"Anthropic did not answer within {timeout_seconds:g} seconds, "
            f"{retried(retries_taken(error.request))}.",
            provider=ANTHROPIC,
            code="timeout",
        )
    if isinstance(error, anthropic.APIConnectionError):
        return ProviderUnavailable(
            f"Could not connect to Anthropic, {retried(retries_taken(error.request))}.",
            provider=ANTHROPIC,
            code="connection",
        )
    return ProviderError(
        f"The call to Anthropic failed: its answer could not be read ({type(error).__name__}).",
        provider=ANTHROPIC,
        code="bad_response",
    )


def split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[MessageParam]]:
    """System messages joined into the top-level prompt; the conversation as Messages API turns."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    turns: list[MessageParam] = []
    for message in messages:
        if message.role == "user":
            turns.append({"role": "user", "content": message.content})
        elif message.role == "assistant":
            turns.append({"role": "assistant", "content": message.content})
    return system, turns


class AnthropicChatAdapter(SdkAdapter):
    provider = ANTHROPIC

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        call_settings: CallSettings | None = None,
        client: AsyncAnthropic | None = None,
    ) -> None:
        self.call_settings = call_settings or CallSettings()
        self._secret = api_key
        self._client = client or make_client(
            api_key=api_key, base_url=base_url, call_settings=self.call_settings
        )

    def _error(
        self, error: BaseException, *, model: str, in_stream: bool = False, text_started: bool = False
    ) -> ProviderError:
        return anthropic_error(
            error,
            secret=self._secret,
            timeout_seconds=self.call_settings.timeout_seconds,
            model=model,
            in_stream=in_stream,
            text_started=text_started,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        system, turns = split_system(request.messages)
        events = await self._call(
            self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                messages=turns,
                system=system or anthropic.omit,
                stream=True,
            ),
            model=request.model,
        )
        failure: ProviderError | None = None
        text_started = False
        finished = False
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        model_version = ""
        try:
            async for event in events:
                if isinstance(event, RawMessageStartEvent):
                    model_version = event.message.model or ""
                    usage = event.message.usage
                    # Cache reads and writes are input too (Groundwork sets no cache breakpoints itself).
                    input_tokens = (
                        usage.input_tokens
                        + (usage.cache_creation_input_tokens or 0)
                        + (usage.cache_read_input_tokens or 0)
                    )
                    output_tokens = usage.output_tokens
                elif isinstance(event, RawContentBlockDeltaEvent):
                    if isinstance(event.delta, AnthropicTextDelta) and event.delta.text:
                        text_started = True
                        yield TextDelta(event.delta.text)
                elif isinstance(event, RawMessageDeltaEvent):
                    stop_reason = event.delta.stop_reason or stop_reason
                    output_tokens = event.usage.output_tokens  # cumulative, per the API
                elif isinstance(event, RawMessageStopEvent):
                    finished = True
        except Exception as error:
            failure = self._error(error, model=request.model, in_stream=True, text_started=text_started)
        finally:
            await events.close()
        if failure is not None:
            raise failure  # outside the handler, as in _call
        if not finished:
            raise stream_error(
                "the stream ended without saying the answer was complete",
                naming=NAMING,
                provider=ANTHROPIC,
                text_started=text_started,
                code="stream_incomplete",
            )
        reason = stop_reason or "end_turn"
        yield Completed(
            usage=Usage(input_tokens, output_tokens),
            finish_reason=STOP_REASONS.get(reason, reason),
            model_version=model_version,
        )

    async def complete(self, request: ChatRequest) -> tuple[str, Completed]:
        """One plain (non-streamed) message: the whole text and its Completed event."""
        system, turns = split_system(request.messages)
        message = await self._call(
            self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                messages=turns,
                system=system or anthropic.omit,
            ),
            model=request.model,
        )
        text = "".join(block.text for block in message.content if isinstance(block, TextBlock))
        usage = message.usage
        input_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        reason = message.stop_reason or "end_turn"
        return text, Completed(
            usage=Usage(input_tokens, usage.output_tokens),
            finish_reason=STOP_REASONS.get(reason, reason),
            model_version=message.model or "",
        )
