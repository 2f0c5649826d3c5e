"""Suite-wide fixtures: real PostgreSQL (pytest-django's test database), real Redis, a real worker.

Tests never share a Celery queue or cache keys with a ``make run`` on the same machine: the suite uses
its own queue (consumed only by the worker process started here) and its own cache key prefix.

Where things are (a newcomer's map; tests/ mirrors the apps):

- fixtures: this file holds what every app uses (``world``, ``other_world``, ``owner_client``, API
  clients by role ``editor``/``viewer``/``admin``, ``celery_worker``, ``clock``, ``anyio_backend``,
  ``db_thread_cleanup``); each app's ``conftest.py`` holds that app's (stubs, settings, data). A fixture
  one module alone uses may stay in that module; once a second module needs it, it moves to the
  nearest conftest. Conftests are never imported: ask for their fixtures by name.
- factories: ``tests/<app>/factories.py`` make data through the app's services (``make_world``,
  ``make_knowledge_base``, ``make_bot``, ``make_suite``, ...), so tests meet the real rules.
- helpers that are neither: ``tests/clients.py`` (API and dashboard clients, problem+json checks),
  ``tests/processes.py`` (workers and servers the suite starts), ``tests/<app>/helpers.py``,
  ``tests/stubs/`` (the providers' wire-format stub servers), ``tests/e2e/pages.py``.
- no test module imports another test module (tests/test_suite_layout.py checks it).
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client

from config.celery import app as celery_app
from core.clock import ManualClock, use
from tenants.models import Role
from tests.clients import api_client
from tests.processes import TEST_QUEUE, start_worker, stop_worker
from tests.tenants.factories import World, make_world

DAY_SECONDS = 86_400


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


@pytest.fixture
def owner_client(world: World) -> Client:
    client = Client()
    client.force_login(world.owner)
    return client


@pytest.fixture
def editor(world: World) -> Client:
    """A REST API client with an editor's key of ``world``."""
    return api_client(world.api_key(role=Role.EDITOR, name="editor")[1])


@pytest.fixture
def viewer(world: World) -> Client:
    """A REST API client with a viewer's key of ``world``."""
    return api_client(world.api_key(role=Role.VIEWER, name="viewer")[1])


@pytest.fixture
def admin(world: World) -> Client:
    """A REST API client with an admin's key of ``world``."""
    return api_client(world.api_key(role=Role.ADMIN, name="admin")[1])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Django's async support (asgiref) is asyncio's


@pytest.fixture
async def db_thread_cleanup() -> AsyncIterator[None]:
    """Close the connection sync_to_async's worker thread opened, so no session outlives the test."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """Time that stands still until the test moves it (``clock.advance(seconds)``), for the rules that
    decide by elapsed time (``core.clock``): rate-limit windows and expiring widget tokens. No test sleeps
    for them.

    It starts at a midnight (UTC), where a window of every period begins, on a day of its own in the
    future: rate-limit counters are shared by every test process on this machine (Redis), and a day no
    other clock starts on has windows no other test counts in. The clock is this process's only; a
    worker or server the test started keeps real time.
    """
    next_midnight = math.ceil(time.time() / DAY_SECONDS) * DAY_SECONDS
    manual = ManualClock(start=next_midnight + (1 + secrets.randbelow(100_000)) * DAY_SECONDS)
    with use(manual):
        yield manual
