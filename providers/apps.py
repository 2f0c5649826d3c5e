from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_catalog(sender: AppConfig, **kwargs: Any) -> None:
    from providers.services import catalog_sync

    catalog_sync()


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Foundation models"

    def ready(self) -> None:
        # Like contenttypes: every `migrate` (deploys, `make run`, test databases) leaves the catalog
        # table matching providers/catalog.toml.
        post_migrate.connect(_sync_catalog, sender=self)
