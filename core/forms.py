"""Small helpers the dashboard's forms share."""

from __future__ import annotations

from django import forms


def choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    """A form's choice field, typed, to set its choices from data when the form is made."""
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def text_lines(text: str) -> list[str]:
    """The non-empty lines of a textarea, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def checkbox(label: str, *, help_text: str = "", initial: bool | None = None) -> forms.BooleanField:
    """An optional tick box, styled as the dashboard's switches are."""
    widget = forms.CheckboxInput(attrs={"class": "form-check-input"})
    return forms.BooleanField(
        label=label, required=False, widget=widget, help_text=help_text, initial=initial
    )
