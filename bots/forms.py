"""Dashboard forms for bots and conversations: field validation and the shapes the services take (lists
typed one per line or in rows). The rules themselves (enabled models, answer lengths per model, web origins,
knowledge bases of the tenant) live in ``bots.services``, whose errors the views put back on these
forms."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings

from bots.models import AnswerPolicy, BotStatus, Channel, WidgetIcon, WidgetPosition
from bots.services import MAX_SUGGESTED_QUESTIONS, MAX_TEMPERATURE, normalise_origin
from core.errors import ValidationFailed
from knowledge.forms import MODE_CHOICES
from knowledge.models import KnowledgeBase
from knowledge.retrieval import MAX_TOP_K
from knowledge.services import MAX_ANSWER_CHARACTERS, MAX_QUESTION_CHARACTERS

MAX_ORIGINS = 50
SUGGESTED_QUESTION_CHARACTERS = 200


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def _lines(text: str) -> list[str]:
    """The non-empty lines of a textarea, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def knowledge_base_choices(knowledge_bases: list[KnowledgeBase]) -> list[tuple[str, str]]:
    return [(str(knowledge_base.pk), knowledge_base.name) for knowledge_base in knowledge_bases]


class KnowledgeBasesMixin(forms.Form):
    """The knowledge bases a bot answers from, ticked in a list (searched in the order listed)."""

    knowledge_bases = forms.MultipleChoiceField(
        label="Knowledge bases", required=False, widget=forms.CheckboxSelectMultiple
    )

    def set_knowledge_bases(self, knowledge_bases: list[KnowledgeBase]) -> None:
        field = self.fields["knowledge_bases"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = knowledge_base_choices(knowledge_bases)

    def knowledge_base_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(value) for value in self.cleaned_data.get("knowledge_bases") or []]


class BotCreateForm(KnowledgeBasesMixin):
    """A new bot: a name and what it answers from. Everything else starts from working defaults."""

    name = forms.CharField(
        label="Name",
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Support assistant"}),
        help_text="Visitors see it in the chat window. You can change it later.",
    )

    field_order = ["name", "knowledge_bases"]

    def __init__(self, *args: Any, knowledge_bases: list[KnowledgeBase], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_knowledge_bases(knowledge_bases)


class BotForm(KnowledgeBasesMixin):
    """Every setting of a bot, as the builder shows them in sections. ``cleaned_data`` (less
    ``knowledge_bases``) are the keyword arguments of ``services.bot_update``."""

    # Identity
    name = forms.CharField(
        label="Name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    avatar = forms.CharField(
        label="Avatar",
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "AB"}),
        help_text="An emoji or up to two letters. Empty: the name's initials.",
    )
    description = forms.CharField(
        label="Description",
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What it is for, for your team. The bot does not read it.",
    )
    # Behaviour
    instructions = forms.CharField(
        label="Instructions",
        max_length=20_000,
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "placeholder": "You are the support assistant of Northwind. Be brief and friendly. "
                "Never promise refunds; point to the returns page instead.",
            }
        ),
        help_text="What the bot is told before every conversation: tone, scope, what to avoid.",
    )
    greeting = forms.CharField(
        label="Greeting",
        max_length=500,
        required=False,
        help_text="The first message visitors see.",
    )
    suggested_questions = forms.CharField(
        label="Suggested questions",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "How do I return an item?\nWhere is my order?"}
        ),
        help_text=f"One per line, up to {MAX_SUGGESTED_QUESTIONS}: offered as buttons before the first "
        "question.",
    )
    answer_policy = forms.ChoiceField(
        label="Answer policy",
        choices=AnswerPolicy.choices,
        widget=forms.RadioSelect,
    )
    handoff_message = forms.CharField(
        label="Hand-off message",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The answer when the knowledge bases hold nothing relevant (strict policy). No model is "
        "called for it.",
    )
    show_citations = forms.BooleanField(
        label="Show citations under answers",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    rewrite_follow_ups = forms.BooleanField(
        label="Rewrite follow-up questions to stand alone before searching",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    language = forms.CharField(
        label="Language",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "The visitor's language"}),
        help_text="Answer always in this language, e.g. English. Empty: the language of the question.",
    )
    # Model
    chat_model = forms.ChoiceField(label="Chat model")
    temperature = forms.FloatField(
        label="Temperature",
        min_value=0.0,
        max_value=MAX_TEMPERATURE,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="0 answers the same way every time; higher varies the wording. 0.2 suits support.",
    )
    max_output_tokens = forms.IntegerField(
        label="Longest answer (tokens)",
        min_value=16,
        max_value=32_000,
        help_text="About ¾ of a word each. Caps the cost of one answer.",
    )
    fallback_model = forms.ChoiceField(
        label="Fallback model",
        required=False,
        help_text="Answers instead when the chat model fails before writing anything.",
    )
    # Knowledge
    retrieval_top_k = forms.IntegerField(
        label="Passages per answer",
        min_value=1,
        max_value=MAX_TOP_K,
        help_text="How many of the best passages the bot reads before answering.",
    )
    retrieval_score_threshold = forms.FloatField(
        label="Minimum similarity",
        min_value=0.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1. Less similar passages are left out; with none left, a strict bot hands off.",
    )
    retrieval_mode = forms.ChoiceField(label="Search mode", choices=MODE_CHOICES)
    # Publishing (where and how the widget shows is on the Install page: ``WidgetForm``)
    status = forms.ChoiceField(label="Status", choices=BotStatus.choices, widget=forms.RadioSelect)
    # Limits
    daily_budget_usd = forms.DecimalField(
        label="Daily budget (USD)",
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "placeholder": "No limit", "inputmode": "decimal"}),
        help_text="The bot stops answering for the rest of the day (UTC) once its model calls cost this "
        "much. Empty: no daily limit.",
    )

    def __init__(
        self,
        *args: Any,
        knowledge_bases: list[KnowledgeBase],
        model_choices: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.set_knowledge_bases(knowledge_bases)
        _choice_field(self, "chat_model").choices = model_choices
        _choice_field(self, "fallback_model").choices = [("", "No fallback"), *model_choices]

    def clean_suggested_questions(self) -> list[str]:
        questions = _lines(self.cleaned_data["suggested_questions"])
        if len(questions) > MAX_SUGGESTED_QUESTIONS:
            raise forms.ValidationError(
                f"Up to {MAX_SUGGESTED_QUESTIONS} suggested questions; there are {len(questions)}."
            )
        for question in questions:
            if len(question) > SUGGESTED_QUESTION_CHARACTERS:
                raise forms.ValidationError(
                    f"“{question[:40]}…” is longer than {SUGGESTED_QUESTION_CHARACTERS} characters."
                )
        return questions

    def settings(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        values = {name: value for name, value in self.cleaned_data.items() if name != "knowledge_bases"}
        values["knowledge_base_ids"] = self.knowledge_base_ids()
        return values


def lines_initial(values: list[str]) -> str:
    """A list setting as the textarea shows it."""
    return "\n".join(values)


# --- the Install page -----------------------------------------------------------------------------------

HEX_WITHOUT_HASH = re.compile(r"[0-9a-fA-F]{6}")
ORIGIN_SEPARATORS = re.compile(r"[\s,]+")


class OriginRows(forms.Widget):
    """The allowed websites as rows of text inputs sharing one name: ``templates/bots/_install_origins.html``
    draws them and ``install.js`` adds and removes rows (without JavaScript an empty row is there to fill).
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
        return [values] if isinstance(values, str) else list(values)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False  # no rows posted is a choice: no websites


class OriginListField(forms.Field):
    widget = OriginRows

    def to_python(self, value: Any) -> list[str]:
        # A row may hold several origins pasted at once, one per line or separated by spaces or commas.
        rows = value if isinstance(value, list | tuple) else [value or ""]
        return [part for row in rows for part in ORIGIN_SEPARATORS.split(str(row)) if part]


class WidgetForm(forms.Form):
    """Where a bot's website widget may answer and how it looks. ``cleaned_data`` are the keyword arguments
    of ``services.bot_update``, which checks and normalises them (the origins' rule is its
    ``normalise_origin``, applied here to every row so that each wrong one is marked)."""

    allowed_origins = OriginListField(label="Allowed websites", required=False)
    allow_any_origin = forms.BooleanField(
        label="Allow any website (not recommended)",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    widget_title = forms.CharField(
        label="Title",
        max_length=80,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="At the top of the chat window. Empty: the bot's name.",
    )
    widget_color = forms.CharField(
        label="Colour",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "maxlength": "7", "placeholder": "#4f46e5"}
        ),
        help_text="The launcher, the header and your visitors' messages; their text turns white or black, "
        "whichever reads better on it.",
    )
    widget_position = forms.ChoiceField(
        label="Position", choices=WidgetPosition.choices, widget=forms.RadioSelect
    )
    widget_icon = forms.ChoiceField(
        label="Launcher icon", choices=WidgetIcon.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, bot_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["widget_title"].widget.attrs["placeholder"] = bot_name
        self.invalid_origins: set[str] = set()

    def clean_allowed_origins(self) -> list[str]:
        origins: list[str] = self.cleaned_data["allowed_origins"]
        if len(origins) > MAX_ORIGINS:
            raise forms.ValidationError(f"Up to {MAX_ORIGINS} websites; there are {len(origins)}.")
        problems = []
        for origin in origins:
            try:
                normalise_origin(origin)
            except ValidationFailed as error:
                self.invalid_origins.add(origin)
                problems.append(error.message)
        if problems:
            raise forms.ValidationError(problems)
        return origins

    def clean_widget_color(self) -> str:
        colour: str = self.cleaned_data["widget_color"].strip()
        # Pasted from a design tool without its "#": the service checks the rest.
        return f"#{colour}" if HEX_WITHOUT_HASH.fullmatch(colour) else colour

    def settings(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        return dict(self.cleaned_data)


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


# --- conversations ------------------------------------------------------------------------------------

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
    unanswered = forms.BooleanField(
        label="Only with unanswered questions",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args: Any, bots: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        _choice_field(self, "bot").choices = [("", "All bots"), *bots]
        _choice_field(self, "channel").choices = [("", "All channels"), *Channel.choices]

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
        _choice_field(self, "knowledge_base").choices = knowledge_base_choices(knowledge_bases)
        self.knowledge_base_count = len(knowledge_bases)
