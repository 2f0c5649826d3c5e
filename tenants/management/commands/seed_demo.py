"""Seed the demo tenant that ``make run`` signs you in to. Idempotent: a second run creates nothing.

The owner's generated password is kept in ``var/demo-login.txt`` (mode 0600) so later runs can print
the login again; the API key is printed once, when it is created, like any API key.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from config.embedded import var_dir
from tenants import services
from tenants.actors import Actor
from tenants.models import Role, User

DEMO_EMAIL = "demo@groundwork.localhost"
DEMO_ORGANISATION = "Acme Support (demo)"


class Command(BaseCommand):
    help = "Create the demo tenant and its owner if they do not exist; print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        login_file = var_dir() / "demo-login.txt"
        if User.objects.filter(email=DEMO_EMAIL).exists():
            password = login_file.read_text().strip() if login_file.exists() else "(set when first seeded)"
            self.stdout.write(f"Demo login: {DEMO_EMAIL} / {password}")
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            owner = User.objects.create_user(
                email=DEMO_EMAIL, password=password, full_name="Demo Owner", email_verified_at=timezone.now()
            )
            tenant = services.tenant_create(name=DEMO_ORGANISATION, owner=owner)
            _, secret = services.api_key_create(
                actor=Actor(tenant=tenant, role=Role.OWNER, user=owner),
                name="Demo key",
                role=Role.ADMIN,  # a key for scripts that set the tenant up: chosen on purpose
            )
        login_file.write_text(password + "\n")
        login_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Seeded the demo tenant “{DEMO_ORGANISATION}”."))
        self.stdout.write(f"Demo login: {DEMO_EMAIL} / {password}")
        self.stdout.write(f"Demo API key (shown once, store it now): {secret}")
