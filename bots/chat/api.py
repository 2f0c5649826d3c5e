"""Chat over the REST API: ``POST /bots/{id}/chat`` (async, on ``AsyncChatView``, which the OpenAI-compatible
surface in ``bots.chat.openai_compat`` shares), and the conversations with their export and feedback (DRF).

The chat views are async Django views, because an answer streams for seconds and must not hold a worker thread
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

Their classes derive from ``core.async_views.AsyncEndpoint``: DRF's ``APIView`` only for drf-spectacular,
requests never pass through DRF.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors
from bots.api import BOT_ID, BotsAPIView
from bots.chat import engine
from bots.chat import selectors as chat_selectors
from bots.chat import services as chat_services
from bots.chat.engine import EngineEvent, TurnFinished
from bots.chat.exports import export_response
from bots.chat.serializers import (
    ChatInput,
    ChatOutput,
    ConversationDetailOutput,
    ConversationExportInput,
    ConversationFilterInput,
    ConversationOutput,
    CorrectionOutput,
    MessageCorrectionInput,
    MessageFeedbackInput,
    MessageOutput,
)
from bots.chat.streaming import TurnPresenter, aclose, event_stream, first_event, turn_events
from bots.models import (
    Bot,
    Channel,
)
from core.async_views import AsyncEndpoint, json_body
from core.client_address import client_address
from core.errors import GroundworkError, NotFound, RequestRefused, ValidationFailed
from core.problems import problem_response
from core.serializers import validated
from knowledge import selectors as knowledge_selectors
from providers.errors import ProviderError
from tenants.actors import Actor
from tenants.authentication import api_key_from_request
from tenants.context import tenant_context
from tenants.models import Role, Tenant


class AsyncChatView(AsyncEndpoint):
    """An async endpoint: ``POST`` only, a Bearer API key (checked as ``ApiKeyAuthentication`` checks it,
    in a thread) with at least ``required_role``."""

    required_role = Role.VIEWER
    http_method_names = ["post"]

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

    def problem(self, request: HttpRequest, error: GroundworkError, /, **extensions: Any) -> JsonResponse:
        return problem_response(request, error, **extensions)


def _actor(request: HttpRequest) -> Actor | None:
    api_key = api_key_from_request(request)
    if api_key is None:
        return None
    return Actor(tenant=api_key.tenant, role=Role(api_key.role), api_key=api_key)


def _bot(tenant: Tenant, bot_id: str) -> Bot:
    with tenant_context(tenant.pk):
        return selectors.bot_get(tenant=tenant, bot_id=bot_id)


# --- POST /bots/{id}/chat -------------------------------------------------------------------------------


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
            client_ip=client_address(request),
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


# --- conversations and feedback ----------------------------------------------------------------------


def _filters(view: BotsAPIView, serializer: type[ConversationFilterInput]) -> dict[str, Any]:
    """The selector's keyword arguments from the query string (the paginator's parameters aside)."""
    query = {
        name: value
        for name, value in view.request.query_params.items()
        if name not in ConversationFilterInput.PAGINATION_PARAMETERS
    }
    data = serializer(data=query)
    data.is_valid(raise_exception=True)
    filters = dict(data.validated_data)
    bot = filters.pop("bot", None)
    if bot:
        try:
            filters["bot_id"] = selectors.bot_get(tenant=view.actor.tenant, bot_id=bot).pk
        except NotFound:
            raise ValidationFailed("No such bot.", field_errors={"bot": ["No such bot."]}) from None
    return filters


class ConversationListView(BotsAPIView):
    """Conversations of every bot and channel, the most recently started first."""

    @extend_schema(parameters=[ConversationFilterInput], responses=ConversationOutput(many=True))
    def get(self, request: Request) -> Response:
        filters = _filters(self, ConversationFilterInput)
        return self.paginated(
            chat_selectors.conversation_list(tenant=self.actor.tenant, **filters), ConversationOutput
        )


class ConversationDetailView(BotsAPIView):
    """One conversation with all its messages, their citations, usage and feedback."""

    url_object_lookup = (chat_selectors.conversation_get, "conversation_id")

    @extend_schema(responses=ConversationDetailOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(ConversationDetailOutput(self.url_object, context=self.output_context()).data)


class ConversationExportView(BotsAPIView):
    """Every message of the filtered conversations, one row each (oldest conversation first), streamed
    as CSV or JSON Lines. In CSV, cells starting with = + - @ are prefixed with ' so that spreadsheet
    programs show visitors' text instead of running it as a formula."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # ``format`` names the export's format here, not a DRF renderer; errors are still JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[ConversationExportInput],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Columns: " + ", ".join(chat_selectors.EXPORT_FIELDS)
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One object a line."
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = _filters(self, ConversationExportInput)
        export_format = filters.pop("format")
        return export_response(
            request._request, tenant_id=self.actor.tenant.pk, filters=filters, export_format=export_format
        )


class MessageFeedbackView(BotsAPIView):
    """Rate an answer 1 (helpful) or -1 (not helpful), with an optional comment; rating it again
    replaces the rating. Viewers may rate."""

    write_role = Role.VIEWER
    url_object_lookup = (chat_selectors.message_get, "message_id")

    @extend_schema(request=MessageFeedbackInput, responses=MessageOutput)
    def post(self, request: Request, id: uuid.UUID) -> Response:
        data = MessageFeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = chat_services.message_rate(
            actor=self.actor,
            message_id=id,
            rating=data.validated_data["rating"],
            comment=data.validated_data["comment"],
        )
        return Response(MessageOutput(message).data)


class MessageCorrectionView(BotsAPIView):
    """Turn a poor answer into knowledge: a Q&A document with the question (the visitor's, unless
    given) and the right answer, added to a knowledge base and processed in the background."""

    url_object_lookup = (chat_selectors.message_get, "message_id")

    @extend_schema(request=MessageCorrectionInput, responses={201: CorrectionOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        data = MessageCorrectionInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            knowledge_selectors.knowledge_base_get(
                tenant=self.actor.tenant, knowledge_base_id=fields["knowledge_base_id"]
            )
        except NotFound:
            message = "No such knowledge base."
            raise ValidationFailed(message, field_errors={"knowledge_base_id": [message]}) from None
        document = chat_services.message_correct_into_knowledge(
            actor=self.actor,
            message_id=id,
            knowledge_base_id=fields["knowledge_base_id"],
            answer=fields["answer"],
            question=fields["question"],
        )
        body = {
            "document_id": document.pk,
            "knowledge_base_id": document.knowledge_base_id,
            "title": document.title,
            "status": document.status,
        }
        location = reverse(
            "knowledge-document-detail", kwargs={"id": document.knowledge_base_id, "document_id": document.pk}
        )
        return Response(
            CorrectionOutput(body).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )
