"""Input and output shapes of the bots REST API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots import selectors, services
from bots.models import (
    AnswerPolicy,
    Bot,
    BotStatus,
    WidgetIcon,
    WidgetPosition,
)
from core.serializers import StrictInputSerializer
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K

# "status" is shared with documents' status in the schema, whose enum would otherwise be renamed (see
# the enum collision rules of drf-spectacular); the service checks the value.
BOT_STATUS_HELP = " or ".join(BotStatus.values)


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
