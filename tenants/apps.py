from typing import Any

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Accounts and tenants"

    def ready(self) -> None:
        # django-axes announces a lockout only by signal; the service decides what to record.
        from axes.signals import user_locked_out

        user_locked_out.connect(_record_sign_in_lockout, dispatch_uid="tenants.sign_in_lockout")


def _record_sign_in_lockout(sender: Any, *, username: str | None = None, **kwargs: Any) -> None:
    from tenants import services

    if username:
        services.user_sign_in_locked_out(email=username)
