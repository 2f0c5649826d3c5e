"""After putting a new key first in FIELD_ENCRYPTION_KEYS: re-encrypt every stored provider key (and every
bot's widget identity secret, encrypted with the same keys) with it."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from bots.widget.services import reencrypt_identity_secrets
from providers.services import reencrypt_all_credentials


class Command(BaseCommand):
    help = "Re-encrypt all provider credentials under the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            count = reencrypt_all_credentials()
            secrets = reencrypt_identity_secrets()
        self.stdout.write(
            f"Re-encrypted {count} provider keys and {secrets} widget identity secrets. "
            "The old key can now be removed."
        )
