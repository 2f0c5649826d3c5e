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


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")

    def handle(self, *args: Any, **options: Any) -> None:
        bin_dir = os.path.dirname(sys.executable)
        # The children get the resolved URLs, so they connect to the servers this process found.
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL}
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

        url = f"http://{options['host']}:{options['port']}/app/"
        self.stdout.write(
            self.style.SUCCESS(f"\nGroundwork is starting at {url}  (Ctrl-C stops everything)\n")
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
