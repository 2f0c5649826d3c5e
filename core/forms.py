"""Small helpers the dashboard's forms share."""

from __future__ import annotations

from django import forms

# The ids of a filter form's fields. Filters share their page with other forms that use Django's default
# ids (id_<name>), often for fields of the same name ("kind", "provider"): a page's ids must be unique
# and each label must point at its own control (WCAG 1.3.1, 4.1.2). Field names, and so the query
# string, stay as they are. Usage: ``SomeFilterForm(request.GET, auto_id=FILTER_AUTO_ID)``.
FILTER_AUTO_ID = "filter_%s"


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
