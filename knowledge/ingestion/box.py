"""The box: document parsers run in a short-lived child process with an address-space limit, a CPU-time
limit and a wall-clock deadline, and hand back plain data.

A 1 MB PDF whose one content stream inflates to 1 GB took a worker to 21 GB of RSS for 103 seconds; a
parser that segfaults takes the whole worker (and, acknowledged late, its task comes back to the next
worker, again and again). Parsing untrusted bytes therefore happens elsewhere:

    worker ──socket──▶ zygote ──fork──▶ keeper ──fork──▶ parser (rlimits AS, CPU, CORE; dies with its keeper)

- The **zygote** is a small long-lived process, started once per worker process on first use as a
  fresh interpreter that imports only the parser modules (``PRELOAD``): never a fork of the worker
  itself, which holds PyTorch, its threads and database connections. Each document costs two
  ``fork()``s of that small process instead of a new interpreter and its imports (bench/RESULTS.md,
  "Parsing in a box", compares the two). The worker hands it one end of a new socket pair per document
  (``SCM_RIGHTS``), and talks to the keeper over it. Not ``multiprocessing``'s forkserver: its children
  re-import the parent's ``__main__`` module (a script's top level) for every process they start.
- The **keeper** (one per document, not limited) forks the **parser**, reads its answer, enforces the
  wall-clock deadline with SIGKILL, and reaps it with ``wait4``: the exit status and the peak RSS say,
  exactly, whether the parser ran out of memory, out of CPU time, out of time or crashed. It tells the
  worker in a small JSON report.
- The **parser** process sets its limits, runs the parse and writes JSON: text and structure only. JSON,
  not pickle: a parser process that a hostile file took over must not be able to run code in the worker
  by what it sends back.

The worker keeps its own backstop: a keeper that does not report within the deadline and a grace
period is killed (and its parser with it, through ``PR_SET_PDEATHSIG``).

Every failure is an ``IngestionError`` with a reason the tenant reads, and is final: the same bytes meet
the same limits on every attempt, so nothing here is retried.

The hook for other untrusted-input work (the OCR of scanned pages, later): ``run_boxed(function, *args,
name=...)`` runs any module-level function whose arguments pickle and whose result is JSON in a box
of its own; add its module to ``PRELOAD`` so its imports are paid once in the zygote.

``INGESTION_BOX_TEST_FAULTS`` (tests only, off by default) makes the parser process abort, segfault, spin
or sleep on bytes carrying ``TEST_FAULT_MARKER``: no parser crashes or hangs on command, and the paths
that handle it must be proven through a real worker all the same.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import io
import json
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from django.conf import settings

from knowledge.ingestion import IngestionError, ParsedDocument, Section
from knowledge.ingestion.parse import kind_name, parse

logger = logging.getLogger(__name__)

# Imported once by the zygote, so a document pays for a fork, not for these imports.
PRELOAD = ["knowledge.ingestion.parse"]
TEST_FAULT_MARKER = b"%groundwork-test-fault: "
# Seconds the worker waits past the deadline for the keeper's report before it kills the keeper, and
# for a new keeper to say it runs (a fork: milliseconds, unless the machine is swamped).
KEEPER_GRACE_SECONDS = 30.0
# Seconds a new zygote may take to import the parsers and warm them up.
ZYGOTE_START_SECONDS = 120.0
_ZYGOTE_READY = b"ready"
# The parser process's answer: the text limit (10 M characters, up to 4 bytes each in JSON) and structure.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# A parser that used this share of its address space before it died ran out of it; below, it crashed.
OUT_OF_MEMORY_SHARE = 0.75
_PR_SET_PDEATHSIG = 1
_REPORT_MAX_BYTES = 64 * 1024
_PARSER_EXIT_EXCEPTION = 70  # the function raised something other than IngestionError

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BoxLimits:
    memory_bytes: int  # RLIMIT_AS of the parser process
    cpu_seconds: int  # RLIMIT_CPU of the parser process
    wall_seconds: float  # enforced by the keeper (SIGKILL), backed by the worker

    @classmethod
    def from_settings(cls) -> BoxLimits:
        return cls(
            memory_bytes=int(settings.INGESTION_BOX_MEMORY_BYTES),
            cpu_seconds=int(settings.INGESTION_BOX_CPU_SECONDS),
            wall_seconds=float(settings.INGESTION_BOX_WALL_SECONDS),
        )


def run_boxed(function: Callable[..., Any], *args: Any, name: str, limits: BoxLimits | None = None) -> Any:
    """``function(*args)`` in a box; its JSON-able result, or ``IngestionError`` with a readable reason.

    ``function`` must be a module-level function (it is sent to the keeper by name) returning JSON-able
    data; an ``IngestionError`` it raises comes back with its message. ``name`` is what the reasons call
    the input ("PDF": "Reading this PDF took longer than ...").
    """
    limits = limits or BoxLimits.from_settings()
    channel = _zygote.open_channel()
    keeper_pid = 0
    report: dict[str, Any] = {}
    try:
        if channel.poll(KEEPER_GRACE_SECONDS):
            keeper_pid = int(channel.recv_bytes(32))
            channel.send((function, args, limits, _parser_settings()))
            report, answer = _receive(channel, limits)
        else:
            report, answer = {"outcome": "crashed", "why": "no keeper"}, b""
    except (EOFError, OSError, ValueError):
        logger.error("a parse box's keeper died or sent garbage", exc_info=True)
        report, answer = {"outcome": "crashed", "why": "keeper lost"}, b""
    finally:
        channel.close()
        if keeper_pid and report.get("outcome") == "timeout":
            _kill(keeper_pid)  # its parser dies with it (PR_SET_PDEATHSIG)
    return _outcome(report, answer, limits=limits, name=name)


def parse_in_box(data: bytes, *, kind: str, source_url: str = "") -> ParsedDocument:
    """``knowledge.ingestion.parse.parse`` of ``data`` in a box: the same document or the same reasons,
    plus a readable reason when the parser runs out of memory or time, or crashes."""
    plain = run_boxed(_parse_plain, data, kind, source_url, name=kind_name(kind))
    try:
        return document_from_plain(plain)
    except (KeyError, TypeError, ValueError) as error:
        # Only a parser process taken over by its input answers in another shape.
        logger.warning("a parse box answered in an unexpected shape", exc_info=True)
        raise IngestionError(_crashed_message(kind_name(kind))) from error


def _parse_plain(data: bytes, kind: str, source_url: str) -> dict[str, Any]:
    return document_to_plain(parse(data, kind=kind, source_url=source_url))


def document_to_plain(document: ParsedDocument) -> dict[str, Any]:
    return asdict(document)


def document_from_plain(plain: dict[str, Any]) -> ParsedDocument:
    return ParsedDocument(
        kind=str(plain["kind"]),
        title=str(plain["title"]),
        pages=int(plain["pages"]),
        sections=[
            Section(
                text=str(section["text"]),
                heading_path=tuple(str(heading) for heading in section["heading_path"]),
                page_number=None if section["page_number"] is None else int(section["page_number"]),
                anchor=str(section["anchor"]),
            )
            for section in plain["sections"]
        ],
    )


class _Zygote:
    """The worker's handle on its zygote: started on first use, started again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def open_channel(self) -> Connection:
        """A new keeper, forked by the zygote, at the other end of the returned connection."""
        with self._lock:
            for attempt in range(2):
                if self._socket is None or self._process is None or self._process.poll() is not None:
                    self._start()
                assert self._socket is not None
                ours, theirs = socket.socketpair()
                try:
                    socket.send_fds(self._socket, [b"k"], [theirs.fileno()])
                except OSError:
                    ours.close()
                    self._stop()
                    if attempt:
                        raise
                    continue
                finally:
                    theirs.close()
                return Connection(ours.detach())
        raise AssertionError("unreachable")

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> None:
        self._stop()
        ours, theirs = socket.socketpair()
        # A fresh interpreter, not a fork of this process: the worker holds PyTorch, threads and
        # database connections that a fork would copy and that a parser must never touch.
        self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module, no input
            [sys.executable, "-c", f"import {__name__} as box; box.zygote_main({theirs.fileno()})"],
            cwd=_PROJECT_ROOT,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        # The imports and the warm-up take seconds on a busy machine; no keeper is asked for before.
        ours.settimeout(ZYGOTE_START_SECONDS)
        try:
            ready = ours.recv(len(_ZYGOTE_READY))
        except TimeoutError:
            ready = b""
        ours.settimeout(None)
        if ready != _ZYGOTE_READY:
            self._stop()
            raise RuntimeError("the parse box's zygote did not start; see the worker's log")

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # the zygote exits when its socket closes
            self._socket = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


_zygote = _Zygote()


def stop_zygote() -> None:
    """Stop this process's zygote (the next box starts a new one): for benchmarks and tests."""
    _zygote.stop()


def zygote_pid() -> int | None:
    """The pid of this process's zygote, if it runs (tests sample its memory)."""
    process = _zygote._process
    return process.pid if process is not None and process.poll() is None else None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _parser_settings() -> dict[str, Any]:
    """The settings the parser process sees: the parsers' own limits and the test switch, nothing else
    (no secret, no database): the zygote never loads the project's settings."""
    names = [name for name in dir(settings) if name.startswith("INGESTION_")]
    return {name: getattr(settings, name) for name in names}


def _receive(channel: Connection, limits: BoxLimits) -> tuple[dict[str, Any], bytes]:
    """The keeper's report and the parser's answer, or a timeout report of our own."""
    if not channel.poll(limits.wall_seconds + KEEPER_GRACE_SECONDS):
        logger.error("a parse box's keeper did not report within its deadline; killed")
        return {"outcome": "timeout"}, b""
    report = json.loads(channel.recv_bytes(_REPORT_MAX_BYTES))
    answer = channel.recv_bytes(MAX_ANSWER_BYTES) if report.get("outcome") == "answered" else b""
    return report, answer


def _outcome(report: dict[str, Any], answer: bytes, *, limits: BoxLimits, name: str) -> Any:
    outcome = report.get("outcome")
    if outcome == "answered":
        try:
            message = json.loads(answer)
        except (ValueError, RecursionError) as error:
            raise IngestionError(_crashed_message(name)) from error
        if not isinstance(message, dict):
            raise IngestionError(_crashed_message(name))
        if "error" in message:
            raise IngestionError(str(message["error"])[:1000])
        if "out_of_memory" not in message:
            return message.get("value")
        outcome = "out_of_memory"
    if outcome == "out_of_memory":
        megabytes = limits.memory_bytes / 1024**2
        raise IngestionError(
            f"This {name} needs more memory to read than the {megabytes:,.0f} MB a document may use; it may "
            "be built to exhaust a reader. Save a simpler copy (or split it) and upload that."
        )
    if outcome in {"timeout", "cpu"}:
        seconds = limits.wall_seconds if outcome == "timeout" else limits.cpu_seconds
        raise IngestionError(
            f"Reading this {name} took longer than {seconds:g} second{'' if seconds == 1 else 's'}, the most "
            "Groundwork spends on one file; split it into smaller files and upload those."
        )
    if outcome == "too_large":
        raise IngestionError(f"This {name} yields more text than Groundwork takes from one document.")
    logger.warning("a parse box crashed: %s", report)
    raise IngestionError(_crashed_message(name))


def _crashed_message(name: str) -> str:
    return (
        f"The parser crashed on this {name}; it may be damaged or built to break readers. Save a new copy "
        "and upload that."
    )


# --- the zygote and its keepers ------------------------------------------------------------------------


def zygote_main(socket_fd: int) -> None:
    """The zygote's loop: fork a keeper for each channel the worker sends; exit when the worker goes."""
    for module in PRELOAD:
        importlib.import_module(module)
    _warm_up()
    # Everything the zygote holds now is shared with its children copy-on-write; a garbage collection
    # in a child would walk (and so copy) all of it. Frozen objects are never walked.
    gc.freeze()
    control = socket.socket(fileno=socket_fd)
    control.sendall(_ZYGOTE_READY)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # keepers are reaped by the kernel
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 16, 1)
        except OSError:
            return
        if not message:
            return  # the worker closed its end or died
        if not fds:
            continue
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the keeper waits for its parser
            try:
                _keeper_main(Connection(fds[0]))
            except BaseException:
                traceback.print_exc()  # the worker sees the channel close and reports a crash
            finally:
                os._exit(0)
        os.close(fds[0])


def _warm_up() -> None:
    """Parse a tiny document of each kind once, here in the zygote: what the parser libraries build on
    first use (configurations, compiled patterns, parser instances) is then inherited by every parser
    process instead of being built again in each (about 50 ms a document for HTML and Markdown)."""
    import docx
    import pypdfium2

    pdf = pypdfium2.PdfDocument.new()
    pdf.new_page(612, 792)
    pdf_bytes = io.BytesIO()
    pdf.save(pdf_bytes)
    pdf.close()
    word_bytes = io.BytesIO()
    word = docx.Document()
    word.add_heading("Warm-up", level=1)
    word.add_paragraph("A sentence to read.")
    word.save(word_bytes)
    samples = {
        "pdf": pdf_bytes.getvalue(),
        "docx": word_bytes.getvalue(),
        "html": b"<html><head><title>Warm-up</title></head><body><main><h1>Warm-up</h1>"
        b"<p>A sentence to read, long enough to be kept as the page's text.</p></main></body></html>",
        "markdown": b"# Warm-up\n\nA sentence to read.\n",
        "csv": b"question,answer\nWarm-up,A sentence to read.\n",
        "text": b"A sentence to read.\n",
    }
    for kind, data in samples.items():
        with contextlib.suppress(IngestionError):  # an empty sample still warms its parser
            parse(data, kind=kind, source_url="https://example.com/")


def _keeper_main(channel: Connection) -> None:
    channel.send_bytes(str(os.getpid()).encode())
    function, args, limits, parser_settings = channel.recv()  # from the worker, which is trusted
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the parser process
        os.close(read_end)
        channel.close()
        _parser_main(write_end, function, args, limits, parser_settings)
    os.close(write_end)
    del args
    outcome, answer = _collect(read_end, pid, deadline=started + limits.wall_seconds)
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    peak_bytes = usage.ru_maxrss * 1024
    cpu_seconds = usage.ru_utime + usage.ru_stime
    if outcome == "":
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu_seconds >= limits.cpu_seconds):
                outcome = "cpu"
            elif peak_bytes >= OUT_OF_MEMORY_SHARE * limits.memory_bytes:
                outcome = "out_of_memory"
            else:
                outcome = "crashed"
        elif os.WEXITSTATUS(status) != 0 or not answer:
            outcome = (
                "out_of_memory" if peak_bytes >= OUT_OF_MEMORY_SHARE * limits.memory_bytes else "crashed"
            )
        else:
            outcome = "answered"
    report = {
        "outcome": outcome,
        "status": status,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "peak_rss_bytes": peak_bytes,
        "cpu_seconds": round(cpu_seconds, 3),
        "seconds": round(time.monotonic() - started, 3),
    }
    channel.send_bytes(json.dumps(report).encode())
    if outcome == "answered":
        channel.send_bytes(answer)
    channel.close()


def _judge(status: int, answer: bytes, *, peak_bytes: int, cpu_seconds: float, limits: BoxLimits) -> str:
    """How the parser process ended, from its wait status and its resource usage."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and answer:
        return "answered"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu_seconds >= limits.cpu_seconds):
            return "cpu"
    # PDFium (like most C libraries) aborts when an allocation fails: a process that died having used
    # most of its address space died of it.
    if peak_bytes >= OUT_OF_MEMORY_SHARE * limits.memory_bytes:
        return "out_of_memory"
    return "crashed"


def _collect(read_end: int, pid: int, *, deadline: float) -> tuple[str, bytes]:
    """("", answer) once the parser closes its end, or ("timeout" | "too_large", b"") after killing it."""
    parts: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            return "timeout", b""
        readable, _, _ = select.select([read_end], [], [], remaining)
        if not readable:
            continue
        part = os.read(read_end, 1024 * 1024)
        if not part:
            return "", b"".join(parts)
        size += len(part)
        if size > MAX_ANSWER_BYTES:
            os.kill(pid, signal.SIGKILL)
            return "too_large", b""
        parts.append(part)


# --- the parser process ------------------------------------------------------------------------------


def _parser_main(
    write_end: int,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    limits: BoxLimits,
    parser_settings: dict[str, Any],
) -> None:
    """Never returns: writes its JSON answer and exits, or dies of its limits."""
    try:
        _confine(limits)
        if not settings.configured:
            settings.configure(**parser_settings)
        if parser_settings.get("INGESTION_BOX_TEST_FAULTS"):
            _inject_test_fault(args)
        try:
            message: dict[str, Any] = {"value": function(*args)}
        except IngestionError as error:
            message = {"error": error.message}
        except MemoryError:
            message = {"out_of_memory": True}
        answer = json.dumps(message).encode()
        del message
        view = memoryview(answer)
        while view:
            view = view[os.write(write_end, view) :]
        os.close(write_end)
    except MemoryError:
        os._exit(_PARSER_EXIT_EXCEPTION)  # the keeper reads the peak RSS to tell why
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(_PARSER_EXIT_EXCEPTION)
    os._exit(0)


def _confine(limits: BoxLimits) -> None:
    # Die with the keeper: a keeper the worker killed must not leave its parser running.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    # SIGXCPU at the soft limit, SIGKILL a second later if it is caught or ignored.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    # A crash writes no core file: it would hold the document's bytes and fill the disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _inject_test_fault(args: tuple[Any, ...]) -> None:
    """Tests only (``INGESTION_BOX_TEST_FAULTS``): crash or hang on bytes carrying the marker."""
    for argument in args:
        if not isinstance(argument, bytes) or TEST_FAULT_MARKER not in argument:
            continue
        fault = argument.split(TEST_FAULT_MARKER, 1)[1].split(b"\n", 1)[0].strip().decode()
        if fault == "abort":
            os.abort()
        if fault == "segfault":
            ctypes.string_at(0)
        if fault == "spin":
            while True:
                pass
        if fault == "sleep":
            time.sleep(3600)
