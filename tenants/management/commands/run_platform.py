"""Run the whole platform in the foreground: the ASGI server, a Celery worker and Celery beat.

``make run`` calls this after migrating and seeding. Ctrl-C (or SIGTERM) stops the three processes and,
when they are embedded, PostgreSQL and Redis too. If any process dies, the others are stopped as well,
so a half-running platform never hides behind a live web server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config import embedded

# --no-proxy-headers: uvicorn would otherwise rewrite the peer from X-Forwarded-For sent by 127.0.0.1 (its
# default --forwarded-allow-ips), so any local script could pick its own address; the application alone
# decides, from TRUSTED_PROXIES (core.client_address), which `make run` leaves empty.
WEB_COMMAND = ["uvicorn", "config.asgi:application", "--no-proxy-headers"]
WORKER_COMMAND = ["celery", "-A", "config", "worker", "--loglevel=INFO"]
BEAT_COMMAND = ["celery", "-A", "config", "beat", "--loglevel=INFO"]
# Binding every interface names no address a browser can open: links then name the loopback address,
# which the default ALLOWED_HOSTS accepts. Serving other machines needs ALLOWED_HOSTS and PUBLIC_URL set
# to the name they use anyway (README, "Install (issue 14)").
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 -- names, not binds


def served_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` as a browser on this machine opens it (IPv6 in brackets)."""
    address = WILDCARD_HOSTS.get(host, host)
    return f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"


def platform_environment(environ: Mapping[str, str], *, host: str, port: int) -> dict[str, str]:
    """The environment of the processes ``make run`` starts: a single-machine install.

    - ``PUBLIC_URL`` from ``HOST``/``PORT`` unless the operator set it (or its former name), so every link
      (the widget snippet, emails sent by the worker) names the address this server listens on.
    - ``ALLOW_PRIVATE_MODEL_ENDPOINTS=true`` unless the operator set it: the model server of a single-machine
      install (Ollama, vLLM, LM Studio) runs on this machine or its network, which a platform serving many
      tenants must refuse (docker-compose.yml and platform/ keep the default, false).
    """
    env = dict(environ)
    if not env.get("PUBLIC_URL") and not env.get("PUBLIC_BASE_URL"):
        env["PUBLIC_URL"] = served_url(host, port)
    env.setdefault("ALLOW_PRIVATE_MODEL_ENDPOINTS", "true")
    return env


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")

    def handle(self, *args: Any, **options: Any) -> None:
        bin_dir = os.path.dirname(sys.executable)
        # The children get the resolved URLs, so they connect to the servers this process found.
        env = {
            **platform_environment(os.environ, host=options["host"], port=options["port"]),
            "DATABASE_URL": settings.DATABASE_URL,
            "REDIS_URL": settings.REDIS_URL,
        }
        schedule = str(embedded.var_dir() / "celerybeat-schedule")
        commands = {
            "web": [*WEB_COMMAND, "--host", options["host"], "--port", str(options["port"])],
            "worker": [*WORKER_COMMAND, f"--concurrency={options['concurrency']}"],
            "beat": [*BEAT_COMMAND, f"--schedule={schedule}"],
        }
        # One math thread per web process: single-query embedding latency was ~10x better with 1 thread
        # than with 2 on a busy 2-core machine (bench/RESULTS.md); the worker keeps the default.
        process_env = {"web": {**env, "OMP_NUM_THREADS": "1"}}
        processes: dict[str, subprocess.Popen[bytes]] = {}
        for name, command in commands.items():
            executable = os.path.join(bin_dir, command[0])
            processes[name] = subprocess.Popen([executable, *command[1:]], env=process_env.get(name, env))

        url = (env.get("PUBLIC_URL") or env.get("PUBLIC_BASE_URL", "")).rstrip("/") + "/app/"
        self.stdout.write(
            self.style.SUCCESS(f"\nGroundwork is starting at {url}  (Ctrl-C stops everything)\n")
        )
        if env["ALLOW_PRIVATE_MODEL_ENDPOINTS"].lower() in ("true", "1", "yes", "on"):
            self.stdout.write(
                "Model servers on this machine or its network (Ollama, vLLM, LM Studio) are allowed "
                "(ALLOW_PRIVATE_MODEL_ENDPOINTS=true).\n"
            )

        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stopping:
                exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
                if exited:
                    self.stderr.write(f"Stopping: {', '.join(exited)} exited ({exited}).")
                    break
                time.sleep(0.5)
        finally:
            self._stop(processes)

    def _stop(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
            stopped = embedded.stop_embedded_services()
            if stopped:
                self.stdout.write(f"Stopped embedded {' and '.join(stopped)}.")
        self.stdout.write("Groundwork stopped.")
