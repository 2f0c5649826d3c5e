"""Input and output shapes of the bots REST API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots import bot_settings, selectors
from bots.models import (
    Bot,
    BotStatus,
)
from core.serializers import StrictInputSerializer

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
        # Every setting bots.bot_settings declares, among the bot's own fields.
        fields = [
            "id",
            "name",
            "slug",
            *(name for name in bot_settings.NAMES if name != "name"),
            "knowledge_bases",
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

    name = bot_settings.serializer_field(bot_settings.SETTINGS_BY_NAME["name"])
    knowledge_bases = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=50,
        required=False,
        help_text="Ids of the knowledge bases to answer from, in the order to search them; replaces the "
        "current list.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # Every other setting, as bots.bot_settings declares it.
        others = bot_settings.serializer_fields(name for name in bot_settings.NAMES if name != "name")
        return {**super().get_fields(), **others}
