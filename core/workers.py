"""Whether any background worker is running: for pages that say why something waits in the queue.

A broadcast ping waits its whole timeout for replies, so the answer is cached for a short while and
asked only for work that has already waited a little (the caller decides): a page polled every two
seconds costs at most one short ping per ``WORKER_CHECK_CACHE_SECONDS`` for everyone.
"""

from __future__ import annotations

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

WORKER_CHECK_CACHE_KEY = "workers:live-count"
WORKER_CHECK_CACHE_SECONDS = 15
WORKER_PING_TIMEOUT_SECONDS = 0.5


def live_worker_count() -> int:
    """How many Celery workers answered a ping (cached briefly); 0 when none did or the broker is away."""
    cached = cache.get(WORKER_CHECK_CACHE_KEY)
    if isinstance(cached, int):
        return cached
    from config.celery import app as celery_app  # the Celery app imports Django settings: load late

    try:
        replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS) or []
    except Exception:  # the broker is unreachable: no worker can take anything either
        logger.warning("could not ping the workers", exc_info=True)
        replies = []
    count = len(replies)
    cache.set(WORKER_CHECK_CACHE_KEY, count, WORKER_CHECK_CACHE_SECONDS)
    return count
