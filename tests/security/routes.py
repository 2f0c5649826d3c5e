"""The URLconf as the security tests walk it: every route template with its parameters, the routes that
take object ids, the routes anyone may open, and the tenant-owned models. Routes added later are
covered without touching these tests."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.models import TenantOwnedModel

ID_PARAMETER = re.compile(r"^(pk|id|.+_id)$")
METHODS = ["get", "post", "put", "patch", "delete"]

PUBLIC = {
    "/",
    "/healthz",
    "/app/sign-in/",
    "/app/sign-out/",
    "/app/sign-up/",
    "/app/sign-up/check-your-email/",
    "/app/verify-email/{token}/",
    "/app/invitations/{token}/",
    "/app/password-reset/",
    "/app/password-reset/sent/",
    "/app/password-reset/{uidb64}/{token}/",
    "/app/password-reset/done/",
    "/api/v1/schema/",
    "/api/v1/docs/",
    "/api/v1/redoc/",
    # The widget's loader and public API: keyed by a publishable key and a visitor token instead of a
    # sign-in (tests/bots/widget/test_public_api.py, tests/security/test_widget_credentials.py).
    "/widget.js",
    "/public/v1/bots/{key}",
    "/public/v1/bots/{key}/sessions",
    "/public/v1/bots/{key}/chat",
    "/public/v1/bots/{key}/conversations/{id}",
    "/public/v1/bots/{key}/messages/{id}/feedback",
}


def concrete(template: str) -> str:
    """Fill every id parameter with a random UUID (what an id route takes)."""
    return re.sub(r"\{(pk|id|\w+_id)\}", lambda _: str(uuid.uuid4()), template)


def route_templates() -> Iterator[tuple[str, list[str]]]:
    """Yield ('/app/team/members/{membership_id}/role/', ['membership_id']) for every pattern."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            piece = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + piece)
            elif isinstance(pattern, URLPattern):
                yield prefix + piece

    for raw in walk(get_resolver().url_patterns, "/"):
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", raw)  # regex groups (DRF routers)
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)  # path converters
        template = template.replace("^", "").replace("$", "").replace("\\Z", "")
        names = re.findall(r"{(\w+)}", template)
        if "format" in names:
            continue
        yield template, names


def id_routes() -> list[tuple[str, tuple[str, ...]]]:
    """Routes whose every parameter is an object id, with those parameters in order."""
    routes = []
    for template, names in route_templates():
        if names and all(ID_PARAMETER.match(name) for name in names):
            routes.append((template, tuple(names)))
    return sorted(set(routes))


def tenant_owned_models() -> list[type[TenantOwnedModel]]:
    return [m for m in apps.get_models() if issubclass(m, TenantOwnedModel) and not m._meta.proxy]
