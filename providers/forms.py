"""Dashboard forms for the models and usage pages: field validation only; the rules live in services
and selectors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings

from core.forms import checkbox, choice_field
from providers.models import ModelKind, Provider, ProviderCredential

CREDENTIAL_PROVIDER_CHOICES = [
    (provider.value, provider.label)
    for provider in (Provider.OPENAI, Provider.ANTHROPIC, Provider.OPENAI_COMPATIBLE)
]


class ModelFilterForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "All kinds"), *ModelKind.choices])
    provider = forms.ChoiceField(
        label="Provider",
        required=False,
        choices=[
            ("", "All providers"),
            ("openai", "OpenAI"),
            ("anthropic", "Anthropic"),
            ("local", "Built-in"),
            ("custom", "Your own servers"),
        ],
    )
    capability = forms.ChoiceField(
        label="Capability",
        required=False,
        choices=[("", "Any capability"), ("vision", "Vision"), ("image_embedding", "Image embedding")],
    )


class ModelSettingsForm(forms.Form):
    """Which models are enabled and the two defaults. Choices are the models that can still be chosen
    (retired ones are left out), passed in as ``available_models`` rows."""

    enabled_models = forms.MultipleChoiceField(required=False)
    default_chat_model = forms.ChoiceField(label="Default chat model")
    default_embedding_model = forms.ChoiceField(label="Default embedding model")

    def __init__(self, *args: Any, rows: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choosable = [row for row in rows if not row["is_retired"]]
        choice_field(self, "enabled_models").choices = [
            (row["ref"], row["display_name"]) for row in choosable
        ]
        for field_name, kind in (
            ("default_chat_model", ModelKind.CHAT),
            ("default_embedding_model", ModelKind.EMBEDDING),
        ):
            choice_field(self, field_name).choices = [
                (row["ref"], row["display_name"] + (" (deprecated)" if row["is_deprecated"] else ""))
                for row in choosable
                if row["kind"] == kind
            ]


PRIVATE_ENDPOINTS_ALLOWED_HELP = (
    "For OpenAI-compatible servers only (Ollama, vLLM, LM Studio); the key is optional there. "
    "This installation accepts private addresses such as http://localhost:11434/v1 (Ollama)."
)
PRIVATE_ENDPOINTS_REFUSED_HELP = (
    "For OpenAI-compatible servers only (Ollama, vLLM, LM Studio); the key is optional there. "
    "This installation only reaches public addresses; the operator can allow private ones with "
    "ALLOW_PRIVATE_MODEL_ENDPOINTS."
)


def base_url_help() -> str:
    """Which server addresses this installation reaches, read when the form is made (the rule is
    ``providers.services.validate_endpoint_url``'s, from ALLOW_PRIVATE_MODEL_ENDPOINTS)."""
    if settings.ALLOW_PRIVATE_MODEL_ENDPOINTS:
        return PRIVATE_ENDPOINTS_ALLOWED_HELP
    return PRIVATE_ENDPOINTS_REFUSED_HELP


class CredentialForm(forms.Form):
    provider = forms.ChoiceField(label="Provider", choices=CREDENTIAL_PROVIDER_CHOICES)
    name = forms.CharField(
        label="Name", max_length=100, required=False, help_text="Defaults to the provider's name."
    )
    # render_value=False: a key typed into a form that failed validation is never sent back to the page.
    api_key = forms.CharField(
        label="API key",
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Stored encrypted. Only its last four characters are ever shown again.",
    )
    base_url = forms.CharField(
        label="Base URL",
        max_length=200,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://llm.example.com/v1"}),
        help_text=PRIVATE_ENDPOINTS_REFUSED_HELP,  # replaced per installation in __init__
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_url"].help_text = base_url_help()
        if settings.ALLOW_PRIVATE_MODEL_ENDPOINTS:
            self.fields["base_url"].widget.attrs["placeholder"] = "http://localhost:11434/v1"


class CredentialUpdateForm(forms.Form):
    """Replace the key or, for OpenAI-compatible servers, move the base URL. Blank fields stay as they are."""

    api_key = forms.CharField(
        label="New API key",
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    base_url = forms.CharField(label="Base URL", max_length=200, required=False, widget=forms.URLInput)

    def changes(self) -> dict[str, str]:
        return {name: value for name, value in self.cleaned_data.items() if value}


class CustomModelForm(forms.Form):
    credential = forms.ChoiceField(label="Server")
    model_name = forms.CharField(
        label="Model name on the server",
        max_length=200,
        help_text="Exactly as the server names it, e.g. llama3.1:8b.",
    )
    display_name = forms.CharField(
        label="Display name", max_length=120, required=False, help_text="Defaults to the model name."
    )
    kind = forms.ChoiceField(label="Kind", choices=ModelKind.choices)
    context_window = forms.IntegerField(
        label="Context window (tokens)", min_value=1, max_value=100_000_000, initial=8192
    )
    max_output_tokens = forms.IntegerField(
        label="Max output tokens", min_value=1, max_value=100_000_000, required=False
    )
    input_price_per_million = forms.DecimalField(
        label="Input price per 1M tokens (USD)",
        min_value=0,
        max_digits=10,
        decimal_places=4,
        required=False,
        help_text="What a call costs you, for usage reports; 0 for your own hardware.",
    )
    output_price_per_million = forms.DecimalField(
        label="Output price per 1M tokens (USD)", min_value=0, max_digits=10, decimal_places=4, required=False
    )
    embedding_dimensions = forms.IntegerField(
        label="Embedding dimensions",
        min_value=1,
        max_value=65_536,
        required=False,
        help_text="Embedding models only, e.g. 768 for nomic-embed-text.",
    )

    def __init__(self, *args: Any, credentials: list[ProviderCredential], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "credential").choices = [
            (str(credential.pk), f"{credential.name} ({credential.base_url})") for credential in credentials
        ]


class UsageFilterForm(forms.Form):
    """Empty dates mean the default range; the selector checks the range itself."""

    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(
        required=False,
        choices=[("day", "Day"), ("model", "Model"), ("bot", "Bot")],
        widget=forms.HiddenInput,
    )
    chart = forms.ChoiceField(
        required=False, choices=[("cost", "Cost"), ("tokens", "Tokens")], widget=forms.HiddenInput
    )


class BudgetForm(forms.Form):
    """The organisation's monthly budget. Removing it is a choice of its own (``no_budget``), never what an
    emptied field means by accident: new organisations start with a budget in force."""

    monthly_budget_usd = forms.DecimalField(
        label="Monthly budget (USD)",
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "placeholder": "No limit", "inputmode": "decimal"}),
        help_text="Once this month's usage reaches it, bots refuse questions without calling a model, "
        "until the 1st (UTC).",
    )
    no_budget = checkbox("No monthly budget: spending is not capped")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        amount, uncapped = cleaned.get("monthly_budget_usd"), cleaned.get("no_budget")
        if uncapped and amount is not None:
            self.add_error("monthly_budget_usd", "Enter a budget or tick “No monthly budget”, not both.")
        elif not uncapped and amount is None and "monthly_budget_usd" not in self.errors:
            self.add_error(
                "monthly_budget_usd", "Enter a budget, or tick “No monthly budget” to remove the cap."
            )
        return cleaned
