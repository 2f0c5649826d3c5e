"""Signal receivers of the widget: signing out ends the user's dashboard previews."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from bots.widget import rules


@receiver(user_logged_out, dispatch_uid="bots.widget.revoke_previews_on_sign_out")
def revoke_previews_on_sign_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # A preview token sits in the page source of the Install and test pages: after sign-out, a copy left
    # in a shared browser's cache or history must not keep showing the organisation's draft bots.
    if user is not None:
        rules.revoke_previews(user_id=user.pk)
