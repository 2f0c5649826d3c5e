"""REST endpoints for bots, their conversations and the feedback on answers, and the OpenAI model list.

Bots are named in URLs by id or slug. Chatting (``/bots/{id}/chat``, ``/chat/completions``) is served by
the async views of ``bots.chat_views``: answers stream under ASGI, which DRF's sync views cannot do.

Knowledge bases and other objects named in a request *body* that are not the tenant's are a 400 on that
field (the object the URL names exists; the body is what is wrong), with the same message for "missing"
and "another tenant's", so the answer reveals nothing either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors, services
from bots.chat_views import openai_exception_handler
from bots.models import (
    AnswerPolicy,
    Bot,
    BotStatus,
    Channel,
    Conversation,
    Message,
    MessageOutcome,
    MessageRole,
    WidgetIcon,
    WidgetPosition,
)
from bots.streaming import EXPORT_FORMATS, export_response
from core.errors import NotFound, ValidationFailed
from core.pagination import CursorPagination
from core.serializers import StrictInputSerializer
from knowledge import selectors as knowledge_selectors
from knowledge import services as knowledge_services
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from tenants.api_base import TenantAPIView
from tenants.models import Role, Tenant

# Nested input serializers carry names unique across the API: the OpenAPI component name is the class
# name, and drf-spectacular would otherwise document two different inputs under one name.

BOT_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The bot's id or slug.")
# "status" is shared with documents' status in the schema, whose enum would otherwise be renamed (see
# the enum collision rules of drf-spectacular); the service checks the value.
BOT_STATUS_HELP = " or ".join(BotStatus.values)


# --- output -----------------------------------------------------------------------------------------


class BotKnowledgeBaseOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class BotOutput(serializers.ModelSerializer):
    knowledge_bases = serializers.SerializerMethodField(
        help_text="The knowledge bases the bot answers from, in the order they are searched."
    )
    status = serializers.CharField(help_text=BOT_STATUS_HELP)
    chat_model = serializers.CharField(help_text="A chat model reference, e.g. openai:gpt-4o-mini.")
    fallback_model = serializers.CharField(help_text="Used when the chat model fails before answering.")
    publishable_key = serializers.CharField(
        help_text="The widget's key: it names the bot in page source and grants nothing else."
    )
    identity_verification = serializers.SerializerMethodField(
        help_text="Whether the bot has an identity-verification secret (set in the dashboard; never shown)."
    )
    slug = serializers.CharField(
        help_text="Names the bot in URLs and as the `model` of the OpenAI-compatible endpoint; it follows "
        "the name."
    )

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "slug",
            "avatar",
            "description",
            "instructions",
            "greeting",
            "suggested_questions",
            "chat_model",
            "fallback_model",
            "temperature",
            "max_output_tokens",
            "knowledge_bases",
            "retrieval_top_k",
            "retrieval_score_threshold",
            "retrieval_mode",
            "answer_policy",
            "handoff_message",
            "show_citations",
            "rewrite_follow_ups",
            "language",
            "status",
            "allowed_origins",
            "allow_any_origin",
            "daily_budget_usd",
            "widget_title",
            "widget_color",
            "widget_position",
            "widget_icon",
            "identity_verification",
            "publishable_key",
            "created_at",
            "updated_at",
        ]

    def get_identity_verification(self, bot: Bot) -> bool:
        return bool(bot.identity_secret)

    @extend_schema_field(BotKnowledgeBaseOutput(many=True))
    def get_knowledge_bases(self, bot: Bot) -> list[dict[str, Any]]:
        bases = selectors.bot_knowledge_bases(tenant=self.context["tenant"], bot=bot)
        return [{"id": str(base.pk), "name": base.name} for base in bases]


class CitationOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="What the answer cites it as: [1], [2], ...")
    chunk_id = serializers.UUIDField()
    document_id = serializers.UUIDField()
    title = serializers.CharField()
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="The document's original file name, or its URL."
    )
    page_number = serializers.IntegerField(allow_null=True)
    anchor = serializers.CharField()
    snippet = serializers.CharField(help_text="The passage's beginning.")
    score = serializers.FloatField()


class ConversationBotOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()


class MessageOutput(serializers.ModelSerializer):
    citations = CitationOutput(many=True)
    outcome = serializers.ChoiceField(
        choices=MessageOutcome.choices, allow_blank=True, help_text="Empty for the visitor's questions."
    )
    role = serializers.ChoiceField(choices=MessageRole.choices)
    rating = serializers.IntegerField(allow_null=True, help_text="1 (helpful), -1 (not helpful) or null.")
    standalone_question = serializers.CharField(
        help_text="A follow-up question as the bot searched it, rewritten to stand alone."
    )
    model_version = serializers.CharField(help_text="The exact model version that answered.")

    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "outcome",
            "error_message",
            "standalone_question",
            "citations",
            "model_ref",
            "model_version",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "time_to_first_token_ms",
            "rating",
            "feedback_comment",
            "created_at",
        ]


class ConversationOutput(serializers.ModelSerializer):
    bot = ConversationBotOutput()
    channel = serializers.ChoiceField(choices=Channel.choices)
    visitor_id = serializers.CharField(help_text="The widget's anonymous visitor; empty elsewhere.")
    title = serializers.CharField(help_text="The first question, shortened.")
    unanswered_count = serializers.IntegerField(
        help_text="Answers that found nothing relevant (the handoff message)."
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "bot",
            "channel",
            "title",
            "visitor_id",
            "message_count",
            "unanswered_count",
            "cost_usd",
            "created_at",
            "last_message_at",
        ]


class ConversationDetailOutput(ConversationOutput):
    messages = serializers.SerializerMethodField(help_text="Oldest first.")

    class Meta(ConversationOutput.Meta):
        fields = [*ConversationOutput.Meta.fields, "messages"]

    @extend_schema_field(MessageOutput(many=True))
    def get_messages(self, conversation: Conversation) -> Any:
        messages = selectors.conversation_messages(tenant=self.context["tenant"], conversation=conversation)
        return MessageOutput(messages, many=True).data


class CorrectionOutput(serializers.Serializer):
    document_id = serializers.UUIDField(help_text="The new Q&A document, queued for processing.")
    knowledge_base_id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField(help_text="The document's processing status (queued at first).")


class OpenAIModelOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The bot's slug: what `model` names in chat completions.")
    object = serializers.CharField(help_text='Always "model".')
    created = serializers.IntegerField(help_text="When the bot was created, in Unix seconds.")
    owned_by = serializers.CharField(help_text="The organisation's slug.")
    name = serializers.CharField(help_text="The bot's name (an extension of OpenAI's object).")
    bot_id = serializers.UUIDField(help_text="The bot's id, also accepted as `model` (an extension).")


class OpenAIModelListOutput(serializers.Serializer):
    object = serializers.CharField(help_text='Always "list".')
    # DRF's serializer metaclass takes declared fields off the class: this does not replace .data.
    data = OpenAIModelOutput(many=True)  # type: ignore[assignment]


# --- input ------------------------------------------------------------------------------------------


class BotInput(StrictInputSerializer):
    """A bot's settings. Creating one needs only ``name``; the others take their defaults (the
    organisation's default chat model, strict answers with citations). PATCH changes what it sends."""

    name = serializers.CharField(max_length=120)
    knowledge_bases = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=50,
        required=False,
        help_text="Ids of the knowledge bases to answer from, in the order to search them; replaces the "
        "current list.",
    )
    avatar = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="An emoji or up to two letters."
    )
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    instructions = serializers.CharField(
        max_length=20_000,
        required=False,
        allow_blank=True,
        help_text="What the bot is told before every conversation (tone, scope, what to avoid).",
    )
    greeting = serializers.CharField(max_length=500, required=False, allow_blank=True)
    suggested_questions = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        max_length=services.MAX_SUGGESTED_QUESTIONS,
        required=False,
    )
    chat_model = serializers.CharField(
        max_length=200,
        required=False,
        help_text="A chat model enabled for the organisation, e.g. openai:gpt-4o-mini. Default: the "
        "organisation's default chat model.",
    )
    fallback_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Another enabled chat model, used when the chat model fails before answering.",
    )
    temperature = serializers.FloatField(min_value=0.0, max_value=services.MAX_TEMPERATURE, required=False)
    max_output_tokens = serializers.IntegerField(min_value=16, max_value=32_000, required=False)
    retrieval_top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, required=False)
    retrieval_score_threshold = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    retrieval_mode = serializers.ChoiceField(choices=RetrievalMode.choices, required=False)
    answer_policy = serializers.ChoiceField(choices=AnswerPolicy.choices, required=False)
    handoff_message = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="The answer when the knowledge bases hold nothing relevant (strict policy).",
    )
    show_citations = serializers.BooleanField(required=False)
    rewrite_follow_ups = serializers.BooleanField(
        required=False, help_text="Rewrite follow-up questions to stand alone before searching."
    )
    language = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Empty: the language of the question."
    )
    status = serializers.CharField(max_length=20, required=False, help_text=BOT_STATUS_HELP)
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300),
        max_length=50,
        required=False,
        help_text="Web origins the widget may run on, like https://www.example.com. Empty: none "
        "(unless allow_any_origin).",
    )
    allow_any_origin = serializers.BooleanField(
        required=False, help_text="Let the widget run on any website (not recommended)."
    )
    widget_title = serializers.CharField(
        max_length=80,
        required=False,
        allow_blank=True,
        help_text="The widget's title; empty: the bot's name.",
    )
    widget_color = serializers.CharField(
        max_length=7, required=False, help_text="The widget's colour, #rrggbb."
    )
    widget_position = serializers.ChoiceField(choices=WidgetPosition.choices, required=False)
    widget_icon = serializers.ChoiceField(choices=WidgetIcon.choices, required=False)
    daily_budget_usd = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="The bot stops answering for the rest of the day (UTC) once it has spent this; "
        "null: no cap.",
    )


class ConversationFilterInput(StrictInputSerializer):
    """Filters of the conversation list and export; dates are UTC days of the last message."""

    # Query parameters the paginator reads, not filters.
    PAGINATION_PARAMETERS = ("cursor", "page_size")

    bot = serializers.CharField(max_length=100, required=False, help_text="A bot's id or slug.")
    since = serializers.DateField(required=False, help_text="YYYY-MM-DD, inclusive.")
    until = serializers.DateField(required=False, help_text="YYYY-MM-DD, inclusive.")
    rating = serializers.ChoiceField(
        choices=[1, -1], required=False, help_text="Conversations with an answer rated this way."
    )
    unanswered = serializers.BooleanField(
        required=False, help_text="true: only conversations with an answer that found nothing."
    )
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"until": ["Must not be before since."]})
        return attrs


class ConversationExportInput(ConversationFilterInput):
    format = serializers.ChoiceField(
        choices=list(EXPORT_FORMATS), default="csv", help_text="csv, or jsonl (one JSON object a line)."
    )


class MessageFeedbackInput(StrictInputSerializer):
    rating = serializers.ChoiceField(choices=[1, -1], help_text="1 (helpful) or -1 (not helpful).")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class MessageCorrectionInput(StrictInputSerializer):
    knowledge_base_id = serializers.UUIDField(help_text="Where the Q&A entry is added.")
    answer = serializers.CharField(
        max_length=knowledge_services.MAX_ANSWER_CHARACTERS, help_text="The right answer."
    )
    question = serializers.CharField(
        max_length=knowledge_services.MAX_QUESTION_CHARACTERS,
        required=False,
        allow_blank=True,
        default="",
        help_text="Default: the visitor's question the answer replied to.",
    )


# --- endpoints --------------------------------------------------------------------------------------


class BotsAPIView(TenantAPIView):
    """Base of this module's views: cursor pagination, and how a bot is shaped."""

    pagination_class = CursorPagination

    def bot_body(self, bot: Bot) -> Any:
        return BotOutput(bot, context=self.output_context()).data


def _knowledge_base_ids(tenant: Tenant, identifiers: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids, each checked to be one of the tenant's knowledge bases (a 400 on the field if not)."""
    for identifier in identifiers:
        try:
            knowledge_selectors.knowledge_base_get(tenant=tenant, knowledge_base_id=identifier)
        except NotFound:
            message = f"No such knowledge base: {identifier}."
            raise ValidationFailed(message, field_errors={"knowledge_bases": [message]}) from None
    return list(identifiers)


def _bot_settings(tenant: Tenant, validated: dict[str, Any]) -> dict[str, Any]:
    """Service keyword arguments from a BotInput's validated data."""
    arguments = dict(validated)
    if "knowledge_bases" in arguments:
        arguments["knowledge_base_ids"] = _knowledge_base_ids(tenant, arguments.pop("knowledge_bases"))
    return arguments


class BotListView(BotsAPIView):
    """Bots, newest first; ``POST`` creates one that can answer at once."""

    @extend_schema(responses=BotOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.bot_list(tenant=self.actor.tenant), BotOutput)

    @extend_schema(request=BotInput, responses={201: BotOutput})
    def post(self, request: Request) -> Response:
        data = BotInput(data=request.data)
        data.is_valid(raise_exception=True)
        bot = services.bot_create(actor=self.actor, **_bot_settings(self.actor.tenant, data.validated_data))
        return Response(
            self.bot_body(bot),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("bot-detail", kwargs={"id": bot.pk})},
        )


class BotDetailView(BotsAPIView):
    """One bot. A new ``name`` gives it a new ``slug``; ``DELETE`` removes it with its conversations
    (usage records stay: they are the bill)."""

    @extend_schema(parameters=[BOT_ID], responses=BotOutput)
    def get(self, request: Request, id: str) -> Response:
        return Response(self.bot_body(selectors.bot_get(tenant=self.actor.tenant, bot_id=id)))

    @extend_schema(parameters=[BOT_ID], request=BotInput, responses=BotOutput)
    def patch(self, request: Request, id: str) -> Response:
        bot = selectors.bot_get(tenant=self.actor.tenant, bot_id=id)  # 404 before the body
        data = BotInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        bot = services.bot_update(
            actor=self.actor, bot_id=bot.pk, **_bot_settings(self.actor.tenant, data.validated_data)
        )
        return Response(self.bot_body(bot))

    @extend_schema(parameters=[BOT_ID], responses={204: None})
    def delete(self, request: Request, id: str) -> Response:
        services.bot_delete(actor=self.actor, bot_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotRotateKeyView(BotsAPIView):
    """A new publishable key for the widget; pages still embedding the old one stop working."""

    @extend_schema(parameters=[BOT_ID], request=None, responses=BotOutput)
    def post(self, request: Request, id: str) -> Response:
        bot = services.bot_rotate_publishable_key(actor=self.actor, bot_id=id)
        return Response(self.bot_body(bot))


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
            selectors.conversation_list(tenant=self.actor.tenant, **filters), ConversationOutput
        )


class ConversationDetailView(BotsAPIView):
    """One conversation with all its messages, their citations, usage and feedback."""

    @extend_schema(responses=ConversationDetailOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        conversation = selectors.conversation_get(tenant=self.actor.tenant, conversation_id=id)
        return Response(ConversationDetailOutput(conversation, context=self.output_context()).data)


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
                OpenApiTypes.STR, description="Columns: " + ", ".join(selectors.EXPORT_FIELDS)
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

    @extend_schema(request=MessageFeedbackInput, responses=MessageOutput)
    def post(self, request: Request, id: uuid.UUID) -> Response:
        selectors.message_get(tenant=self.actor.tenant, message_id=id)  # 404 before the body
        data = MessageFeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_rate(
            actor=self.actor,
            message_id=id,
            rating=data.validated_data["rating"],
            comment=data.validated_data["comment"],
        )
        return Response(MessageOutput(message).data)


class MessageCorrectionView(BotsAPIView):
    """Turn a poor answer into knowledge: a Q&A document with the question (the visitor's, unless
    given) and the right answer, added to a knowledge base and processed in the background."""

    @extend_schema(request=MessageCorrectionInput, responses={201: CorrectionOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        selectors.message_get(tenant=self.actor.tenant, message_id=id)  # 404 before the body
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
        document = services.message_correct_into_knowledge(
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


# --- OpenAI-compatible: the model list ----------------------------------------------------------------


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
