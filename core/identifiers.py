"""Ids from user input."""

from __future__ import annotations

import uuid


def parse_uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a lookup then finds nothing: a 404, not a 500)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None
