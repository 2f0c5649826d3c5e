"""The ASGI entry point refuses a request body past the upload limit while it streams in, before Django
reads (and spools to disk) the whole of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config.asgi import BodySizeLimit, application
from core.uploads import MULTIPART_OVERHEAD_BYTES

Message = dict[str, Any]


class Conversation:
    """Feeds an ASGI app a body in pieces and keeps what it sends back and how much it read."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if not self.pieces:
            return {"type": "http.disconnect"}
        piece = self.pieces.pop(0)
        self.read += 1
        return {"type": "http.request", "body": piece, "more_body": bool(self.pieces)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def scope(headers: dict[str, str] | None = None, path: str = "/api/v1/knowledge-bases") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(name.encode(), value.encode()) for name, value in (headers or {}).items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that reads the whole body and answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.mark.anyio
async def test_a_body_without_a_declared_length_is_cut_off_once_it_passes_the_cap() -> None:
    conversation = Conversation([b"x" * 1000] * 50)  # 50,000 bytes in pieces, no Content-Length

    await BodySizeLimit(echo_length, max_bytes=10_000)(scope(), conversation.receive, conversation.send)

    assert conversation.status == 413
    assert conversation.read == 11  # stopped at the first piece past the cap, not after all 50
    assert json.loads(conversation.body)["status"] == 413


@pytest.mark.anyio
async def test_bodies_within_the_cap_pass_untouched() -> None:
    conversation = Conversation([b"x" * 1000] * 10)

    await BodySizeLimit(echo_length, max_bytes=10_000)(scope(), conversation.receive, conversation.send)

    assert (conversation.status, conversation.body) == (200, b"10000")


@pytest.mark.anyio
async def test_the_application_refuses_a_declared_oversize_body_without_reading_it(settings: Any) -> None:
    declared = settings.KNOWLEDGE_MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES + 1
    conversation = Conversation([b"never read"])

    await application(
        scope({"content-length": str(declared), "content-type": "multipart/form-data; boundary=x"}),
        conversation.receive,
        conversation.send,
    )

    assert conversation.status == 413
    assert conversation.read == 0
    headers = dict(next(m["headers"] for m in conversation.sent if m["type"] == "http.response.start"))
    assert headers[b"content-type"] == b"application/problem+json"
