"""Secret API keys: hashed at rest, shown once, revocable, and the only way into the REST API."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.db import connection
from django.test import Client

from tenants.context import tenant_context
from tenants.models import ApiKey
from tests.clients import api_client
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def test_a_new_key_is_returned_once_and_only_its_hash_is_stored(world: World) -> None:
    admin = api_client(world.api_key()[1])
    created = admin.post("/api/v1/api-keys", {"name": "Zapier"}, content_type="application/json")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("gw_sk_") and len(secret) > 40

    with connection.cursor() as cursor, tenant_context(world.tenant.pk):
        cursor.execute("SELECT prefix, secret_hash FROM tenants_apikey WHERE id = %s", [created.json()["id"]])
        prefix, stored_hash = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tenants_apikey WHERE row_to_json(tenants_apikey)::text LIKE %s",
            [f"%{secret}%"],
        )
        rows_holding_the_secret = cursor.fetchone()[0]
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert rows_holding_the_secret == 0
    assert secret.startswith(prefix) and len(prefix) < 16

    listing = admin.get("/api/v1/api-keys").content.decode()
    detail = admin.get(f"/api/v1/api-keys/{created.json()['id']}").content.decode()
    assert secret not in listing and secret not in detail
    assert "secret" not in admin.get(f"/api/v1/api-keys/{created.json()['id']}").json()


def test_the_new_key_authenticates_and_records_its_last_use(world: World) -> None:
    api_key, secret = world.api_key(name="CI")
    assert api_key.last_used_at is None
    response = api_client(secret).get("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["id"] == str(world.tenant.pk)
    with tenant_context(world.tenant.pk):
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_a_revoked_key_gets_401(world: World) -> None:
    _, admin_secret = world.api_key(name="admin")
    victim, victim_secret = world.api_key(name="to revoke")
    assert api_client(victim_secret).get("/api/v1/tenant").status_code == 200

    assert api_client(admin_secret).delete(f"/api/v1/api-keys/{victim.pk}").status_code == 204
    response = api_client(victim_secret).get("/api/v1/tenant")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    with tenant_context(world.tenant.pk):
        assert ApiKey.objects.get(pk=victim.pk).revoked_at is not None


@pytest.mark.parametrize(
    "authorization",
    ["Bearer gw_sk_not-a-real-key", "Bearer", "Bearer two parts", "Basic dXNlcjpwYXNz", None],
)
def test_unknown_missing_or_malformed_keys_get_401(world: World, authorization: str | None) -> None:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client(**headers).get("/api/v1/tenant")
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_the_dashboard_shows_the_secret_once_and_never_again(world: World, owner_client: Client) -> None:
    created = owner_client.post("/app/api-keys/", {"name": "Website", "role": "editor"})
    assert created.status_code == 200
    with tenant_context(world.tenant.pk):
        api_key = ApiKey.objects.get(name="Website")
    shown = re.findall(r"gw_sk_[A-Za-z0-9_-]{40,}", created.content.decode())
    assert shown, "the new secret must be on the page"
    secret = shown[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == api_key.secret_hash
    assert created["Cache-Control"] == "no-store"
    assert secret not in owner_client.get("/app/api-keys/").content.decode()
    assert api_client(secret).get("/api/v1/tenant").status_code == 200


def test_a_key_cannot_outrank_its_creator(world: World) -> None:
    _, editor_secret = world.api_key(role="admin")
    response = api_client(editor_secret).post(
        "/api/v1/api-keys", {"name": "owner key", "role": "owner"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["errors"]
