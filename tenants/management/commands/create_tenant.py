"""Create a tenant, its owner and a secret API key: for scripts and tests.

    python manage.py create_tenant --name "Acme" --owner-email a@acme.test --owner-password '...' [--json]

With ``--json`` the last line of output is ``{"tenant_id": "...", "api_key": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from core.errors import GroundworkError
from tenants import services
from tenants.actors import Actor
from tenants.models import Role, User


class Command(BaseCommand):
    help = "Create a tenant with its owner and a new secret API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The organisation's name.")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--json", action="store_true", help="End with one line of JSON for scripts.")

    def handle(self, *args: Any, **options: Any) -> None:
        email, password = options["owner_email"].strip().lower(), options["owner_password"]
        try:
            with transaction.atomic():
                owner = User.objects.filter(email__iexact=email).first()
                if owner is None:
                    validate_password(password)
                    # The operator running the command vouches for the address: verified from the start.
                    owner = User.objects.create_user(
                        email=email, password=password, email_verified_at=timezone.now()
                    )
                elif not owner.check_password(password):
                    raise CommandError(f"{email} already has an account and the password does not match it.")
                tenant = services.tenant_create(name=options["name"], owner=owner)
                services.user_mark_email_verified(user=owner, via="create_tenant")
                _, secret = services.api_key_create(
                    actor=Actor(tenant=tenant, role=Role.OWNER, user=owner),
                    name="Created by create_tenant",
                    role=Role.ADMIN,  # a key for scripts that set the tenant up: chosen on purpose
                )
        except ValidationError as error:
            raise CommandError("Password rejected: " + " ".join(error.messages)) from None
        except GroundworkError as error:
            raise CommandError(error.message) from None

        if options["json"]:
            self.stdout.write(json.dumps({"tenant_id": str(tenant.pk), "api_key": secret}))
        else:
            self.stdout.write(f"Tenant {tenant.name} ({tenant.pk}) owned by {owner.email}")
            self.stdout.write(f"API key (shown once): {secret}")
