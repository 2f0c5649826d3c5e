"""Chatting over the REST API: ``POST /bots/{id}/chat`` and the OpenAI-compatible ``POST /chat/completions``.

These are async Django views, because an answer streams for seconds and must not hold a worker thread
(DRF's views are sync). They keep the REST API's contract all the same: a Bearer API key checked as
``ApiKeyAuthentication`` checks it (in a thread), the role, a JSON body within ``API_MAX_BODY_BYTES``,
strict validation (unknown fields are a 400), problem+json errors.

Refusals (validation, an unknown bot or conversation, the rate limits, the budgets) are known before the
engine's first event, so they are answered as plain problem+json responses before any stream starts; a
model failure after that arrives inside the stream as an ``error`` event. Requests are not wrapped in
``ATOMIC_REQUESTS``: the engine keeps its database work in short transactions of its own so that none is
held open while a model speaks.

When a client goes away mid-answer, Django (under ASGI) cancels the response; the engine's event
generator is then closed (``aclose``) from here whichever way the cancellation arrives, which closes the
model's stream upstream, and the engine stores the partial answer as cancelled.

The view classes derive from DRF's ``APIView`` only so that drf-spectacular documents them (its schema
generator enumerates APIView subclasses); requests never pass through DRF: ``as_async_view`` returns the
async view that serves them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from bots import engine, limits, selectors, services
from bots.engine import EngineEvent, Token, TurnFinished
from bots.models import Bot, Channel
from bots.streaming import EventStreamResponse as EventStreamResponse  # re-exported (was defined here)
from bots.streaming import TurnPresenter, aclose, event_stream, first_event, turn_events
from core.errors import GroundworkError, NotFound, ValidationFailed
from core.problems import PROBLEM_CONTENT_TYPE, problem_body, problem_exception_handler
from core.serializers import StrictInputSerializer
from providers.errors import ProviderError
from tenants.actors import Actor
from tenants.authentication import api_key_from_request
from tenants.context import tenant_context
from tenants.models import Role, Tenant

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPES = ("application/json",)
BOT_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The bot's id or slug.")


class RequestRefused(GroundworkError):
    """A request refused by this module before any service saw it (its status varies)."""

    def __init__(self, status: int, message: str, *, field_errors: dict[str, Any] | None = None) -> None:
        super().__init__(message, field_errors=field_errors)
        self.status = status


# --- the async views' base ----------------------------------------------------------------------------


class AsyncChatView(APIView):
    """An async endpoint: ``POST`` only, a Bearer API key with at least ``required_role``."""

    required_role = Role.VIEWER
    http_method_names = ["post"]

    @classmethod
    def as_async_view(cls) -> Callable[..., Coroutine[Any, Any, HttpResponseBase]]:
        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            return await cls().serve(request, **kwargs)

        # For drf-spectacular's endpoint enumeration, which documents views by their APIView class.
        view.cls = cls  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        # Bearer keys, no cookies: nothing for CSRF to protect. The engine makes its own transactions.
        return csrf_exempt(transaction.non_atomic_requests(view))

    async def serve(self, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            response = self.problem(request, RequestRefused(405, f'Method "{request.method}" not allowed.'))
            response["Allow"] = "POST"
            return response
        try:
            actor = await sync_to_async(_actor)(request)
            if actor is None:
                raise RequestRefused(401, "Authentication credentials were not provided.")
            if not actor.can(self.required_role):
                raise RequestRefused(403, "This API key's role does not allow this.")
            return await self.post(request, actor, **kwargs)
        except AuthenticationFailed as error:
            return self.problem(request, RequestRefused(401, str(error.detail)))
        except GroundworkError as error:
            return self.problem(request, error)

    async def post(self, request: HttpRequest, actor: Actor, **kwargs: Any) -> HttpResponseBase:
        raise NotImplementedError

    def problem(self, request: HttpRequest, error: GroundworkError, **extensions: Any) -> JsonResponse:
        body = problem_body(error.status, error.message, instance=request.path, errors=error.field_errors)
        body.update(extensions)
        response = JsonResponse(body, status=error.status, content_type=PROBLEM_CONTENT_TYPE)
        refusal_headers(response, error)
        return response


def refusal_headers(response: HttpResponseBase, error: GroundworkError) -> None:
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(error, limits.RateLimited):
        response["Retry-After"] = str(error.retry_after)


def _actor(request: HttpRequest) -> Actor | None:
    api_key = api_key_from_request(request)
    if api_key is None:
        return None
    return Actor(tenant=api_key.tenant, role=Role(api_key.role), api_key=api_key)


def _bot(tenant: Tenant, bot_id: str) -> Bot:
    with tenant_context(tenant.pk):
        return selectors.bot_get(tenant=tenant, bot_id=bot_id)


def json_body(request: HttpRequest) -> Any:
    content_type = request.content_type or ""
    if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
        raise RequestRefused(415, f'Send JSON ("Content-Type: application/json"), not "{content_type}".')
    try:
        raw = request.body  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE while it is read
    except RequestDataTooBig:
        raw = None
    if raw is None or len(raw) > settings.API_MAX_BODY_BYTES:
        raise RequestRefused(413, "The request body is larger than this endpoint accepts.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused(400, "The body is not valid JSON.") from None


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RequestRefused(400, "Send a JSON object.")
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed("The request has invalid fields.", field_errors=dict(serializer.errors))
    return dict(serializer.validated_data)


# --- POST /bots/{id}/chat -------------------------------------------------------------------------------


class ChatInput(StrictInputSerializer):
    message = serializers.CharField(help_text="The question.")
    conversation_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Continue this conversation; omit to start one."
    )
    stream = serializers.BooleanField(
        required=False, default=False, help_text="true: answer as server-sent events."
    )


class ChatUsageOutput(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(
        max_digits=14, decimal_places=8, help_text="Every model call of the turn."
    )


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "object", "additionalProperties": True},
        "description": "The passages the answer cites ([1], [2], ...): number, chunk_id, document_id, "
        "title, source, page_number, anchor, snippet, score. Empty when the bot hides citations.",
    }
)
class CitationsField(serializers.ListField):
    pass


class ChatOutput(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField(help_text="The answer's id (for feedback and corrections).")
    answer = serializers.CharField()
    outcome = serializers.CharField(
        help_text="answered, no_answer (nothing relevant was found: the bot's handoff message), ..."
    )
    citations = CitationsField()
    usage = ChatUsageOutput()
    latency_ms = serializers.IntegerField()
    time_to_first_token_ms = serializers.IntegerField(allow_null=True)
    model_version = serializers.CharField(help_text="The exact model version that answered.")


def turn_result(finished: TurnFinished) -> dict[str, Any]:
    return {
        "conversation_id": str(finished.conversation_id),
        "message_id": str(finished.message_id),
        "answer": finished.content,
        "outcome": finished.outcome,
        "citations": finished.citations,
        "usage": {
            "input_tokens": finished.input_tokens,
            "output_tokens": finished.output_tokens,
            "cost_usd": f"{finished.cost_usd:f}",
        },
        "latency_ms": finished.latency_ms,
        "time_to_first_token_ms": finished.time_to_first_token_ms,
        "model_version": finished.model_version,
    }


API_TURN = TurnPresenter(
    face="API", sources=lambda sources: {"citations": sources.citations}, done=turn_result
)


async def _finished(events: AsyncIterator[EngineEvent]) -> TurnFinished:
    try:
        async for event in events:
            if isinstance(event, TurnFinished):
                return event
    finally:
        await aclose(events)
    raise RuntimeError("the turn ended without finishing")


STREAM_DESCRIPTION = (
    "With `stream: true`: `text/event-stream` with the events `start` {conversation_id, question_id}, "
    "`sources` {citations}, `token` {text} (many), then `done` (the same object as the JSON answer) — or, "
    "when the model fails after the start, `error` {status, title, detail}. Refusals (400, 404, 429 with "
    "Retry-After) are problem+json responses before any stream starts."
)


class BotChatView(AsyncChatView):
    """Ask a bot a question, as a new conversation or within one (``conversation_id``).

    Viewers may chat. The answer is stored with its citations, usage and latency; the conversation
    appears on the Conversations page as channel ``api``.
    """

    @extend_schema(
        parameters=[BOT_ID],
        request=ChatInput,
        responses={
            (200, "application/json"): OpenApiResponse(ChatOutput, description=STREAM_DESCRIPTION),
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description=STREAM_DESCRIPTION),
        },
    )
    async def post(self, request: HttpRequest, actor: Actor, **kwargs: Any) -> HttpResponseBase:
        bot = await sync_to_async(_bot)(actor.tenant, kwargs["id"])  # 404 before the body is read
        data = validated(ChatInput, json_body(request))
        events = engine.converse(
            tenant_id=actor.tenant.pk,
            bot_id=bot.pk,
            question=data["message"],
            channel=Channel.API,
            conversation_id=data.get("conversation_id"),
        )
        started = await first_event(events)
        if data["stream"]:
            return await event_stream(request, turn_events(events, started, API_TURN))
        try:
            finished = await _finished(events)
        except ProviderError as error:
            # The failed answer is stored in the conversation: say which, so it can be found.
            return self.problem(request, error, conversation_id=str(started.conversation_id))
        return JsonResponse(turn_result(finished))


# --- OpenAI-compatible: POST /chat/completions --------------------------------------------------------

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
# Parameters OpenAI's API takes that a bot does not use: accepted, and ignored (the bot's own settings
# decide the model, temperature and answer length).
IGNORED_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "user",
    "metadata",
    "store",
)
# Parameters for features a bot does not offer: refused with a message rather than ignored.
UNSUPPORTED_PARAMETERS = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "parallel_tool_calls",
    "response_format",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
)


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


class MessageContentField(serializers.Field):
    """A message's content: a string, or a list of text parts (``[{"type": "text", "text": ...}]``)."""

    default_error_messages = {
        "invalid": "Expected a string or a list of text parts.",
        "not_text": "Only text content is supported.",
    }

    def to_internal_value(self, data: Any) -> str:
        if data is None:
            return ""
        if isinstance(data, str):
            return data
        if not isinstance(data, list):
            self.fail("invalid")
        texts = []
        for part in data:
            if not isinstance(part, dict):
                self.fail("invalid")
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                self.fail("not_text")
            texts.append(part["text"])
        return "\n".join(texts)

    def to_representation(self, value: Any) -> Any:
        return value


extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
                    "required": ["type", "text"],
                },
            },
        ],
        "nullable": True,
    }
)(MessageContentField)


class ChatCompletionMessageInput(serializers.Serializer):
    """One message of the exchange. Other keys OpenAI's message objects carry are ignored."""

    role = serializers.ChoiceField(
        choices=["system", "developer", "user", "assistant"],
        help_text="system and developer messages are ignored: the bot's instructions rule.",
    )
    content = MessageContentField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_blank=True)


class ChatCompletionStreamOptionsInput(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class ChatCompletionInput(StrictInputSerializer):
    """OpenAI's chat completion request. ``model`` names the bot; the last message is the question."""

    model = serializers.CharField(max_length=200, help_text="A bot's slug or id (see GET /models).")
    messages = serializers.ListField(child=ChatCompletionMessageInput(), min_length=1, max_length=500)
    stream = serializers.BooleanField(required=False, allow_null=True, default=False)
    stream_options = ChatCompletionStreamOptionsInput(required=False, allow_null=True)
    n = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1, help_text="Only 1 answer."
    )
    temperature = serializers.FloatField(required=False, allow_null=True, help_text="Ignored: the bot's.")
    top_p = serializers.FloatField(required=False, allow_null=True, help_text="Ignored.")
    max_tokens = serializers.IntegerField(required=False, allow_null=True, help_text="Ignored: the bot's.")
    max_completion_tokens = serializers.IntegerField(
        required=False, allow_null=True, help_text="Ignored: the bot's."
    )
    presence_penalty = serializers.FloatField(required=False, allow_null=True, help_text="Ignored.")
    frequency_penalty = serializers.FloatField(required=False, allow_null=True, help_text="Ignored.")
    seed = serializers.IntegerField(required=False, allow_null=True, help_text="Ignored.")
    stop = serializers.JSONField(required=False, allow_null=True, help_text="Ignored.")
    user = serializers.CharField(required=False, allow_blank=True, help_text="Ignored.")
    metadata = serializers.DictField(required=False, allow_null=True, help_text="Ignored.")
    store = serializers.BooleanField(required=False, allow_null=True, help_text="Ignored.")

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unsupported = sorted(set(data) & set(UNSUPPORTED_PARAMETERS))
            if unsupported:
                raise serializers.ValidationError(
                    {
                        name: ["Not supported: a bot answers in text from its knowledge."]
                        for name in unsupported
                    }
                )
        return super().to_internal_value(data)


class ChatCompletionMessageOutput(serializers.Serializer):
    role = serializers.CharField(help_text='Always "assistant".')
    content = serializers.CharField()
    refusal = serializers.CharField(allow_null=True)


class ChatCompletionChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChatCompletionMessageOutput()
    finish_reason = serializers.CharField()
    logprobs = serializers.JSONField(allow_null=True)


class ChatCompletionUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatCompletionGroundworkOutput(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField(help_text="The stored answer (for feedback and corrections).")
    outcome = serializers.CharField()
    citations = CitationsField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8)


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text='"chat.completion".')
    created = serializers.IntegerField()
    model = serializers.CharField(help_text="The bot's slug.")
    choices = ChatCompletionChoiceOutput(many=True)
    usage = ChatCompletionUsageOutput()
    system_fingerprint = serializers.CharField(allow_null=True)
    groundwork = ChatCompletionGroundworkOutput(help_text="Groundwork's extension: the stored turn.")


class ModelNotFound(NotFound):
    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.")


def _exchange(messages: list[dict[str, Any]]) -> tuple[str, list[services.HistoryMessage]]:
    """The question (the last message, the user's) and the earlier turns; system messages are dropped."""
    if messages[-1]["role"] != "user":
        message = "The last message must be the user's question."
        raise ValidationFailed(message, field_errors={"messages": [message]})
    history = [
        services.HistoryMessage(role=message["role"], content=message.get("content", ""))
        for message in messages[:-1]
        if message["role"] in ("user", "assistant") and message.get("content", "").strip()
    ]
    return messages[-1].get("content", ""), history


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

    def problem(self, request: HttpRequest, error: GroundworkError, **extensions: Any) -> JsonResponse:
        body = problem_body(error.status, error.message, instance=request.path, errors=error.field_errors)
        body.update(extensions)
        error_type, code = None, None
        if isinstance(error, services.BudgetExhausted):
            error_type = code = "insufficient_quota"
        elif isinstance(error, ModelNotFound):
            code = "model_not_found"
        elif isinstance(error, ProviderError):
            code = error.code
        body["error"] = openai_error(error.status, _openai_message(error), error_type=error_type, code=code)
        response = JsonResponse(body, status=error.status, content_type=PROBLEM_CONTENT_TYPE)
        refusal_headers(response, error)
        if isinstance(error, services.BudgetExhausted | ProviderError):
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
