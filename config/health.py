"""GET /healthz: is every part Groundwork needs up? 200 when all are, 503 otherwise.

Each check has its own short timeout so a dead dependency makes the answer slower by seconds, never
hangs it. Anyone may call it (load balancers, probes, the widget's outage check), so the response says
only which part is down: a failure's text (hosts, ports, database and user names, driver versions) is
logged here for the operator and never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

CELERY_PING_TIMEOUT_SECONDS = 1.0

logger = logging.getLogger(__name__)


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def _pgvector() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the vector extension is not installed")
    return {"version": row[0]}


def _redis() -> dict[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def _celery() -> dict[str, Any]:
    replies = celery_app.control.ping(timeout=CELERY_PING_TIMEOUT_SECONDS)
    if not replies:
        raise RuntimeError("no worker answered a ping")
    return {"workers": len(replies)}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": _database,
    "pgvector": _pgvector,
    "redis": _redis,
    "celery": _celery,
}


@require_GET
@transaction.non_atomic_requests  # a request transaction would need the database before we can check it
def health(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"ok": True, "status": "up", **check()}
        except Exception:
            # The detail goes to the operator's log only: the public answer names the part, not the error.
            logger.exception("health check failed: %s is down", name)
            results[name] = {"ok": False, "status": "down"}
    down = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {"status": "unavailable" if down else "ok", "down": down, **results}, status=503 if down else 200
    )
