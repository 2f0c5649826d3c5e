"""The base of the async endpoints: the chat APIs and the widget's public API.

An answer streams for seconds and must not hold a worker thread (DRF's views are sync), so these are
async Django views. Their classes derive from DRF's ``APIView`` only so that drf-spectacular documents
them (its schema generator enumerates APIView subclasses); requests never pass through DRF:
``as_async_view`` returns the async view that serves them, and errors are answered with
``core.problems.problem_response``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from core.errors import RequestRefused

JSON_CONTENT_TYPES = ("application/json",)


class AsyncEndpoint(APIView):
    """Subclasses implement ``serve``; the view is CSRF-exempt (no cookie is read: Bearer tokens only)
    and outside ``ATOMIC_REQUESTS`` (the chat engine makes short transactions of its own, so none is
    held while a model speaks)."""

    @classmethod
    def as_async_view(cls) -> Callable[..., Coroutine[Any, Any, HttpResponseBase]]:
        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            return await cls().serve(request, **kwargs)

        # For drf-spectacular's endpoint enumeration, which documents views by their APIView class.
        view.cls = cls  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        return csrf_exempt(transaction.non_atomic_requests(view))

    async def serve(self, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        raise NotImplementedError


def json_body(request: HttpRequest) -> Any:
    """The request's JSON body, within ``API_MAX_BODY_BYTES``; 415, 413 or 400 otherwise."""
    content_type = request.content_type or ""
    if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
        raise RequestRefused(415, f'Send JSON ("Content-Type: application/json"), not "{content_type}".')
    try:
        raw = request.body  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE while it is read
    except RequestDataTooBig:
        raw = None
    if raw is None or len(raw) > settings.API_MAX_BODY_BYTES:
        raise RequestRefused(413, "The request body is larger than this endpoint accepts.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused(400, "The body is not valid JSON.") from None
