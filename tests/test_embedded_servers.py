"""The embedded PostgreSQL and Redis: started on first need, reused, and recovered after a crash.

Runs in a scratch ``GROUNDWORK_VAR_DIR`` with its own servers, so the suite's servers are untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis

from tests.processes import ROOT


def embedded(var_dir: Path, command: str) -> dict[str, str]:
    env = {**os.environ, "GROUNDWORK_VAR_DIR": str(var_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "config.embedded", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def postmaster_pid(var_dir: Path) -> int:
    return int((var_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def redis_pid(var_dir: Path) -> int:
    return int((var_dir / "redis" / "redis.pid").read_text())


def assert_usable(urls: dict[str, str]) -> None:
    with psycopg.connect(urls["DATABASE_URL"]) as conn:
        is_superuser, bypasses_rls = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert (is_superuser, bypasses_rls) == (False, False)
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert redis.Redis.from_url(urls["REDIS_URL"]).ping()


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A killed child of a process that exited is reaped by init; keep polling until it is gone.
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not exit")


def test_servers_start_once_are_reused_and_survive_a_crashed_run(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    try:
        urls = embedded(var_dir, "start")
        assert_usable(urls)
        first_postgres, first_redis = postmaster_pid(var_dir), redis_pid(var_dir)

        assert embedded(var_dir, "start") == urls  # a second process reuses, starts nothing
        assert (postmaster_pid(var_dir), redis_pid(var_dir)) == (first_postgres, first_redis)

        # A crash: both servers die without cleaning up their pid files and sockets.
        os.kill(first_postgres, signal.SIGKILL)
        os.kill(first_redis, signal.SIGKILL)
        wait_gone(first_postgres)
        wait_gone(first_redis)
        assert (var_dir / "postgres" / "postmaster.pid").exists() and (
            var_dir / "redis" / "redis.pid"
        ).exists()

        recovered = embedded(var_dir, "start")
        assert_usable(recovered)
        assert postmaster_pid(var_dir) != first_postgres and redis_pid(var_dir) != first_redis
    finally:
        subprocess.run(
            [sys.executable, "-m", "config.embedded", "stop"],
            cwd=ROOT,
            timeout=60,
            check=False,
            env={**os.environ, "GROUNDWORK_VAR_DIR": str(var_dir)},
        )
    status = subprocess.run(
        [sys.executable, "-m", "config.embedded", "status"],
        cwd=ROOT,
        timeout=60,
        check=True,
        env={**os.environ, "GROUNDWORK_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
    )
    assert "postgres: stopped" in status.stdout and "redis: stopped" in status.stdout
