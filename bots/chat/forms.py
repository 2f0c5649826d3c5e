"""Dashboard forms of chat: the playground's question, ratings, conversation filters and corrections."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.conf import settings

from bots.forms import knowledge_base_choices
from bots.models import Channel
from core.forms import checkbox, choice_field
from knowledge.models import KnowledgeBase
from knowledge.services import MAX_ANSWER_CHARACTERS, MAX_QUESTION_CHARACTERS


class PlaygroundForm(forms.Form):
    """One question in the builder's playground (posted by bots.js)."""

    message = forms.CharField(error_messages={"required": "Type a question."})
    conversation_id = forms.UUIDField(required=False)

    def clean_message(self) -> str:
        message: str = self.cleaned_data["message"]
        limit = settings.CHAT_MAX_MESSAGE_CHARACTERS
        if len(message) > limit:
            raise forms.ValidationError(f"Questions are limited to {limit:,} characters.")
        return message


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(choices=[("1", "Helpful"), ("-1", "Not helpful")], coerce=int)
    comment = forms.CharField(required=False, max_length=2000)


RATING_CHOICES = [("", "Any rating"), ("1", "Rated helpful"), ("-1", "Rated not helpful")]


class ConversationFilterForm(forms.Form):
    """The conversation list's filters, read from the query string; also what the export honours."""

    bot = forms.ChoiceField(label="Bot", required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    rating = forms.TypedChoiceField(
        label="Rating", choices=RATING_CHOICES, required=False, coerce=int, empty_value=None
    )
    channel = forms.ChoiceField(label="Channel", required=False)
    unanswered = checkbox("Only with unanswered questions")

    def __init__(self, *args: Any, bots: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        choice_field(self, "bot").choices = [("", "All bots"), *bots]
        choice_field(self, "channel").choices = [("", "All channels"), *Channel.choices]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since: date | None = cleaned.get("since")
        until: date | None = cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments (only what is set)."""
        data = self.cleaned_data
        filters: dict[str, Any] = {}
        if data.get("bot"):
            filters["bot_id"] = data["bot"]
        for name in ("since", "until", "rating", "channel"):
            if data.get(name):
                filters[name] = data[name]
        if data.get("unanswered"):
            filters["unanswered"] = True
        return filters

    def is_filtered(self) -> bool:
        return self.is_bound and self.is_valid() and bool(self.filters())


class CorrectionForm(forms.Form):
    """Turn an answer into a question-and-answer entry of a knowledge base."""

    knowledge_base = forms.ChoiceField(
        label="Add to knowledge base",
        help_text="Bots answering from it find the correction once it has been processed (seconds).",
    )
    question = forms.CharField(
        label="Question",
        max_length=MAX_QUESTION_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="As a visitor would ask it; edit it to cover more ways of asking.",
    )
    answer = forms.CharField(
        label="Correct answer",
        max_length=MAX_ANSWER_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "The answer the bot should have given…"}),
    )

    def __init__(self, *args: Any, knowledge_bases: list[KnowledgeBase], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "knowledge_base").choices = knowledge_base_choices(knowledge_bases)
        self.knowledge_base_count = len(knowledge_bases)
