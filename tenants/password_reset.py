"""The password reset form the account pages use: its emailed link starts with the public address."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import forms as auth_forms
from django.http import HttpRequest

from core.public_urls import public_base_url


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, whose emailed link starts with the public address (Django's own takes the
    request's host and scheme, which ignores ``PUBLIC_URL``)."""

    def save(self, **kwargs: Any) -> None:  # type: ignore[override]  # Django's view passes keywords only
        request: HttpRequest | None = kwargs.get("request")
        parts = urlsplit(public_base_url(request))
        kwargs["extra_email_context"] = {
            **(kwargs.get("extra_email_context") or {}),
            "protocol": parts.scheme,
            "domain": parts.netloc,
        }
        super().save(**kwargs)
