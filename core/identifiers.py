"""Ids from user input."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import Model, QuerySet

from core.errors import NotFound

ModelT = TypeVar("ModelT", bound=Model)


def parse_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a lookup then finds nothing: a 404, not a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def one_by_id(queryset: QuerySet[ModelT], identifier: uuid.UUID | str, *, missing: str) -> ModelT:
    """The row of ``queryset`` (already the tenant's) with this id, or NotFound(``missing``): for no such
    row, another tenant's row and an id that is not one alike."""
    parsed = parse_uuid(identifier)
    found = queryset.filter(pk=parsed).first() if parsed else None
    if found is None:
        raise NotFound(missing)
    return found
