"""Input and output shapes of the widget's public API: only what a visitor may see (no costs, model names,
scores or provider errors)."""

from __future__ import annotations

from rest_framework import serializers

from core.serializers import StrictInputSerializer


class PublicConfigOutput(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField(help_text="The launcher's and panel's title.")
    avatar = serializers.CharField()
    greeting = serializers.CharField()
    suggested_questions = serializers.ListField(child=serializers.CharField())
    show_citations = serializers.BooleanField()
    color = serializers.CharField(help_text="#rrggbb")
    position = serializers.ChoiceField(choices=["right", "left"])
    icon = serializers.ChoiceField(choices=["chat", "help", "sparkles", "headset"])
    identity_verification = serializers.BooleanField(help_text="Signed-in users can be identified.")


class SessionInput(StrictInputSerializer):
    visitor_id = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="The id a previous session returned."
    )
    user_id = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="A signed-in user's id on your site."
    )
    user_hash = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Hex HMAC-SHA256 of user_id with the bot's identity secret, computed by your server.",
    )


class SessionOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>` to this bot's routes.")
    visitor_id = serializers.CharField()
    identified = serializers.BooleanField()
    expires_in = serializers.IntegerField(help_text="Seconds.")


class PublicChatInput(StrictInputSerializer):
    message = serializers.CharField(help_text="The visitor's question.")
    conversation_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Continue this conversation; omit to start one."
    )


class PublicMessageOutput(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=["user", "assistant"])
    content = serializers.CharField()
    citations = serializers.ListField(child=serializers.DictField())
    rating = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    created_at = serializers.DateTimeField()


class PublicConversationOutput(serializers.Serializer):
    id = serializers.UUIDField()
    messages = PublicMessageOutput(many=True)


class PublicFeedbackInput(StrictInputSerializer):
    rating = serializers.ChoiceField(choices=[1, -1], help_text="1: helpful, -1: not helpful.")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PublicFeedbackOutput(serializers.Serializer):
    id = serializers.UUIDField()
    rating = serializers.IntegerField()
