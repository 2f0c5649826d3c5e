"""Local HTTP servers that speak the model providers' wire formats, for the official SDKs to talk to.

Each stub runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 and a free port, in a daemon thread. It
records every request it receives (method, path, query, headers, JSON body) so tests can assert what the
SDK really sent — including each retry — and it can be scripted per test:

- ``answers``: the text each model name answers with (streamed word by word);
- ``faults``: a queue of misbehaviours, one per incoming request, consumed in order: an HTTP error status
  (with ``retry-after``), a delay longer than the client's timeout, a stream cut half-way (the socket
  closed inside a chunked body), a malformed SSE event, a stream that stalls, an error event mid-stream,
  a dropped connection, a stream that never ends, or a redirect to another address.

Streaming answers use HTTP/1.1 chunked transfer encoding, as the real APIs do, so a cut stream is what
the client sees in production: a body that ends without its terminating chunk.
"""

from __future__ import annotations

import abc
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_RETRY_AFTER = "0.01"  # seconds; both SDKs accept a decimal and sleep exactly that long


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, applied to the next request the stub receives."""

    kind: str  # status | delay | cut | malformed | stall | error_event | drop | endless | redirect
    status: int = 0
    location: str = ""
    retry_after: str | None = DEFAULT_RETRY_AFTER
    seconds: float = 0.0
    after_events: int = 0
    error_type: str = ""
    message: str = ""

    @classmethod
    def http(
        cls,
        status: int,
        *,
        retry_after: str | None = DEFAULT_RETRY_AFTER,
        message: str = "",
        error_type: str = "",
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, message=message, error_type=error_type)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait before answering (normally), to outlast the client's timeout."""
        return cls("delay", seconds=seconds)

    @classmethod
    def cut(cls, after_events: int) -> Fault:
        """Close the socket in the middle of the streamed body, after this many SSE events."""
        return cls("cut", after_events=after_events)

    @classmethod
    def malformed(cls, after_events: int) -> Fault:
        """Send an event whose data is not JSON, after this many good ones."""
        return cls("malformed", after_events=after_events)

    @classmethod
    def stall(cls, after_events: int, seconds: float) -> Fault:
        """Stop sending for a while in the middle of the stream."""
        return cls("stall", after_events=after_events, seconds=seconds)

    @classmethod
    def error_event(cls, after_events: int, error_type: str = "overloaded_error") -> Fault:
        """Report an error inside an already started (HTTP 200) stream."""
        return cls("error_event", after_events=after_events, error_type=error_type)

    @classmethod
    def endless(cls, after_events: int = 1, seconds: float = 0.0) -> Fault:
        """After this many events, repeat the last text event forever (every ``seconds``), until the
        client hangs up (``StubServer.hung_up`` is then set) or the stub stops."""
        return cls("endless", after_events=after_events, seconds=seconds)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> Fault:
        """Answer any request with a redirect to ``location``."""
        return cls("redirect", status=status, location=location)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering at all."""
        return cls("drop")


class Exchange:
    """One request being answered: small helpers over the request handler."""

    def __init__(self, handler: _Handler, request: RecordedRequest) -> None:
        self.handler = handler
        self.request = request
        self.stub = handler.server.stub

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", "application/json")
        self.handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.handler.send_header(name, value)
        self.handler.end_headers()
        self.handler.wfile.write(data)

    def drop(self) -> None:
        """Close the socket abruptly; the client sees a connection reset or an incomplete body."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def send_events(self, events: Iterable[bytes], fault: Fault | None, error_event: bytes = b"") -> None:
        """Stream SSE events as chunks of a chunked body, applying a stream fault on the way."""
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.handler.send_header("Cache-Control", "no-cache")
        self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()
        for index, event in enumerate(events):
            if fault is not None and index == fault.after_events:
                if fault.kind == "cut":
                    self._chunk(b'data: {"partial')  # half an event, then the socket closes
                    self.drop()
                    return
                if fault.kind == "malformed":
                    self._chunk(self.stub.malformed_event)
                elif fault.kind == "stall":
                    self.stub.stopping.wait(fault.seconds)
                elif fault.kind == "error_event":
                    self._chunk(error_event)
                    self._chunk(b"")
                    return
                elif fault.kind == "endless":
                    self._forever(event, fault.seconds)
                    return
            self._chunk(event)
        self._chunk(b"")

    def _forever(self, event: bytes, interval: float) -> None:
        try:
            while not self.stub.stopping.is_set():
                self._chunk(event)
                self.handler.wfile.flush()
                if interval:
                    self.stub.stopping.wait(interval)
        except OSError:
            self.stub.hung_up.set()  # the client stopped reading and closed the connection
        self.handler.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: StubServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like the real APIs
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stubs' requests are asserted on, not printed."""

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=method,
            path=url.path,
            query={name: values[-1] for name, values in parse_qs(url.query).items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            self.server.stub.handle(Exchange(self, request))
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its timeout), as the delay faults intend.
            self.close_connection = True


class StubServer(abc.ABC):
    """Base of the provider stubs: the server thread, request log, fault queue and scripted answers."""

    default_answer = "Hello from the stub. This answer arrives one word at a time."
    malformed_event = b"data: {this is not json\n\n"

    def __init__(self, *, api_key: str | None) -> None:
        self.api_key = api_key  # None: accept any key (an OpenAI-compatible server without one)
        self.answers: dict[str, str] = {}
        # (model, text the request's messages contain, answer): checked before ``answers``, first match wins.
        self.scripts: list[tuple[str, str, str]] = []
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        self.stopping = threading.Event()
        self.hung_up = threading.Event()  # a client closed an endless stream
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        # A short poll interval: stop() waits for serve_forever to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=type(self).__name__,
            daemon=True,
        )

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers sleeping in a delay or stall fault
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- scripting and inspection -------------------------------------------------------------------

    def add_faults(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def received(self, count: int, *, within: float = 5.0) -> int:
        """How many requests arrived, waiting up to ``within`` seconds for ``count`` of them.

        A client that gave up on a request (a timeout) may have done so before the server's handler
        thread recorded it; on a busy machine the record follows a moment later.
        """
        deadline = time.monotonic() + within
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def script(self, model: str, when: str, answer: str) -> None:
        """Answer ``answer`` when ``model`` is asked something whose messages contain ``when``."""
        with self._lock:
            self.scripts.append((model, when, answer))

    def answer_for(self, model: str, prompt: str = "") -> str:
        with self._lock:
            for scripted_model, when, answer in reversed(self.scripts):  # the latest script wins
                if scripted_model == model and when in prompt:
                    return answer
        return self.answers.get(model, self.default_answer)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    # --- request handling -----------------------------------------------------------------------------

    def handle(self, exchange: Exchange) -> None:
        with self._lock:
            self.requests.append(exchange.request)
        fault = self._next_fault()
        if fault is not None and fault.kind == "status":
            headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            body = self.error_body(fault.status, fault.error_type, fault.message)
            exchange.send_json(fault.status, body, headers)
            return
        if fault is not None and fault.kind == "redirect":
            exchange.send_json(fault.status, {"moved": fault.location}, {"Location": fault.location})
            return
        if fault is not None and fault.kind == "drop":
            exchange.drop()
            return
        if fault is not None and fault.kind == "delay":
            if self.stopping.wait(fault.seconds):
                return
            fault = None
        if not self.authorized(exchange.request):
            exchange.send_json(401, self.error_body(401, "", self.rejected_key_message(exchange.request)))
            return
        self.route(exchange, fault)

    def authorized(self, request: RecordedRequest) -> bool:
        return self.api_key is None or self.presented_key(request) == self.api_key

    @staticmethod
    def bearer(request: RecordedRequest) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else ""

    @staticmethod
    def mask(key: str) -> str:
        """How the providers echo a rejected key: never whole."""
        return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"

    def presented_key(self, request: RecordedRequest) -> str:
        return self.bearer(request)

    def rejected_key_message(self, request: RecordedRequest) -> str:
        return f"Incorrect API key provided: {self.mask(self.presented_key(request))}."

    @abc.abstractmethod
    def route(self, exchange: Exchange, fault: Fault | None) -> None:
        """Answer one request the way the provider would (or with the scripted fault)."""

    @abc.abstractmethod
    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        """The provider's JSON error shape."""


def words(text: str) -> list[str]:
    """The stream's pieces: each word with the space before it, so they join back to ``text``."""
    pieces = text.split(" ")
    return [pieces[0], *(f" {piece}" for piece in pieces[1:])] if text else []


def count_words(text: str) -> int:
    """The stubs' token count: deterministic, so tests can predict usage exactly."""
    return len(text.split())


__all__ = ["Exchange", "Fault", "RecordedRequest", "StubServer", "count_words", "words"]
