"""Anthropic's Claude models through the official SDK's ``AsyncAnthropic`` (Messages API, streamed).

Anthropic has no embedding models. System messages travel in the top-level ``system`` parameter (the
Messages API refuses a ``system`` role inside ``messages``). Sampling parameters are not sent: the API
version anthropic 2.x speaks (2026-10-21) answers 400 to ``temperature``, ``top_p`` and ``top_k``, and
the SDK no longer offers them.

Retries are the SDK's: 408, 409, 429, 5xx and Anthropic's 529 (overloaded), connection errors and
timeouts, with ``retry-after-ms`` / ``retry-after`` honoured; other 4xx are never retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

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
from anthropic.types import Usage as AnthropicUsage

from providers.adapters.base import (
    CallSettings,
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    Naming,
    SdkAdapter,
    SdkErrors,
    Usage,
    answer_limits,
    shared_ssl_context,
    translate_error,
)
from providers.errors import ProviderError

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


ANTHROPIC_ERRORS = SdkErrors(
    status=anthropic.APIStatusError,
    timeout=anthropic.APITimeoutError,
    connection=anthropic.APIConnectionError,
    # Reading a started stream, the SDK lets the transport's exceptions through unwrapped.
    stream_timeouts=(anthropic.APITimeoutError, httpx2.TimeoutException),
    stream_disconnects=(anthropic.APIConnectionError, httpx2.HTTPError),
    stream_reports=(anthropic.APIStatusError,),  # an `event: error` inside the 200 stream
    status_details=lambda error: (error.api_message or "", str(error.type or "")),
    report=lambda error: error.type or "unknown",
)


def anthropic_error(error: BaseException, *, secret: str, timeout_seconds: float) -> ProviderError:
    """What the anthropic SDK raised outside an adapter (the connection test), as a domain error."""
    return translate_error(
        error,
        ANTHROPIC_ERRORS,
        naming=NAMING,
        provider=ANTHROPIC,
        secret=secret,
        timeout_seconds=timeout_seconds,
    )


def _input_tokens(usage: AnthropicUsage) -> int:
    # Cache reads and writes are input too (Groundwork sets no cache breakpoints itself).
    return (
        usage.input_tokens + (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    )


def _finish_reason(stop_reason: str | None) -> str:
    reason = stop_reason or "end_turn"
    return STOP_REASONS.get(reason, reason)


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


@dataclass
class _EventReader:
    """A Messages API stream, event by event: the text deltas, the token counts and the stop reason."""

    finished: bool = False  # message_stop arrived
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    model_version: str = ""

    def read(self, event: object) -> Iterator[str]:
        if isinstance(event, RawMessageStartEvent):
            self.model_version = event.message.model or ""
            self.input_tokens = _input_tokens(event.message.usage)
            self.output_tokens = event.message.usage.output_tokens
        elif isinstance(event, RawContentBlockDeltaEvent):
            if isinstance(event.delta, AnthropicTextDelta) and event.delta.text:
                yield event.delta.text
        elif isinstance(event, RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens  # cumulative, per the API
        elif isinstance(event, RawMessageStopEvent):
            self.finished = True

    def completed(self) -> Completed:
        return Completed(
            usage=Usage(self.input_tokens, self.output_tokens),
            finish_reason=_finish_reason(self.stop_reason),
            model_version=self.model_version,
        )


class AnthropicChatAdapter(SdkAdapter):
    provider = ANTHROPIC
    naming = NAMING
    errors = ANTHROPIC_ERRORS

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

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        system, turns = split_system(request.messages)
        return self._stream(
            lambda: self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                messages=turns,
                system=system or anthropic.omit,
                stream=True,
            ),
            _EventReader(),
            model=request.model,
            limits=answer_limits(request.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS),
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
        return text, Completed(
            usage=Usage(_input_tokens(message.usage), message.usage.output_tokens),
            finish_reason=_finish_reason(message.stop_reason),
            model_version=message.model or "",
        )
