"""Domain errors raised by services and selectors of every app.

One small hierarchy; ``tenants.problems`` maps it to RFC 9457 problem responses for the API and the
dashboard shows ``message`` (and ``field_errors``) in forms. Messages are written for tenants to read.
"""

from __future__ import annotations


class GroundworkError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class ValidationFailed(GroundworkError):
    status = 400
    title = "Validation failed"


class NotFound(GroundworkError):
    """Missing and not-yours are the same error, so ids of other tenants reveal nothing."""

    status = 404
    title = "Not found"


class PermissionDenied(GroundworkError):
    status = 403
    title = "Permission denied"


class Conflict(GroundworkError):
    status = 409
    title = "Conflict"
