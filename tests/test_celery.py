"""Round trips through the broker to a real worker process (started by the ``celery_worker`` fixture)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import ping
from tenants.context import tenant_context, unscoped
from tenants.models import Invitation
from tenants.tasks import purge_expired_invitations_task
from tests.tenants.factories import make_world


def test_a_task_round_trips_through_a_real_worker(celery_worker: str) -> None:
    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    assert result.successful()


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_cross_tenant_cleanup_on_the_real_database(celery_worker: str) -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    for world, expired in ((acme, True), (acme, False), (globex, True)):
        with tenant_context(world.tenant.pk):
            Invitation.objects.create(
                tenant=world.tenant,
                email=f"{world.tenant.slug}-{expired}@x.test",
                role="viewer",
                token_hash=f"{world.tenant.slug}-{expired}".ljust(64, "0"),
                expires_at=timezone.now() + (timedelta(days=-1) if expired else timedelta(days=1)),
            )

    assert purge_expired_invitations_task.delay().get(timeout=30) == 2
    with unscoped(reason="test: what is left across tenants"):
        assert list(Invitation.objects.values_list("email", flat=True)) == [
            f"{acme.tenant.slug}-False@x.test"
        ]
    # Idempotent: a second delivery finds nothing more to do.
    assert purge_expired_invitations_task.delay().get(timeout=30) == 0
