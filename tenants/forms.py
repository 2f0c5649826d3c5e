"""Dashboard forms: field validation only; the rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from core.forms import choice_field
from tenants.audit import ACTION_KINDS
from tenants.models import Role

ASSIGNABLE_ROLE_CHOICES = [(role.value, role.label) for role in (Role.VIEWER, Role.EDITOR, Role.ADMIN)]


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class SignUpForm(forms.Form):
    full_name = forms.CharField(
        label="Your name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name", "autofocus": True}),
    )
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    organisation_name = forms.CharField(
        label="Organisation", max_length=100, help_text="Your company or team; you can rename it later."
    )
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters, not a common password.",
    )

    def __init__(self, *args: Any, joining: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if joining:  # signing up to accept an invitation: the organisation already exists
            del self.fields["organisation_name"]

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class OrganisationForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=100)


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=ASSIGNABLE_ROLE_CHOICES, initial=Role.EDITOR.value)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ASSIGNABLE_ROLE_CHOICES)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What will use this key, e.g. “Zapier” or “CI”."
    )
    # Chosen on purpose, never pre-selected: the list opens on a prompt, and the least role that
    # reads comes first, so a key gets admin rights only when someone picks them.
    role = forms.ChoiceField(
        label="Role",
        choices=[("", "Choose a role…"), *ASSIGNABLE_ROLE_CHOICES],
        error_messages={"required": "Choose the key's role: viewer is enough for reading."},
        help_text="Viewer reads, editor builds, admin manages. Never above you.",
    )


class TransferOwnershipForm(forms.Form):
    membership_id = forms.UUIDField(label="New owner", widget=forms.Select)

    def __init__(self, *args: Any, choices: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["membership_id"].widget.choices = choices or []


class DeleteOrganisationForm(forms.Form):
    confirm_name = forms.CharField(label="Type the organisation's name to confirm")


class AuditFilterForm(forms.Form):
    """The audit log's filters, from the query string; every field may stay empty."""

    kind = forms.ChoiceField(
        label="Kind of change",
        required=False,
        choices=[("", "All kinds"), *((value, label) for value, label, _ in ACTION_KINDS)],
    )
    actor = forms.ChoiceField(label="Who", required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actors: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "actor").choices = [("", "Anyone"), *(actors or [])]
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("id", f"audit-filter-{name}")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data
