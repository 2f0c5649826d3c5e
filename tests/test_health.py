"""GET /healthz against the real database, Redis and worker, and with a real dependency gone."""

from __future__ import annotations

import socket

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthy_when_database_pgvector_redis_and_a_worker_answer(celery_worker: str) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {name: body[name]["ok"] for name in ("database", "pgvector", "redis", "celery")} == dict.fromkeys(
        ("database", "pgvector", "redis", "celery"), True
    )
    assert body["pgvector"]["version"].startswith("0.8")
    assert body["celery"]["workers"] >= 1


@pytest.mark.django_db
def test_unavailable_with_503_when_redis_is_unreachable(settings, celery_worker: str) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["redis"]["ok"] is False and "ConnectionError" in body["redis"]["error"]
    assert body["database"]["ok"] is True


def test_healthz_answers_only_get() -> None:
    assert Client().post("/healthz").status_code == 405
