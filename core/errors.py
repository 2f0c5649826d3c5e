"""Domain errors raised by services and selectors of every app.

One small hierarchy; ``core.problems`` maps it to RFC 9457 problem responses for the API and the
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

    @classmethod
    def on(cls, field_name: str, message: str) -> ValidationFailed:
        """The error of one field, shown beside it in forms and under ``errors`` in the API."""
        return cls(message, field_errors={field_name: [message]})


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


class RequestRefused(GroundworkError):
    """A request refused at the edge before any service saw it (its status varies: 401, 405, 413, 415)."""

    def __init__(
        self, status: int, message: str, *, field_errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message, field_errors=field_errors)
        self.status = status


class RateLimited(GroundworkError):
    """Too many requests; ``retry_after`` seconds until the window has room again."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
