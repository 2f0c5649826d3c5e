"""Dashboard forms for regression suites: field validation and the shapes the services take (facts one per
line, a tolerance in percentage points, a candidate's changed settings). The rules themselves (enabled
models, documents of the bot's knowledge bases, retrieval ranges, import formats) live in
``bots.regression.services``, whose errors the views put back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms

from bots.models import DEFAULT_JUDGE_RUBRIC, SuiteSchedule
from bots.regression import case_files
from bots.regression.case_files import MAX_IMPORT_BYTES
from bots.regression.services import MAX_CANDIDATES
from core.errors import ValidationFailed
from core.forms import checkbox, choice_field, text_lines
from knowledge.forms import MODE_CHOICES
from knowledge.retrieval import MAX_TOP_K

MAX_FACTS = 20
NEW_SUITE = "new"
FROM_CONVERSATIONS = "From conversations"
FORMAT_CHOICES = [("", "Detect from the file name"), ("csv", "CSV"), ("jsonl", "JSON Lines")]
CANDIDATE_FIELDS = (
    "chat_model",
    "instructions",
    "retrieval_top_k",
    "retrieval_score_threshold",
    "retrieval_mode",
    "embedding_model",
)


class SuiteForm(forms.Form):
    """A suite's settings. ``settings()`` are the keyword arguments of ``suite_create``/``suite_update``."""

    name = forms.CharField(
        label="Name",
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Refunds and exchanges"}),
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What these questions cover, for your team.",
    )
    schedule = forms.ChoiceField(
        label="Run on a schedule",
        choices=SuiteSchedule.choices,
        help_text="Scheduled runs test the live bot alone and alert when its pass rate drops.",
    )
    drift_tolerance = forms.FloatField(
        label="Drift tolerance (percentage points)",
        min_value=0,
        max_value=100,
        initial=0,
        widget=forms.NumberInput(attrs={"step": "1"}),
        help_text="Alert when the live pass rate falls by more than this below the previous run.",
    )
    judge_model = forms.ChoiceField(
        label="Judge model",
        required=False,
        help_text="Optional: a chat model that also grades each answer with the rubric below. Each "
        "grading is a model call, billed like any other.",
    )
    judge_rubric = forms.CharField(
        label="Judge rubric",
        required=False,
        max_length=4000,
        initial=DEFAULT_JUDGE_RUBRIC,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the judge passes and fails. Used only with a judge model.",
    )

    def __init__(self, *args: Any, model_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "judge_model").choices = [
            ("", "No judge: the checks only"),
            *model_choices,
        ]

    def settings(self) -> dict[str, Any]:
        values = dict(self.cleaned_data)
        values["drift_tolerance"] = round((values.get("drift_tolerance") or 0) / 100, 4)
        values["judge_rubric"] = values.get("judge_rubric") or DEFAULT_JUDGE_RUBRIC
        return values


def suite_initial(suite: Any) -> dict[str, Any]:
    return {
        "name": suite.name,
        "description": suite.description,
        "schedule": suite.schedule,
        "drift_tolerance": f"{suite.drift_tolerance * 100:g}",
        "judge_model": suite.judge_model,
        "judge_rubric": suite.judge_rubric,
    }


class CaseForm(forms.Form):
    """A case: ``values()`` are the keyword arguments of ``case_create``/``case_update``."""

    question = forms.CharField(
        label="Question",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "How long do card refunds take?"}),
        help_text="As a visitor would ask it.",
    )
    expected_facts = forms.CharField(
        label="Expected facts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "five working days\ncard"}),
        help_text=f"One per line, up to {MAX_FACTS}. Each must appear in the answer (case and spacing "
        "ignored).",
    )
    required_documents = forms.MultipleChoiceField(
        label="Required citations",
        required=False,
        help_text="Documents the answer must cite. Hold Ctrl (⌘ on a Mac) to choose several.",
    )
    must_refuse = checkbox("The bot must decline this question (out of scope)")
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For your team: why this case matters.",
    )

    def __init__(self, *args: Any, document_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["required_documents"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = document_choices
        field.widget.attrs["size"] = str(min(max(len(document_choices), 2), 6))
        self.has_documents = bool(document_choices)

    def clean_expected_facts(self) -> list[str]:
        facts = text_lines(self.cleaned_data["expected_facts"])
        if len(facts) > MAX_FACTS:
            raise forms.ValidationError(f"Up to {MAX_FACTS} facts; there are {len(facts)}.")
        for fact in facts:
            if len(fact) > 500:
                raise forms.ValidationError(f"“{fact[:40]}…” is longer than 500 characters.")
        return facts

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "question": data["question"],
            "expected_facts": data["expected_facts"],
            "required_document_ids": list(data["required_documents"]),
            "must_refuse": data["must_refuse"],
            "notes": data["notes"],
        }


def case_initial(case: Any) -> dict[str, Any]:
    return {
        "question": case.question,
        "expected_facts": "\n".join(case.expected_facts),
        "required_documents": [str(identifier) for identifier in case.required_document_ids],
        "must_refuse": case.must_refuse,
        "notes": case.notes,
    }


class ImportForm(forms.Form):
    file = forms.FileField(
        label="File", help_text=f"CSV or JSON Lines, up to {MAX_IMPORT_BYTES // 2**20} MB."
    )
    file_format = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None and not cleaned.get("file_format"):
            detected = case_files.format_of(str(upload.name or "")) or ""
            if not detected:
                self.add_error(
                    "file_format", "Choose the format: the file name ends in neither .csv nor .jsonl."
                )
            cleaned["file_format"] = detected
        if upload is not None and upload.size > MAX_IMPORT_BYTES:
            self.add_error("file", f"Import files are limited to {MAX_IMPORT_BYTES // 2**20} MB.")
        return cleaned


class RunForm(forms.Form):
    include_live = checkbox(
        "Include the live bot",
        initial=True,
        help_text="Its answers are the baseline: a case it passes and a candidate fails is a regression.",
    )


class CandidateForm(forms.Form):
    """One candidate column: any of the settings a run may change; empty means "as live"."""

    label = forms.CharField(
        label="Label",
        required=False,
        max_length=120,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "Described from what it changes"}
        ),
    )
    chat_model = forms.ChoiceField(label="Chat model", required=False)
    instructions = forms.CharField(
        label="Instructions",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "As live"}),
    )
    retrieval_top_k = forms.IntegerField(
        label="Passages per answer",
        required=False,
        min_value=1,
        max_value=MAX_TOP_K,
        widget=forms.NumberInput(attrs={"placeholder": "As live"}),
    )
    retrieval_score_threshold = forms.FloatField(
        label="Minimum similarity",
        required=False,
        min_value=0.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "As live"}),
    )
    retrieval_mode = forms.ChoiceField(label="Search mode", required=False)
    embedding_model = forms.ChoiceField(
        label="Embedding model",
        required=False,
        help_text="Tried on a scratch copy of the index, built for the run and dropped after it.",
    )

    def __init__(
        self,
        *args: Any,
        chat_choices: list[tuple[str, str]],
        embedding_choices: list[tuple[str, str]],
        live: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "chat_model").choices = [("", f"As live ({live['chat_model']})"), *chat_choices]
        choice_field(self, "retrieval_mode").choices = [
            ("", f"As live ({live['retrieval_mode']})"),
            *MODE_CHOICES,
        ]
        choice_field(self, "embedding_model").choices = [
            ("", f"As live ({live['embedding_model']})"),
            *embedding_choices,
        ]
        self.fields["retrieval_top_k"].widget.attrs["placeholder"] = f"As live ({live['retrieval_top_k']})"
        self.fields["retrieval_score_threshold"].widget.attrs["placeholder"] = (
            f"As live ({live['retrieval_score_threshold']})"
        )

    def overrides(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name]
            for name in CANDIDATE_FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        }

    def in_use(self) -> bool:
        """A candidate slot to show open: the one with errors or anything filled in."""
        if not self.is_bound:
            return False
        return bool(self.errors) or any(self.data.get(self.add_prefix(name)) for name in self.fields)

    def is_empty(self) -> bool:
        """Nothing filled in: this candidate slot is not used."""
        return not self.overrides() and not self.cleaned_data.get("label")


def place_run_error(error: ValidationFailed, run_form: RunForm, used: list[CandidateForm]) -> None:
    """The service names a candidate by its position among those sent (``candidates[1]``)."""
    placed = False
    for field, problems in error.field_errors.items():
        if field.startswith("candidates[") and field.endswith("]"):
            index = int(field[len("candidates[") : -1])
            if 0 <= index < len(used):
                for problem in problems:
                    used[index].add_error(None, problem)
                placed = True
    if not placed:
        run_form.add_error(None, error.message)


def candidate_prefix(index: int) -> str:
    return f"c{index}"


CANDIDATE_SLOTS = range(MAX_CANDIDATES)


class AddToSuiteForm(forms.Form):
    """A conversation message into a suite: one of the bot's suites, or a new one."""

    message = forms.UUIDField()
    suite = forms.CharField(max_length=40)
    next = forms.CharField(required=False, max_length=2000)
