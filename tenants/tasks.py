"""Background jobs of the tenants app."""

from __future__ import annotations

from celery import shared_task

from tenants import services


@shared_task(name="tenants.purge_expired_invitations")
def purge_expired_invitations_task() -> int:
    """Daily (beat): delete invitations whose link has expired. Idempotent; returns how many went."""
    return services.invitation_purge_expired()
