"""The builder's forms: field validation and the shapes the services take (lists typed one per line). The
rules themselves (enabled models, answer lengths per model, knowledge bases of the tenant) live in
``bots.services``, whose errors the views put back on these forms."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from bots.bot_settings import MAX_SUGGESTED_QUESTIONS, form_bounds
from bots.models import AnswerPolicy, BotStatus
from core.forms import checkbox, choice_field, text_lines
from knowledge.forms import MODE_CHOICES
from knowledge.models import KnowledgeBase
from providers.readiness import NO_LLM_MODEL

SUGGESTED_QUESTION_CHARACTERS = 200

# Settings of how a language model writes; meaningless for the no-LLM answerer, which writes nothing.
WRITING_SETTINGS = ("temperature", "max_output_tokens")


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
        **form_bounds("name"),
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
        label="Name", **form_bounds("name"), widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    avatar = forms.CharField(
        label="Avatar",
        **form_bounds("avatar"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "AB"}),
        help_text="An emoji or up to two letters. Empty: the name's initials.",
    )
    description = forms.CharField(
        label="Description",
        **form_bounds("description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What it is for, for your team. The bot does not read it.",
    )
    # Behaviour
    instructions = forms.CharField(
        label="Instructions",
        **form_bounds("instructions"),
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
        **form_bounds("greeting"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
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
        **form_bounds("handoff_message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The answer when the knowledge bases hold nothing relevant (strict policy). No model is "
        "called for it.",
    )
    show_citations = checkbox("Show citations under answers")
    rewrite_follow_ups = checkbox("Rewrite follow-up questions to stand alone before searching")
    language = forms.CharField(
        label="Language",
        **form_bounds("language"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "The visitor's language"}),
        help_text="Answer always in this language, e.g. English. Empty: the language of the question.",
    )
    # Model
    chat_model = forms.ChoiceField(label="Chat model")
    temperature = forms.FloatField(
        label="Temperature",
        **form_bounds("temperature"),
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="0 answers the same way every time; higher varies the wording. 0.2 suits support.",
    )
    max_output_tokens = forms.IntegerField(
        label="Longest answer (tokens)",
        **form_bounds("max_output_tokens"),
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
        **form_bounds("retrieval_top_k"),
        help_text="How many of the best passages the bot reads before answering.",
    )
    retrieval_score_threshold = forms.FloatField(
        label="Minimum similarity",
        **form_bounds("retrieval_score_threshold"),
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1. Less similar passages are left out; with none left, a strict bot hands off.",
    )
    retrieval_mode = forms.ChoiceField(label="Search mode", choices=MODE_CHOICES)
    # Publishing (where and how the widget shows is on the Install page: ``WidgetForm``)
    status = forms.ChoiceField(label="Status", choices=BotStatus.choices, widget=forms.RadioSelect)
    # Limits
    daily_budget_usd = forms.DecimalField(
        label="Daily budget (USD)",
        **form_bounds("daily_budget_usd"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "placeholder": "No limit", "inputmode": "decimal"}),
        help_text="The bot stops answering for the rest of the day (UTC) once its model calls cost this "
        "much.",
    )
    # Removing the daily budget is a choice of its own, never what an emptied field means by accident: new
    # bots start with one in force. Not a bot setting: ``settings()`` turns it into the budget ``None``.
    no_daily_budget = checkbox("No daily budget: spending is not capped")

    def __init__(
        self,
        *args: Any,
        knowledge_bases: list[KnowledgeBase],
        model_choices: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.set_knowledge_bases(knowledge_bases)
        choice_field(self, "chat_model").choices = model_choices
        choice_field(self, "fallback_model").choices = [("", "No fallback"), *model_choices]
        if self["chat_model"].value() == NO_LLM_MODEL:
            # Shown, but off, with the reason beside them (the builder's #writing-settings-off). A disabled
            # field keeps its initial value whatever is posted, so saving leaves the bot's own unchanged.
            for name in WRITING_SETTINGS:
                field = self.fields[name]
                field.disabled = True
                field.required = False
                field.widget.attrs["aria-describedby"] = f"id_{name}_helptext writing-settings-off"

    def clean_suggested_questions(self) -> list[str]:
        questions = text_lines(self.cleaned_data["suggested_questions"])
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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        amount, uncapped = cleaned.get("daily_budget_usd"), cleaned.get("no_daily_budget")
        if uncapped and amount is not None:
            self.add_error("daily_budget_usd", "Enter a budget or tick “No daily budget”, not both.")
        elif not uncapped and amount is None and "daily_budget_usd" not in self.errors:
            self.add_error("daily_budget_usd", "Enter a budget, or tick “No daily budget” to remove the cap.")
        return cleaned

    def settings(self) -> dict[str, Any]:
        """The service's keyword arguments."""
        values = {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("knowledge_bases", "no_daily_budget")
        }
        values["knowledge_base_ids"] = self.knowledge_base_ids()
        return values


def lines_initial(values: list[str]) -> str:
    """A list setting as the textarea shows it."""
    return "\n".join(values)
