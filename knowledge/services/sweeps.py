"""What beat runs across tenants: fetching web sources again on schedule, and queueing again the documents
a lost worker or message left behind.

These are the one place knowledge services leave tenant scope, and only to find the due documents
(``unscoped``); each is then changed inside its own tenant's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from knowledge import selectors, services
from knowledge.models import Document, DocumentStatus, SourceType
from knowledge.services.documents import requeue
from tenants.context import tenant_context, unscoped


def resync_due_web_sources(*, now: datetime | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Queue every URL and crawl document last ingested more than ``KNOWLEDGE_RESYNC_HOURS`` ago.

    The schedule's job, across tenants: it leaves tenant scope only to find the due documents; each is
    re-queued inside its own tenant's transaction.
    """
    hours = settings.KNOWLEDGE_RESYNC_HOURS
    if hours <= 0:
        return []
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    with unscoped(reason="find web sources due for re-sync across tenants"):
        due = list(
            Document.objects.filter(
                source_type__in=[SourceType.URL, SourceType.CRAWL],
                status__in=[DocumentStatus.READY, DocumentStatus.FAILED],
                ingested_at__lt=cutoff,
            ).values_list("tenant_id", "pk")[:1000]
        )
    queued = []
    for tenant_id, document_id in due:
        with tenant_context(tenant_id):
            document = (
                Document.objects.select_for_update().filter(pk=document_id, ingested_at__lt=cutoff).first()
            )
            if document is not None and document.status in (DocumentStatus.READY, DocumentStatus.FAILED):
                requeue(document)
                queued.append((tenant_id, document_id))
    return queued


def documents_recover_stalled(*, now: datetime | None = None) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Queue again every document left queued or processing with no sign of life.

    A run records progress at every stage, so a document untouched for longer than a task may run was
    lost: its worker was killed past the broker's redelivery, it hit the hard time limit, or the queue
    lost the message. The new run counts as an attempt (``document_claim``), so a document that keeps
    killing workers ends failed with a reason instead of cycling. Runs still alive are not disturbed.
    """
    cutoff = selectors.stall_cutoff(now=now)
    with unscoped(reason="find stalled documents across tenants"):
        stalled = list(
            Document.objects.filter(
                status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING], updated_at__lt=cutoff
            ).values_list("tenant_id", "pk")[:1000]
        )
    for tenant_id, document_id in stalled:
        with tenant_context(tenant_id):
            # Touched so that the next sweep waits a full period for this run before trying again.
            touched = Document.objects.filter(
                pk=document_id,
                updated_at__lt=cutoff,
                status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING],
            ).update(updated_at=timezone.now())
            if touched:
                document = Document(pk=document_id, tenant_id=tenant_id)
                services._enqueue_ingest(document)
    return stalled
