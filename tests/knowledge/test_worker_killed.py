"""A worker killed with SIGKILL in the middle of a document, then restarted, leaves exactly one set of
chunks and the document ready: the task is acknowledged late, so the broker hands it out again, and the
run that finishes replaces whatever the dead one left.

The test runs its own worker processes on a queue of its own, with a short redelivery timeout (production
waits longer than a task may run: ``CELERY_VISIBILITY_TIMEOUT``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from knowledge import tasks
from knowledge.models import Document
from tenants.context import tenant_context
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.knowledge.helpers import assert_one_set_of_chunks, many_paragraphs, wait_until_settled
from tests.processes import start_worker, stop_worker
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db(transaction=True)

REDELIVERY_SECONDS = 3


def test_a_worker_killed_mid_document_leaves_one_set_of_chunks(enqueue_nothing: None) -> None:
    world = make_world()
    base = make_knowledge_base(world, "Policies", chunk_size_tokens=60, chunk_overlap_tokens=10)
    document = add_text(world, base, many_paragraphs(120))
    queue = f"groundwork-test-kill-{uuid.uuid4().hex[:8]}"
    environment = {"CELERY_VISIBILITY_TIMEOUT": str(REDELIVERY_SECONDS), "KNOWLEDGE_EMBED_BATCH_SIZE": "4"}

    first = start_worker(queue=queue, log_name="celery-worker-killed.log", **environment)
    try:
        tasks.ingest_document.apply_async(args=[str(world.tenant.pk), str(document.pk)], queue=queue)
        embedding = wait_for_embedding(world.tenant.pk, document.pk)
    finally:
        first.process.kill()  # SIGKILL: no shutdown, no acknowledgement, nothing cleaned up
        first.process.wait()

    with tenant_context(world.tenant.pk):
        orphaned = Document.objects.get(pk=document.pk)
    assert (orphaned.status, orphaned.attempts) == ("processing", 1)
    assert 0 < embedding["done"] < embedding["total"]

    time.sleep(REDELIVERY_SECONDS + 1)  # the unacknowledged task becomes visible again
    second = start_worker(queue=queue, log_name="celery-worker-restarted.log", **environment)
    try:
        settled = wait_until_settled(world, [document.pk])[document.pk]
    finally:
        stop_worker(second)

    assert (settled.status, settled.attempts, settled.failure_reason) == ("ready", 2, "")
    chunks = assert_one_set_of_chunks(world, settled)
    assert len(chunks) == settled.progress["stages"]["embed"]["total"] > 100


def wait_for_embedding(tenant_id: uuid.UUID, document_id: uuid.UUID) -> dict[str, Any]:
    """The embed stage's progress once it is under way (a few batches in, far from done)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with tenant_context(tenant_id):
            progress = Document.objects.get(pk=document_id).progress
        embed = (progress.get("stages") or {}).get("embed") or {}
        if embed.get("state") == "running" and embed.get("done", 0) >= 8:
            return embed
        time.sleep(0.05)
    raise AssertionError(f"embedding never got under way: {progress}")
