"""The address the dashboard is served from, for every absolute link Groundwork hands out.

The widget snippet a tenant pastes into another website and the links in emails (verification,
invitation, password reset) must name the address people actually reach Groundwork at, never a default
that differs from it. That address is ``PUBLIC_URL`` when the operator set it (behind a proxy that
rewrites the host, or to pin one canonical name), else the origin of the request being served —
``request.build_absolute_uri``, which honours ``ALLOWED_HOSTS`` and believes ``X-Forwarded-Proto`` only
from ``TRUSTED_PROXIES`` (core.middleware.UntrustedForwardingMiddleware). ``make run`` derives
``PUBLIC_URL`` from ``HOST``/``PORT`` (tenants.management.commands.run_platform).

Services build emails without a request argument, so ``CurrentRequestMiddleware`` keeps the request
being served in a context variable for them. Outside any request (a shell, a script) with ``PUBLIC_URL``
unset there is no address to take: links then fall back to ``make run``'s default address and a warning
is logged, so a script's stray link is visible rather than silently wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# make run's default HOST:PORT; used only outside a request with PUBLIC_URL unset (see the module's doc).
FALLBACK_PUBLIC_URL = "http://127.0.0.1:8000"

_current_request: ContextVar[HttpRequest | None] = ContextVar("groundwork_current_request", default=None)


def checked_public_url(value: str) -> str:
    """``PUBLIC_URL`` as the settings accept it: empty, or ``http(s)://host[:port]`` (no path; a trailing
    slash is dropped). ImproperlyConfigured otherwise, at start-up rather than in a customer's snippet."""
    text = value.strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ImproperlyConfigured(f"PUBLIC_URL {value!r} has an invalid port.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ImproperlyConfigured(
            f"PUBLIC_URL {value!r} must be an origin like https://chat.example.com (no path)."
        )
    return f"{parts.scheme}://{parts.netloc}"


def request_origin(request: HttpRequest) -> str:
    """``https://chat.example.com`` — the scheme, host and port this request was made to."""
    return request.build_absolute_uri("/").rstrip("/")


def public_base_url(request: HttpRequest | None = None) -> str:
    """The origin every absolute link starts with: ``PUBLIC_URL``, else the request's origin (``request``,
    or the one being served), without a trailing slash."""
    configured: str = settings.PUBLIC_URL.rstrip("/")
    if configured:
        return configured
    request = request or _current_request.get()
    if request is not None:
        return request_origin(request)
    logger.warning(
        "An absolute link was built outside a request with PUBLIC_URL unset; it names %s.",
        FALLBACK_PUBLIC_URL,
    )
    return FALLBACK_PUBLIC_URL


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """``path`` (``/app/...``) as an absolute link on the public address."""
    return public_base_url(request) + path


class CurrentRequestMiddleware:
    """Keeps the request being served where ``public_base_url`` finds it, for code without a request
    argument (services that email links). Reset after the response, so nothing outlives its request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
