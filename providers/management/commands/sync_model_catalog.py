"""Sync providers/catalog.toml into the database (also done after every `migrate`)."""

from typing import Any

from django.core.management.base import BaseCommand

from providers.services import catalog_sync


class Command(BaseCommand):
    help = "Make the foundation-model catalog table match providers/catalog.toml. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        report = catalog_sync()
        self.stdout.write(
            f"Catalog {report.version}: {len(report.created)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} no longer listed, {report.unchanged} unchanged."
        )
        for label, refs in (
            ("added", report.created),
            ("updated", report.updated),
            ("removed", report.removed),
        ):
            for ref in refs:
                self.stdout.write(f"  {label}: {ref}")
