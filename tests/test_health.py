"""GET /healthz against the real database, Redis and worker, and with a real dependency gone."""

from __future__ import annotations

import logging
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
def test_unavailable_with_503_naming_redis_but_not_its_error_when_redis_is_unreachable(
    settings, celery_worker: str, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    with caplog.at_level(logging.ERROR, logger="config.health"):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["down"] == ["redis"]
    assert body["redis"] == {"ok": False, "status": "down"}
    assert body["database"] == {"ok": True, "status": "up"}
    # Anyone may call /healthz: the driver's text (host, port, exception) stays in the server's log.
    assert str(closed_port) not in response.content.decode()
    assert "Error" not in response.content.decode()
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "redis is down" in logged and str(closed_port) in caplog.text


def test_healthz_answers_only_get() -> None:
    assert Client().post("/healthz").status_code == 405
