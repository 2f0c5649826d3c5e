"""Celery tasks for knowledge: ids in, idempotent, retries declared here, failures recorded by services.

Every task here may run twice (a duplicate delivery, a redelivery after its worker was killed: acks
late and reject on worker lost are on for all of them in settings) and leaves the same result.

The tasks that process a document run only in one of their tenant's ingestion slots (``_in_tenant_slot``):
a tenant's tasks beyond ``INGESTION_IN_FLIGHT_PER_TENANT`` wait off the workers, so one tenant's backlog
cannot hold every other tenant's documents behind it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from celery import Task, shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.tasks import BackoffTask
from knowledge import pipeline, selectors, services
from knowledge.models import KnowledgeBase
from tenants import quotas
from tenants.context import tenant_context, unscoped
from tenants.selectors import tenant_get

logger = logging.getLogger(__name__)

MAX_RETRIES = 4
# What may pass if tried again later: a provider's outage or rate limit, the database restarting.
RETRYABLE = (pipeline.TransientError, OperationalError, InterfaceError)
# The declarations of the tasks that process one document: how long they may run, and that RETRYABLE
# errors are retried MAX_RETRIES times on BackoffTask's schedule. The last attempt does not retry: it
# fails the document with the error's message (``_run_document``).
DOCUMENT_TASK = {
    "base": BackoffTask,
    "autoretry_for": RETRYABLE,
    "max_retries": MAX_RETRIES,
    "soft_time_limit": settings.KNOWLEDGE_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.KNOWLEDGE_TASK_TIME_LIMIT,
}


def _run_document(task: Task, *, tenant_id: str, document_id: str, reindex_version: int | None) -> str:
    try:
        return pipeline.ingest(tenant_id=tenant_id, document_id=document_id, reindex_version=reindex_version)
    except SoftTimeLimitExceeded:
        minutes = settings.KNOWLEDGE_TASK_SOFT_TIME_LIMIT / 60
        reason = (
            f"Processing took longer than {minutes:g} minutes, the most Groundwork spends on one document; "
            "split it into smaller documents."
        )
    except RETRYABLE as error:
        if task.request.retries < MAX_RETRIES:
            raise  # retried as declared (DOCUMENT_TASK)
        message = getattr(error, "message", "The database was unavailable.")
        reason = f"{message} Gave up after {MAX_RETRIES + 1} attempts; re-ingest to try again."
    except Exception:
        logger.exception("ingesting document %s of tenant %s failed unexpectedly", document_id, tenant_id)
        reason = "An unexpected error stopped processing. We have been notified; re-ingest to try again."
    pipeline.fail(
        tenant_id=tenant_id, document_id=document_id, reason=reason, reindex_version=reindex_version
    )
    return "failed"


def _in_tenant_slot(
    task: Task, *, tenant_id: str, waits: int, work: Callable[[], str], note_waiting: Callable[[], None]
) -> str:
    """``work()`` in one of the tenant's ingestion slots (``tenants.quotas.ingestion_slot``); when they
    are all taken, the task goes back to the queue to try again later and frees its worker at once.

    The copy keeps the task's retry count (waiting is not a failure, so it spends none of the retries
    a provider outage needs) and nothing is claimed, so it spends no attempt either. Its wait doubles
    with each try, from ``INGESTION_SLOT_WAIT_SECONDS`` up to ``INGESTION_SLOT_MAX_WAIT_SECONDS``, with
    jitter so a backlog's tasks do not come back in step: a tenant's long backlog costs the queue a few
    messages a minute per task, not a busy loop. ``note_waiting`` leaves a sign of life, so the stalled
    sweep does not queue a waiting document a second time.
    """
    with quotas.ingestion_slot(tenant_id) as held:
        if held:
            return work()
    note_waiting()
    wait = min(settings.INGESTION_SLOT_MAX_WAIT_SECONDS, settings.INGESTION_SLOT_WAIT_SECONDS * 2**waits)
    wait *= random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries out, not a secret
    task.signature_from_request(
        kwargs={**(task.request.kwargs or {}), "waits": waits + 1},
        countdown=wait,
        retries=task.request.retries,
    ).apply_async()
    # Retry marks this delivery as handed on (the task's result stays pending for whoever waits on it).
    raise Retry(f"tenant {tenant_id} has no free ingestion slot", when=wait)


@shared_task(bind=True, name="knowledge.ingest_document", **DOCUMENT_TASK)
def ingest_document(self: Task, tenant_id: str, document_id: str, waits: int = 0) -> str:
    """Ingest one document at its current version (a no-op when that is done already); ``waits`` is how
    many times it found no free slot of its tenant."""
    return _in_tenant_slot(
        self,
        tenant_id=tenant_id,
        waits=waits,
        work=lambda: _run_document(self, tenant_id=tenant_id, document_id=document_id, reindex_version=None),
        note_waiting=lambda: services.document_note_waiting(tenant_id=tenant_id, document_id=document_id),
    )


@shared_task(bind=True, name="knowledge.embed_document_into_version", **DOCUMENT_TASK)
def embed_document_into_version(
    self: Task, tenant_id: str, knowledge_base_id: str, document_id: str, index_version: int, waits: int = 0
) -> str:
    """Fill a knowledge base's new index version with one ready document; the last one switches."""

    def work() -> str:
        outcome = _run_document(
            self, tenant_id=tenant_id, document_id=document_id, reindex_version=index_version
        )
        services.knowledge_base_switch_index(tenant_id=tenant_id, knowledge_base_id=knowledge_base_id)
        return outcome

    return _in_tenant_slot(
        self,
        tenant_id=tenant_id,
        waits=waits,
        work=work,
        note_waiting=lambda: services.knowledge_base_note_waiting(
            tenant_id=tenant_id, knowledge_base_id=knowledge_base_id
        ),
    )


def _retry_delay(retries: int) -> int:
    """Seconds before attempt ``retries + 2``: 10, 40, 160, 640 — a provider outage gets ~15 minutes."""
    return int(ingest_document.retry_delay(retries))


@shared_task(name="knowledge.reindex_knowledge_base")
def reindex_knowledge_base(tenant_id: str, knowledge_base_id: str) -> int:
    """Queue every ready document still missing from the building index version; switch if none is.

    Returns how many documents it queued. Safe to repeat: documents already in the version are skipped
    by the claim, and the switch happens once, under a lock, when nothing is missing.
    """
    with tenant_context(tenant_id):
        knowledge_base = KnowledgeBase.objects.filter(pk=knowledge_base_id).first()
        if knowledge_base is None or knowledge_base.building_index_version is None:
            return 0
        version = knowledge_base.building_index_version
        missing = [
            str(document_id)
            for document_id in selectors.documents_missing_index_version(
                tenant=tenant_get(tenant_id=tenant_id), knowledge_base=knowledge_base, index_version=version
            ).values_list("pk", flat=True)
        ]
        services.knowledge_base_touch(knowledge_base=knowledge_base)
    if not missing:
        services.knowledge_base_switch_index(tenant_id=tenant_id, knowledge_base_id=knowledge_base_id)
    for document_id in missing:
        embed_document_into_version.delay(tenant_id, knowledge_base_id, document_id, version)
    return len(missing)


@shared_task(name="knowledge.resync_due_sources")
def resync_due_sources() -> int:
    """Beat: fetch URL and crawl sources again once they are older than ``KNOWLEDGE_RESYNC_HOURS``."""
    return len(services.resync_due_web_sources())


@shared_task(name="knowledge.recover_stalled")
def recover_stalled() -> int:
    """Beat: queue again what a lost worker or message left behind (documents and model switches)."""
    recovered = len(services.documents_recover_stalled())
    with unscoped(reason="find knowledge bases whose model switch stalled, across tenants"):
        building = list(selectors.knowledge_bases_stalled_in_switch().values_list("tenant_id", "pk"))
    for tenant_id, knowledge_base_id in building:
        reindex_knowledge_base.delay(str(tenant_id), str(knowledge_base_id))
    return recovered + len(building)
