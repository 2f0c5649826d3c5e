"""``make run``'s launcher: everything comes up, and Ctrl-C takes all of it down, embedded servers included.

Runs against its own scratch ``var/`` (its own embedded PostgreSQL and Redis), like a fresh machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.processes import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, launcher: subprocess.Popen[bytes], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "the launcher exited early"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            last = json.loads(error.read())  # 503 while the worker is still starting
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or a first answer slower than 3 s on a busy machine
        time.sleep(0.5)
    raise AssertionError(f"not healthy in time: {last}")


def assert_no_debug_pages_and_static_files_served(base_url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base_url}/app/no-such-page/", timeout=10)
    assert missing.value.code == 404
    body = missing.value.read().decode()
    # Django's debug 404 lists the URLconf and says DEBUG = True; the product's own page does neither.
    assert "URLconf" not in body and "DEBUG = True" not in body
    with urllib.request.urlopen(f"{base_url}/app/sign-in/", timeout=10) as response:
        page = response.read().decode()
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the sign-in page links no hashed stylesheet"
    with urllib.request.urlopen(base_url + stylesheet.group(1), timeout=10) as response:
        assert response.status == 200 and b"gw-" in response.read()
        assert "max-age=315360000" in response.headers["Cache-Control"]  # WhiteNoise: hashed, kept long


def test_make_run_turns_debug_on_only_when_asked() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    plan = subprocess.run(
        ["make", "-n", "run"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (launch,) = [line for line in plan.splitlines() if "manage.py run_platform" in line]
    assert "DEBUG" not in launch  # DEBUG comes from the caller's environment only (DEBUG=true make run)


def test_run_platform_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    # As `make run` starts it: DEBUG unset (off), static files collected into var/.
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "STATIC_ROOT")
    }
    env.update(GROUNDWORK_VAR_DIR=str(tmp_path / "var"), HOST="127.0.0.1", PORT=str(free_port()))
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=180)
    launcher = subprocess.Popen(
        [sys.executable, "manage.py", "run_platform"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        health = wait_healthy(f"http://127.0.0.1:{env['PORT']}/healthz", launcher)
        assert health["status"] == "ok" and health["celery"]["workers"] >= 1
        children = psutil.Process(launcher.pid).children(recursive=True)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "uvicorn" in names and "worker" in names and "beat" in names
        assert_no_debug_pages_and_static_files_served(f"http://127.0.0.1:{env['PORT']}")

        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert launcher.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(children, timeout=15)
        assert alive == [], f"still running after Ctrl-C: {[p.cmdline() for p in alive]}"
        status = subprocess.run(
            [sys.executable, "-m", "config.embedded", "status"],
            cwd=ROOT,
            env=env,
            timeout=60,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert "postgres: stopped" in status and "redis: stopped" in status  # stopped by the launcher itself
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        subprocess.run(
            [sys.executable, "-m", "config.embedded", "stop"],
            cwd=ROOT,
            env=env,
            timeout=60,
            check=False,
            capture_output=True,
        )

    status = subprocess.run(
        [sys.executable, "-m", "config.embedded", "status"],
        cwd=ROOT,
        env=env,
        timeout=60,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "postgres: stopped" in status and "redis: stopped" in status
