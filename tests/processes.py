"""Processes the suite starts: Celery workers and the real ASGI server, on the test database.

Helpers, not fixtures: a test module that needs its own worker (on a queue of its own, with its own
environment) or its own server calls these from a module-scoped fixture; the session's shared worker is
the ``celery_worker`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
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

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# The suite's own Celery queue: a ``make run`` worker on the same machine never takes the suite's tasks.
TEST_QUEUE = f"groundwork-test-{os.getpid()}"


def child_environment(**extra: str) -> dict[str, str]:
    """The environment for a process the suite starts (worker, web server, manage.py): the test
    database, Redis and cache key prefix, the suite's own queue (so a web server under test enqueues
    where the test worker listens, and a ``make run`` worker never takes the suite's tasks), and this
    process's secrets, so it encrypts and signs exactly as the tests do."""
    from django.db import connection

    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_DEFAULT_QUEUE": TEST_QUEUE,
        # The suite's cache keys, so what a test caches (a widget seen on a site…) its servers read too.
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
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
                "--no-proxy-headers",  # as run_platform and the container: the peer reaches the app untouched
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
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # a busy machine: not up yet
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


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py <args>`` as a script would run it: a real process on the test database (only
    committed rows are there for it: ``transactional_db``), its output captured as text."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def running_platform(*, log_name: str, var_dir: Path, **env: str) -> Iterator[str]:
    """The whole platform as ``make run`` starts it — ``manage.py run_platform``: the web server, a Celery
    worker and Celery beat, on ``HOST``/``PORT`` — but on the test database and Redis and a queue of its
    own (``CELERY_TASK_DEFAULT_QUEUE`` in ``env``, or the suite's). Whatever the launcher derives for a
    single-machine install (from ``HOST``/``PORT``, private model endpoints…) applies as it does for
    ``make run``. Yields the URL once ``/healthz`` says everything is up, worker included; stops it all
    the way Ctrl-C does. ``var_dir`` keeps beat's schedule out of the shared ``var/``.

    One worker process (``--concurrency 1``): the suite shares a small machine, and the journey it serves
    enqueues one document at a time."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / log_name
    var_dir.mkdir(parents=True, exist_ok=True)
    # Its own var/ for beat's schedule, but the suite's collected static files (STATIC_ROOT lives in var/).
    environment = child_environment(
        HOST="127.0.0.1",
        PORT=str(port),
        GROUNDWORK_VAR_DIR=str(var_dir),
        STATIC_ROOT=str(settings.STATIC_ROOT),
        **env,
    )
    # Never the development database: its beat and worker would work on it.
    assert settings.DATABASES["default"]["NAME"].startswith("test_"), (
        "start the platform on the test database"
    )
    # The launcher stops embedded PostgreSQL and Redis on exit unless both URLs are set: they must be,
    # or stopping this platform would stop the servers the whole suite (and the machine) shares.
    assert environment["DATABASE_URL"] and environment["REDIS_URL"]
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--concurrency", "1"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches the launcher and its children
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # Not listening yet, or 503 while the worker starts (HTTPError is a URLError).
                if launcher.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the platform did not come up; see {log_path}") from None
                time.sleep(0.5)
        yield url
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in make run's terminal does
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
