"""Database helpers every app's services share."""

from __future__ import annotations

from django.db import IntegrityError, models, transaction

from core.errors import Conflict


def save_or_conflict(instance: models.Model, *, message: str, field: str = "name") -> None:
    """Save ``instance``; a unique constraint it breaks (two bots with one name) is a Conflict on
    ``field`` with ``message``, and the surrounding transaction carries on (a savepoint is rolled back)."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(message, field_errors={field: ["Already used."]}) from None
