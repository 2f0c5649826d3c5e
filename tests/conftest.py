"""Suite-wide fixtures: real PostgreSQL (pytest-django's test database), real Redis, a real worker.

Tests never share a Celery queue or cache keys with a ``make run`` on the same machine: the suite uses
its own queue (consumed only by the worker process started here) and its own cache key prefix.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client

from config.celery import app as celery_app
from tests.factories import World, make_world

ROOT = Path(__file__).resolve().parent.parent
TEST_QUEUE = f"groundwork-test-{os.getpid()}"
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running on the main thread for
    the whole browser session, and async tests after it could not start their own."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


def pytest_configure(config: pytest.Config) -> None:
    # PBKDF2's deliberate slowness (~0.3 s a password) would dominate the suite; hashing strength is
    # not what these tests examine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES["default"]["KEY_PREFIX"] = f"groundwork-test-{os.getpid()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE
    celery_app.conf.task_default_queue = TEST_QUEUE


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_blocker: Any) -> None:
    """One test database per pytest process, so two runs on one machine (a developer's and a hook's,
    or parallel agents) never drop each other's database. Databases of runs that died are removed."""
    with django_db_blocker.unblock():
        _drop_abandoned_test_databases()
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_groundwork_{os.getpid()}"


def _drop_abandoned_test_databases() -> None:
    import psutil
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname ~ '^test_groundwork_[0-9]+$'")
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            if not psutil.pid_exists(int(name.rsplit("_", 1)[1])):
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a process the suite starts (worker, web server, manage.py): the test
    database and Redis, the suite's own queue (so a web server under test enqueues where the test worker
    listens, and a ``make run`` worker never takes the suite's tasks), and this process's secrets, so
    it encrypts and signs exactly as the tests do."""
    from django.db import connection

    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": TEST_QUEUE,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        **extra,
    }


def database_url(settings_dict: dict[str, Any]) -> str:
    """A libpq URL for Django's (test) database, for child processes such as the worker."""
    user = quote(settings_dict["USER"] or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    url = f"postgresql://{credentials}{host}{port}/{settings_dict['NAME']}"
    socket_dir = (settings_dict.get("OPTIONS") or {}).get("host")
    return f"{url}?host={quote(socket_dir)}" if socket_dir else url


@dataclass
class WorkerProcess:
    """A Celery worker started by the suite: its process, its name, and the log it writes."""

    process: subprocess.Popen[bytes]
    hostname: str
    log_path: Path


def start_worker(*, queue: str, log_name: str, **env: str) -> WorkerProcess:
    """Start a real worker process on the test database, consuming ``queue``, and wait until it answers."""
    hostname = f"test-worker-{uuid.uuid4().hex[:8]}@localhost"
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "-Q",
                queue,
                "-n",
                hostname,
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=child_environment(CELERY_TASK_DEFAULT_QUEUE=queue, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # Ready is what the worker logs once it consumes. (A ping would go unanswered while a solo worker
    # is busy with a task it took at once, such as a redelivered one.)
    deadline = time.monotonic() + 90
    while f"{hostname} ready.".encode() not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the test worker did not start; see {log_path}")
        time.sleep(0.1)
    return WorkerProcess(process=process, hostname=hostname, log_path=log_path)


def stop_worker(worker: WorkerProcess) -> None:
    worker.process.terminate()
    try:
        worker.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()


@contextmanager
def running_server(*, log_name: str, **env: str) -> Iterator[str]:
    """The real ASGI server (uvicorn, as in production) on the test database, in its own process; yields
    its URL once it answers. Tests talking to it need ``transactional_db``: it sees only committed rows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=child_environment(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/app/sign-in/", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start; see {log_path}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """A real Celery worker process on the test database and the suite's own queue.

    Tests that enqueue work must commit it first (``transactional_db``), as production code does with
    ``transaction.on_commit``: the worker is another process with its own connection.
    """
    # The worker fetches pages the tests serve from 127.0.0.1; this explicit test-only setting is what
    # lets it (private and metadata addresses stay refused).
    worker = start_worker(queue=TEST_QUEUE, log_name="celery-worker.log", FETCH_ALLOW_LOOPBACK="true")
    try:
        yield worker.hostname
    finally:
        stop_worker(worker)


@pytest.fixture
def world(db: None) -> World:
    return make_world("Acme")


@pytest.fixture
def other_world(db: None) -> World:
    return make_world("Globex")


def api_client(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def owner_client(world: World) -> Client:
    client = Client()
    client.force_login(world.owner)
    return client
