"""After putting a new key first in FIELD_ENCRYPTION_KEYS: re-encrypt every stored provider key with it."""

from typing import Any

from django.core.management.base import BaseCommand

from providers.services import reencrypt_all_credentials


class Command(BaseCommand):
    help = "Re-encrypt all provider credentials under the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = reencrypt_all_credentials()
        self.stdout.write(f"Re-encrypted {count} provider keys. The old key can now be removed.")
