"""The OpenAPI schema and docs, and the guard rails of the base API classes."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from tenants.api_base import TenantViewSet
from tenants.models import Membership


@pytest.mark.django_db
def test_the_schema_describes_every_tenant_endpoint_with_bearer_auth() -> None:
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {
        "/api/v1/tenant",
        "/api/v1/members",
        "/api/v1/members/{id}",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{id}",
        "/api/v1/invitations",
        "/api/v1/audit-events",
    } <= paths
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A secret API key, `gw_sk_…`.",
    }
    assert {"ApiKey": []} in schema["paths"]["/api/v1/members"]["get"]["security"]
    created = schema["paths"]["/api/v1/api-keys"]["post"]["responses"]["201"]
    assert "secret" in str(created) or "ApiKeyCreated" in str(created)


def test_the_schema_generates_without_a_warning() -> None:
    """Warnings mean a renamed enum or an undocumented field somewhere: fail on the first one."""
    output = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=output)
    assert "openapi:" in output.getvalue()


@pytest.mark.django_db
def test_the_widget_api_is_documented_without_the_secret_key() -> None:
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    chat = schema["paths"]["/public/v1/bots/{key}/chat"]["post"]
    assert {"ApiKey": []} not in chat.get("security", [])


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server() -> None:
    page = Client().get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_a_viewset_cannot_replace_the_tenant_filter() -> None:
    with pytest.raises(TypeError, match="must not override get_queryset"):

        class Leaky(TenantViewSet):
            queryset = Membership.objects.all()

            def get_queryset(self):  # type: ignore[no-untyped-def]
                return Membership.objects.all()
