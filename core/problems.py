"""RFC 9457 problem details for every API error, and error pages for the dashboard.

``problem_exception_handler`` is DRF's exception handler; ``handler404`` and friends cover what
Django answers before DRF is reached (unknown URLs, oversized bodies). Anything under ``/api/`` or
``/public/`` answers ``application/problem+json``; everything else gets an HTML page.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import GroundworkError, RateLimited, RequestRefused

PROBLEM_CONTENT_TYPE = "application/problem+json"
MACHINE_PREFIXES = ("/api/", "/public/")


def problem_body(status: int, detail: str, *, instance: str = "", errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    request: HttpRequest, error: GroundworkError, /, *, realm: str = "api", **extensions: Any
) -> JsonResponse:
    """The problem+json answer to ``error`` for the endpoints that answer outside DRF (the async chat
    views, the widget's public API, the playground and Django's error handlers): its status, message
    and field errors (and ``extensions``, RFC 9457's extension members), ``WWW-Authenticate`` on a 401
    and ``Retry-After`` on a rate limit."""
    body = problem_body(error.status, error.message, instance=request.path, errors=error.field_errors or None)
    body.update(extensions)
    response = JsonResponse(body, status=error.status, content_type=PROBLEM_CONTENT_TYPE)
    if error.status == 401:
        response["WWW-Authenticate"] = f'Bearer realm="{realm}"'
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_detail_text(item) for item in detail)
    if isinstance(detail, dict):
        return "Some fields are invalid."
    return str(detail)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, GroundworkError):
        body = problem_body(exc.status, exc.message, instance=instance, errors=exc.field_errors or None)
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, RequestDataTooBig):
        body = problem_body(413, "The request body is larger than this endpoint accepts.", instance=instance)
        return Response(body, status=413, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers (problem+json under /api/)
    errors = None
    detail = response.data
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        detail = "The request has invalid fields." if isinstance(response.data, dict) else response.data
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
    response.data = problem_body(response.status_code, _detail_text(detail), instance=instance, errors=errors)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _is_machine(request: HttpRequest) -> bool:
    return request.path.startswith(MACHINE_PREFIXES)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_machine(request):
        return problem_response(request, RequestRefused(400, "The request could not be understood."))
    return render(request, "errors/400.html", status=400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_machine(request):
        return problem_response(request, RequestRefused(403, "You do not have permission to do this."))
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return render(request, "errors/403.html", {"message": message}, status=403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_machine(request):
        return problem_response(request, RequestRefused(404, "Not found."))
    return render(request, "errors/404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_machine(request):
        return problem_response(
            request, RequestRefused(500, "Something went wrong on our side; it has been logged.")
        )
    # Rendered without the request: context processors query the database, which may be what failed.
    return HttpResponseServerError(loader.render_to_string("errors/500.html"))
