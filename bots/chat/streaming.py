"""A chat turn as server-sent events, shared by the REST API, the OpenAI-compatible surface, the widget and
the playground (each with its ``TurnPresenter``); the conversation export streams alike (``exports``).

Both must stream under ASGI without holding a worker thread or a database transaction open, and both
must still work under a sync server (WSGI, Django's test ``Client``), which iterates a response on an
event loop of its own; the helpers here take care of both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, StreamingHttpResponse

from bots.chat.engine import EngineEvent, Sources, Token, TurnFinished, TurnStarted
from core.errors import GroundworkError
from providers.errors import ProviderError

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream; charset=utf-8"

# --- server-sent events -------------------------------------------------------------------------------


def sse(event: str, data: Any) -> str:
    """One server-sent event with a JSON payload."""
    return f"event: {event}\ndata: {json.dumps(data, cls=DjangoJSONEncoder, separators=(',', ':'))}\n\n"


def stream_problem(status: int, detail: str) -> dict[str, Any]:
    """The payload of an ``error`` event: a problem's status, title and detail."""
    return {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}


async def aclose(iterator: object) -> None:
    """Close an async generator (a no-op once it has finished)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


@dataclass(frozen=True)
class TurnPresenter:
    """How one face shows a turn: the payloads of its ``sources`` and ``done`` events, and what it says
    when the model fails after the stream started (by default the provider's own message)."""

    face: str  # for the log: "API", "playground", "widget"
    sources: Callable[[Sources], dict[str, Any]]
    done: Callable[[TurnFinished], dict[str, Any]]
    provider_failure: Callable[[ProviderError], dict[str, Any]] = field(
        default=lambda error: stream_problem(error.status, error.message)
    )
    # A refusal after the stream started (a budget the turn's next model call no longer fits in).
    refusal: Callable[[GroundworkError], dict[str, Any]] = field(
        default=lambda error: stream_problem(error.status, error.message)
    )


async def turn_events(
    events: AsyncIterator[EngineEvent], started: TurnStarted, presenter: TurnPresenter
) -> AsyncIterator[str]:
    """A turn as server-sent events: ``start``, ``sources``, ``token``... and ``done``, or ``error`` when it
    fails after the start. The engine's events are closed however the stream ends."""
    try:
        yield sse(
            "start",
            {"conversation_id": str(started.conversation_id), "question_id": str(started.question_id)},
        )
        try:
            async for event in events:
                if isinstance(event, Sources):
                    yield sse("sources", presenter.sources(event))
                elif isinstance(event, Token):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, TurnFinished):
                    yield sse("done", presenter.done(event))
        except ProviderError as error:
            logger.info(
                "A %s answer failed in conversation %s: %s", presenter.face, started.conversation_id, error
            )
            yield sse("error", presenter.provider_failure(error))
        except GroundworkError as error:
            logger.info(
                "A %s answer was refused in conversation %s: %s",
                presenter.face,
                started.conversation_id,
                error,
            )
            yield sse("error", presenter.refusal(error))
        except Exception:
            logger.exception("A %s answer failed in conversation %s", presenter.face, started.conversation_id)
            yield sse("error", stream_problem(500, "Something went wrong on our side; it has been logged."))
    finally:
        await aclose(events)


async def first_event(events: AsyncIterator[EngineEvent]) -> TurnStarted:
    """The turn's first event. Refusals raise here, before any response exists."""
    first = await anext(events)
    if not isinstance(first, TurnStarted):
        await aclose(events)
        raise RuntimeError(f"the engine began a turn with {type(first).__name__}")
    return first


class EventStreamResponse(StreamingHttpResponse):
    """Server-sent events over an async iterator that is closed (``aclose``) however the response ends.

    Django closes the iterator it consumes, but not the iterator behind ``streaming_content``: without
    this, a client that leaves while an event is being sent would leave the engine (and the model's
    stream) suspended until garbage collection.
    """

    def __init__(self, events: AsyncIterator[str] | Iterator[str]) -> None:
        super().__init__(events, content_type=EVENT_STREAM)
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in super().__aiter__():
                yield part
        finally:
            await aclose(self._events)


async def event_stream(request: HttpRequest, events: AsyncIterator[str]) -> EventStreamResponse:
    """The events as they happen under ASGI. A sync server (WSGI, Django's test ``Client``) would iterate
    the response on an event loop of its own, after the view's loop has closed the engine's generator
    (asyncio closes unfinished async generators when a loop ends): there the turn runs to its end here,
    and the events are sent at once."""
    if isinstance(request, ASGIRequest):
        return EventStreamResponse(events)
    return EventStreamResponse(iter([event async for event in events]))
