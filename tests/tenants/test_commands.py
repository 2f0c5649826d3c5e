"""``create_tenant`` and ``seed_demo``, run as a script would run them: a real process."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from tenants.context import tenant_context
from tenants.models import Membership, Tenant
from tests.processes import run_manage


@pytest.mark.django_db(transaction=True)
def test_create_tenant_prints_json_whose_key_works_against_the_api() -> None:
    result = run_manage(
        "create_tenant",
        "--name",
        "Initech",
        "--owner-email",
        "Bill@Initech.test",
        "--owner-password",
        "a-long-and-unusual-password",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    last_line = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(last_line) == {"tenant_id", "api_key"}

    tenant = Tenant.objects.get(pk=last_line["tenant_id"])
    with tenant_context(tenant.pk):
        owner = Membership.objects.select_related("user").get(role="owner").user
    assert owner.email == "bill@initech.test"
    # The command ran with the production hasher (this suite swaps in a fast one), so verify with it.
    assert PBKDF2PasswordHasher().verify("a-long-and-unusual-password", owner.password)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {last_line['api_key']}").get("/api/v1/tenant")
    assert response.status_code == 200 and response.json()["name"] == "Initech"


@pytest.mark.django_db(transaction=True)
def test_create_tenant_refuses_a_weak_password_and_creates_nothing() -> None:
    result = run_manage(
        "create_tenant", "--name", "Weak", "--owner-email", "w@x.test", "--owner-password", "123"
    )
    assert result.returncode != 0
    assert "Password rejected" in result.stderr
    assert not Tenant.objects.filter(name="Weak").exists()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_is_idempotent(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The demo password file goes to a scratch folder; monkeypatch restores the caller's own
    # GROUNDWORK_VAR_DIR afterwards (deleting it sent later child processes to another var/).
    monkeypatch.setenv("GROUNDWORK_VAR_DIR", str(tmp_path))
    first, second = run_manage("seed_demo"), run_manage("seed_demo")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "Demo API key" in first.stdout and "Demo API key" not in second.stdout
    password = (tmp_path / "demo-login.txt").read_text().strip()
    assert password in second.stdout
    assert Tenant.objects.filter(name="Acme Support (demo)").count() == 1
