"""The OpenAI-compatible surface: ``GET /models`` (a tenant's bots as models) and ``POST /chat/completions``
(plain or streamed in OpenAI's chunk format), so any OpenAI SDK can talk to a bot with a secret API key.

The bot's own instructions rule: system messages from the client are ignored, sampling parameters are
accepted and ignored, tools and response formats are refused; earlier messages are the conversation's
history. Errors use OpenAI's error shape so SDKs raise their usual exceptions."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors
from bots.chat import engine
from bots.chat import services as chat_services
from bots.chat.api import AsyncChatView, _bot, _finished
from bots.chat.engine import EngineEvent, Token, TurnFinished
from bots.chat.serializers import (
    ChatCompletionInput,
    ChatCompletionOutput,
    OpenAIModelListOutput,
    OpenAIModelOutput,
)
from bots.chat.streaming import aclose, event_stream, first_event
from bots.models import (
    Bot,
    Channel,
)
from core.async_views import json_body
from core.client_address import client_address
from core.errors import GroundworkError, NotFound, ValidationFailed
from core.problems import problem_exception_handler
from core.serializers import validated
from providers.errors import ProviderError
from tenants.actors import Actor
from tenants.api_base import TenantAPIView
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# OpenAI's error "type" and "code" by status, so that SDKs raise the matching exception with the message.
OPENAI_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    415: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def openai_model(bot: Bot, tenant: Tenant) -> dict[str, Any]:
    return {
        "id": bot.slug,
        "object": "model",
        "created": _unix(bot.created_at),
        "owned_by": tenant.slug,
        "name": bot.name,
        "bot_id": str(bot.pk),
    }


class OpenAIModelListView(TenantAPIView):
    """The organisation's bots as OpenAI model objects (``GET /v1/models``), for OpenAI SDKs and tools.

    Not paginated, as OpenAI's list is not. Errors carry OpenAI's ``error`` object beside the problem
    details, so SDKs show their message."""

    def get_exception_handler(self) -> Any:
        return openai_exception_handler

    @extend_schema(operation_id="models_list", responses=OpenAIModelListOutput)
    def get(self, request: Request) -> Response:
        bots = selectors.bot_list(tenant=self.actor.tenant)
        return Response({"object": "list", "data": [openai_model(bot, self.actor.tenant) for bot in bots]})


class OpenAIModelDetailView(TenantAPIView):
    """One bot as an OpenAI model object, by slug or id (``GET /v1/models/{model}``)."""

    def get_exception_handler(self) -> Any:
        return openai_exception_handler

    @extend_schema(
        parameters=[OpenApiParameter("model", str, OpenApiParameter.PATH, description="A bot's slug or id.")],
        responses=OpenAIModelOutput,
    )
    def get(self, request: Request, model: str) -> Response:
        try:
            bot = selectors.bot_get(tenant=self.actor.tenant, bot_id=model)
        except NotFound:
            raise NotFound(f"The model `{model}` does not exist or you do not have access to it.") from None
        return Response(openai_model(bot, self.actor.tenant))


def openai_error(
    status: int, message: str, *, error_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    default_type, default_code = OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {
        "message": message,
        "type": error_type or default_type,
        "param": None,
        "code": code or default_code,
    }


def openai_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """problem+json with OpenAI's ``error`` object beside it, for the DRF views of the OpenAI face."""
    response = problem_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        detail = str(response.data.get("detail", ""))
        response.data["error"] = openai_error(response.status_code, detail)
    return response


class ModelNotFound(NotFound):
    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.")


def _exchange(messages: list[dict[str, Any]]) -> tuple[str, list[chat_services.HistoryMessage]]:
    """The question (the last message, the user's) and the earlier turns; system messages are dropped."""
    if messages[-1]["role"] != "user":
        message = "The last message must be the user's question."
        raise ValidationFailed(message, field_errors={"messages": [message]})
    # ``content`` may be absent or null (OpenAI's assistant messages that only call tools have null).
    history = [
        chat_services.HistoryMessage(role=message["role"], content=message.get("content") or "")
        for message in messages[:-1]
        if message["role"] in ("user", "assistant") and (message.get("content") or "").strip()
    ]
    return messages[-1].get("content") or "", history


def _usage(finished: TurnFinished) -> dict[str, int]:
    return {
        "prompt_tokens": finished.input_tokens,
        "completion_tokens": finished.output_tokens,
        "total_tokens": finished.input_tokens + finished.output_tokens,
    }


def _data(payload: Any) -> str:
    return f"data: {json.dumps(payload, cls=DjangoJSONEncoder, separators=(',', ':'))}\n\n"


async def _completion_chunks(
    events: AsyncIterator[EngineEvent], envelope: dict[str, Any], include_usage: bool
) -> AsyncIterator[str]:
    """OpenAI's chunk stream: the role, the text as it arrives, the finish, the usage, ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return _data({**envelope, "choices": [choice], **({"usage": None} if include_usage else {})})

    try:
        yield chunk({"role": "assistant", "content": ""})
        finished: TurnFinished | None = None
        try:
            async for event in events:
                if isinstance(event, Token):
                    yield chunk({"content": event.text})
                elif isinstance(event, TurnFinished):
                    finished = event
        except ProviderError as error:
            # How OpenAI reports a failure inside a started stream; the SDKs raise it with the message.
            yield _data({"error": openai_error(error.status, error.message, code=error.code)})
            return
        except chat_services.BudgetExhausted as error:
            # A concurrent turn took the rest of a budget between this turn's model calls.
            yield _data({"error": openai_error(error.status, error.message, error_type="insufficient_quota")})
            return
        except Exception:
            logger.exception("A streamed completion failed (%s)", envelope["id"])
            yield _data({"error": openai_error(500, "Something went wrong on our side; it has been logged.")})
            return
        yield chunk({}, "stop")
        if include_usage and finished is not None:
            yield _data({**envelope, "choices": [], "usage": _usage(finished)})
        yield "data: [DONE]\n\n"
    finally:
        await aclose(events)


COMPLETION_STREAM = (
    "A chat.completion object; with `stream: true`, chat.completion.chunk events ending with "
    '`data: [DONE]` (a model failure after the start arrives as `data: {"error": {...}}`).'
)


class ChatCompletionsView(AsyncChatView):
    """OpenAI's chat completions, answered by a bot: point any OpenAI SDK at ``/api/v1`` with a secret
    API key and use a bot's slug (or id) as ``model``.

    The last message must be the user's: it is the question. Earlier user and assistant messages are the
    conversation so far (used to understand follow-ups); system and developer messages are ignored, as
    the bot's own instructions rule. ``temperature``, ``max_tokens`` and the other sampling parameters are
    accepted and ignored: the bot's settings decide. Tools, response formats and log probabilities are
    refused. Each request is stored as its own conversation (channel ``openai``), with the client's
    history. ``stream: true`` answers with ``chat.completion.chunk`` events ending with ``data: [DONE]``,
    and a last chunk with ``usage`` when ``stream_options.include_usage`` is set.

    Errors use OpenAI's status codes and carry OpenAI's ``error`` object beside the problem details;
    refusals that a retry would not change (the budget, model failures the gateway already retried) say
    ``x-should-retry: false``.
    """

    def problem(self, request: HttpRequest, error: GroundworkError, /, **extensions: Any) -> JsonResponse:
        error_type, code = None, None
        if isinstance(error, chat_services.BudgetExhausted):
            error_type = code = "insufficient_quota"
        elif isinstance(error, ModelNotFound):
            code = "model_not_found"
        elif isinstance(error, ProviderError):
            code = error.code
        openai_body = openai_error(error.status, _openai_message(error), error_type=error_type, code=code)
        response = super().problem(request, error, **extensions, error=openai_body)
        if isinstance(error, chat_services.BudgetExhausted | ProviderError):
            response["x-should-retry"] = "false"
        return response

    @extend_schema(
        request=ChatCompletionInput,
        responses={
            (200, "application/json"): OpenApiResponse(ChatCompletionOutput, description=COMPLETION_STREAM),
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description=COMPLETION_STREAM),
        },
    )
    async def post(self, request: HttpRequest, actor: Actor, **kwargs: Any) -> HttpResponseBase:
        data = validated(ChatCompletionInput, json_body(request))
        question, history = _exchange(data["messages"])
        try:
            bot = await sync_to_async(_bot)(actor.tenant, data["model"])
        except NotFound:
            raise ModelNotFound(data["model"]) from None
        events = engine.converse(
            tenant_id=actor.tenant.pk,
            bot_id=bot.pk,
            question=question,
            channel=Channel.OPENAI,
            history=history,
            client_ip=client_address(request),
        )
        started = await first_event(events)
        envelope = {
            "id": f"chatcmpl-{started.question_id.hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": bot.slug,
            "system_fingerprint": None,
        }
        if data["stream"]:
            include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
            return await event_stream(request, _completion_chunks(events, envelope, include_usage))
        finished = await _finished(events)
        return JsonResponse(
            {
                **envelope,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": finished.content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": _usage(finished),
                "groundwork": {
                    "conversation_id": str(finished.conversation_id),
                    "message_id": str(finished.message_id),
                    "outcome": finished.outcome,
                    "citations": finished.citations,
                    "cost_usd": f"{finished.cost_usd:f}",
                },
            }
        )


def _openai_message(error: GroundworkError) -> str:
    """The message an SDK shows: the problem's detail, with the first field error when there is one."""
    for name, messages in (error.field_errors or {}).items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        return f"{error.message} {name}: {first}"
    return error.message
