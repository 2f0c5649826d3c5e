"""Refuse oversized request bodies before anything reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.client_address import peer_is_trusted_proxy
from core.errors import RequestRefused
from core.problems import MACHINE_PREFIXES, problem_response


class RequestBodyLimitMiddleware:
    """413 for a declared body larger than ``API_MAX_BODY_BYTES`` on the API and the public routes.

    Multipart uploads are left to the upload handlers, whose own limit is enforced while the file
    streams in. A body without Content-Length is still bounded by DATA_UPLOAD_MAX_MEMORY_SIZE when read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_upload = (request.content_type or "").startswith("multipart/")
        if request.path.startswith(MACHINE_PREFIXES) and not is_upload:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return problem_response(request, RequestRefused(400, "Content-Length is not a number."))
            if length > settings.API_MAX_BODY_BYTES:
                refusal = RequestRefused(
                    413,
                    f"The request body is {length} bytes; this endpoint accepts at most "
                    f"{settings.API_MAX_BODY_BYTES} bytes.",
                )
                return problem_response(request, refusal)
        return self.get_response(request)


class UntrustedForwardingMiddleware:
    """Drop ``X-Forwarded-Proto`` unless a trusted proxy sent the request.

    Django's ``SECURE_PROXY_SSL_HEADER`` believes the header from anyone; a client reaching the server
    past the proxy could otherwise make a plain-HTTP request look secure (skipping the HTTPS redirect).
    First in the middleware, before SecurityMiddleware reads it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
