"""Dashboard forms for knowledge bases and their sources: field validation only; the rules (limits,
allowed URLs, file types, embedding models) live in ``knowledge.services``, whose errors the views put
back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from core.forms import choice_field
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from knowledge.services import MAX_CHUNK_SIZE_TOKENS, MIN_CHUNK_SIZE_TOKENS

# Hybrid first: it is the default and what suits most questions.
MODE_CHOICES = [
    (RetrievalMode.HYBRID.value, "Hybrid (both)"),
    (RetrievalMode.VECTOR.value, "Vector (meaning)"),
    (RetrievalMode.FULL_TEXT.value, "Full text (words)"),
]


def embedding_choices(rows: list[dict[str, Any]], *, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Embedding models a knowledge base may be built with: those the organisation offers (enabled or
    default) that are not retired, plus ``keep`` (a knowledge base's models, in use or being switched
    to, whatever their state now, so that saving other settings never trips over them)."""
    choices = []
    for row in rows:
        offered = (row["is_enabled"] or row["is_default"]) and not row["is_retired"]
        if not offered and row["ref"] not in keep:
            continue
        label = row["display_name"]
        if row["embedding_dimensions"]:
            label += f" · {row['embedding_dimensions']:,} dimensions"
        if row["is_deprecated"]:
            label += " (deprecated)"
        choices.append((row["ref"], label))
    listed = {ref for ref, _ in choices}
    choices.extend((ref, ref) for ref in dict.fromkeys(keep) if ref and ref not in listed)
    return choices


class RetrievalSettingsMixin(forms.Form):
    chunk_size_tokens = forms.IntegerField(
        label="Passage size (tokens)",
        min_value=MIN_CHUNK_SIZE_TOKENS,
        max_value=MAX_CHUNK_SIZE_TOKENS,
        initial=400,
        help_text="How much text each searchable passage holds. Capped to what the embedding model reads.",
    )
    chunk_overlap_tokens = forms.IntegerField(
        label="Overlap (tokens)",
        min_value=0,
        max_value=MAX_CHUNK_SIZE_TOKENS,
        initial=60,
        help_text="Text repeated between neighbouring passages, so no sentence is cut off from its context.",
    )
    retrieval_top_k = forms.IntegerField(
        label="Passages per answer",
        min_value=1,
        max_value=MAX_TOP_K,
        initial=5,
    )
    retrieval_score_threshold = forms.FloatField(
        label="Minimum similarity",
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1. Passages less similar to the question than this are left out (0 keeps all).",
    )
    retrieval_mode = forms.ChoiceField(
        label="Search mode", choices=MODE_CHOICES, initial=RetrievalMode.HYBRID
    )


class KnowledgeBaseForm(RetrievalSettingsMixin):
    """A new knowledge base; also its settings form (``for_update``), where the fields are the same."""

    name = forms.CharField(
        label="Name", max_length=120, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What it holds, for your team. Bots do not read it.",
    )
    embedding_model = forms.ChoiceField(
        label="Embedding model",
        help_text="Turns passages into vectors for search by meaning. Enable more on the Models page.",
    )

    field_order = [
        "name",
        "description",
        "embedding_model",
        "chunk_size_tokens",
        "chunk_overlap_tokens",
        "retrieval_mode",
        "retrieval_top_k",
        "retrieval_score_threshold",
    ]

    def __init__(
        self, *args: Any, embedding_rows: list[dict[str, Any]], keep: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "embedding_model").choices = embedding_choices(embedding_rows, keep=keep)


def _as_url(value: str) -> str:
    """People type "example.com/help": read that as https. Anything else is the service's to judge."""
    value = value.strip()
    if value and "://" not in value and not value.startswith(("/", "mailto:", "javascript:", "data:")):
        return "https://" + value
    return value


class SourceForm(forms.Form):
    """One of the add-source forms, which share a page: each gets its own element ids."""

    id_prefix = "source"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class UrlForm(SourceForm):
    id_prefix = "url"
    url = forms.CharField(
        label="Page address",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/help/returns", "inputmode": "url"}),
    )
    title = forms.CharField(
        label="Title", max_length=300, required=False, help_text="Optional; defaults to the address."
    )

    def clean_url(self) -> str:
        return _as_url(self.cleaned_data["url"])


class CrawlForm(SourceForm):
    id_prefix = "crawl"
    url = forms.CharField(
        label="Start address",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/help/", "inputmode": "url"}),
        help_text="Pages linked from it on the same site, below the same path, are read too.",
    )
    max_pages = forms.IntegerField(label="At most this many pages", min_value=1)
    title = forms.CharField(label="Title", max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.CRAWL_MAX_PAGES_LIMIT
        field = self.fields["max_pages"]
        assert isinstance(field, forms.IntegerField)
        field.max_value = limit
        field.initial = settings.CRAWL_DEFAULT_MAX_PAGES
        field.help_text = f"Up to {limit:,}."
        field.widget.attrs["max"] = str(limit)
        field.validators.append(MaxValueValidator(limit, message=f"A crawl reads at most {limit:,} pages."))

    def clean_url(self) -> str:
        return _as_url(self.cleaned_data["url"])


class TextForm(SourceForm):
    id_prefix = "text"
    title = forms.CharField(
        label="Title", max_length=300, required=False, help_text="Optional; defaults to the first line."
    )
    text = forms.CharField(
        label="Text",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "Paste a policy, an FAQ, release notes…"}),
        help_text="Markdown headings (# Title) are kept as the passages' context.",
    )


class QaForm(SourceForm):
    """Question and answer pairs arrive as parallel ``question``/``answer`` lists (rows the page adds and
    removes); the service checks them, so that the API and the dashboard say the same things."""

    id_prefix = "qa"

    title = forms.CharField(label="Title", max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        data = self.data
        questions = data.getlist("question") if hasattr(data, "getlist") else []
        answers = data.getlist("answer") if hasattr(data, "getlist") else []
        count = max(len(questions), len(answers))
        self.pairs = [
            {
                "question": questions[index] if index < len(questions) else "",
                "answer": answers[index] if index < len(answers) else "",
            }
            for index in range(count)
        ]

    def rows(self) -> list[dict[str, str]]:
        """The pairs to show: what was posted, else one empty pair to fill in."""
        return self.pairs or [{"question": "", "answer": ""}]


class SearchForm(SourceForm):
    id_prefix = "search"
    query = forms.CharField(
        label="Question",
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "Ask what a visitor would ask…", "autocomplete": "off"}),
    )
    mode = forms.ChoiceField(label="Mode", choices=MODE_CHOICES, required=False)
    top_k = forms.IntegerField(label="Results", min_value=1, max_value=MAX_TOP_K, required=False)
    compare = forms.BooleanField(
        label="Compare all three modes side by side",
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
