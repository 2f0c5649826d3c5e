"""One interface for every foundation model: chat as an async stream of events, embeddings as vectors.

Adapters wrap the official SDKs (``openai``, ``anthropic``), an OpenAI-compatible server through the
``openai`` SDK with a ``base_url``, or the built-in local models. They know nothing about tenants,
metering or fallbacks: ``providers.services`` adds those around them.
"""

from __future__ import annotations

import abc
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import httpx2

from providers.errors import ProviderError

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


@dataclass(frozen=True)
class ChatRequest:
    model: str  # the provider's model id, e.g. "gpt-4o-mini" or "claude-haiku-4-5"
    messages: Sequence[ChatMessage]
    temperature: float | None = None
    max_output_tokens: int | None = None
    passages: Sequence[Passage] = ()  # used by the local no-LLM answerer; others get them inside messages


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


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every SDK client of the process.

    Each SDK client otherwise builds its own, loading the CA bundle: about 45 ms of CPU, on the event
    loop, for every model call (bench/chat.py measured it as a fifth of Groundwork's time to first
    token). A context is safe to share between clients and threads.
    """
    return httpx2.create_ssl_context()


class SdkAdapter(abc.ABC):
    """What the SDK-backed adapters share: one client, closed with ``aclose``, and ``_call``, which turns
    whatever an SDK call raises into a domain error."""

    _client: Any

    async def aclose(self) -> None:
        """Release the client's connection pool."""
        await self._client.close()

    async def _call(self, call: Awaitable[T], *, model: str) -> T:
        """Await one SDK call; what it raises comes out as a domain error."""
        try:
            return await call
        except Exception as error:
            failure = self._error(error, model=model)
        # Raised outside the handler on purpose: the SDK's exception, whose text may quote the provider's
        # body unscrubbed, must not ride along as __context__ into logs and error trackers.
        raise failure

    @abc.abstractmethod
    def _error(
        self, error: BaseException, *, model: str, in_stream: bool = False, text_started: bool = False
    ) -> ProviderError:
        """The domain error for what the SDK raised."""
