"""Provider errors: what went wrong with a model call, in words a tenant understands.

Adapters translate each SDK's exceptions into these; they are ``GroundworkError``s, so the API answers
them as problem+json and the dashboard shows the message. Messages never contain a secret.
"""

from __future__ import annotations

from core.errors import GroundworkError


class ProviderError(GroundworkError):
    """A foundation-model call failed. ``retryable`` says whether another attempt (or model) may work."""

    status = 502
    title = "Model provider error"
    retryable = False
    code = "provider_error"  # a short machine-readable reason, stored on usage records

    def __init__(self, message: str, *, provider: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = code or type(self).code


class ProviderAuthError(ProviderError):
    """The key was rejected (401) or lacks access (403). Never retried."""

    code = "auth"


class ProviderBadRequest(ProviderError):
    """The provider refused the request as invalid (400/404/422): a model name or parameter is wrong."""


class ProviderRateLimited(ProviderError):
    """429 after the configured retries."""

    status = 503
    retryable = True


class ProviderUnavailable(ProviderError):
    """5xx or Anthropic's 529 (overloaded) after the configured retries, or a connection failure."""

    status = 503
    retryable = True


class ProviderTimeout(ProviderError):
    status = 504
    retryable = True


class ProviderStreamError(ProviderError):
    """The stream broke or sent something unreadable after it had started."""

    retryable = True


class ProviderNotConfigured(ProviderError):
    """No credential (tenant's or platform's) can reach this model."""

    status = 400
