"""Input and output shapes of the chat REST API, the conversation API and the OpenAI-compatible surface."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots.chat import selectors as chat_selectors
from bots.chat.exports import EXPORT_FORMATS
from bots.models import (
    Channel,
    Conversation,
    Message,
    MessageOutcome,
    MessageRole,
)
from core.serializers import StrictInputSerializer
from knowledge import services as knowledge_services

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
        messages = chat_selectors.conversation_messages(
            tenant=self.context["tenant"], conversation=conversation
        )
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


@extend_schema_field(
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
)
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
