"""Bearer secret API keys for the REST API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenants import selectors, services
from tenants.models import ApiKey


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """``request.user`` for a request made with an API key: authenticated, but not a person."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> str:
        return f"api-key:{self.api_key.pk}"


KEYWORD = "Bearer"


def api_key_from_request(request: HttpRequest) -> ApiKey | None:
    """The active API key a request's ``Authorization: Bearer`` header carries, marked as used.

    None when the request has no Bearer header; AuthenticationFailed for a malformed header or a key
    that is unknown or revoked, or whose creator is no longer a member. DRF views reach it through
    ``ApiKeyAuthentication``; the async chat views (which DRF cannot serve) call it directly, in a thread.

    Security invariant: a key acts for its creator. The returned key's ``role`` is its *effective* role
    for this request, the lower of its own and its creator's current membership role, so every consumer
    (the DRF permission, the base view's ``Actor``, the async chat views) can never act above the person
    behind it. The instance is this request's own and never saved (``api_key_touch`` updates by query);
    ``granted_role`` keeps the stored role.
    """
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    if isinstance(header, str):
        header = header.encode(HTTP_HEADER_ENCODING)
    parts = header.split()
    if not parts or parts[0].lower() != KEYWORD.lower().encode():
        return None
    if len(parts) != 2:
        raise AuthenticationFailed("Send the key as “Authorization: Bearer <secret key>”.")
    try:
        secret = parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed("The API key is invalid or has been revoked.") from None
    api_key = selectors.api_key_by_secret_hash(secret_hash=services.hash_secret(secret))
    if api_key is None:
        raise AuthenticationFailed("The API key is invalid or has been revoked.")
    effective_role = api_key.effective_role
    if effective_role is None:
        raise AuthenticationFailed(
            "This key's creator is no longer a member of the organisation, so the key no longer works. "
            "Ask an admin for a new key."
        )
    api_key.granted_role = api_key.role  # type: ignore[attr-defined]
    api_key.role = effective_role
    services.api_key_touch(api_key=api_key)
    return api_key


class ApiKeyAuthentication(BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        api_key = api_key_from_request(request._request)
        return None if api_key is None else (ApiKeyPrincipal(api_key), api_key)

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes Bearer API keys in the OpenAPI schema, so clients and the docs page know to send one."""

    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A secret API key, `gw_sk_…`."}
