"""Every route, enumerated from the URLconf, refuses a visitor without credentials.

API routes answer 401 problem+json; dashboard routes send the visitor to sign in. Only the routes
listed as public are exempt, and that list is checked against the URLconf so it cannot go stale.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.routes import PUBLIC, concrete, route_templates

pytestmark = pytest.mark.django_db


def protected_routes() -> list[str]:
    templates = {template for template, _ in route_templates()}
    assert templates >= PUBLIC, f"public routes no longer in the URLconf: {PUBLIC - templates}"
    return sorted(templates - PUBLIC)


@pytest.mark.parametrize("template", protected_routes())
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_anonymous_requests_are_refused(template: str, method: str) -> None:
    path = concrete(template)
    response = getattr(Client(), method)(path)
    if template.startswith("/api/"):
        assert response.status_code in (401, 405), f"{method.upper()} {path}: {response.status_code}"
        assert response["Content-Type"] == "application/problem+json"
    else:
        assert response.status_code in (302, 405), f"{method.upper()} {path}: {response.status_code}"
        if response.status_code == 302:
            assert response["Location"].startswith("/app/sign-in/")


def test_every_api_route_answers_401_to_some_method() -> None:
    for template in protected_routes():
        if template.startswith("/api/"):
            codes = {
                getattr(Client(), m)(concrete(template)).status_code
                for m in ("get", "post", "patch", "delete")
            }
            assert 401 in codes, template
