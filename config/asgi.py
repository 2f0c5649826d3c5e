"""The ASGI application, behind a cap on request bodies.

Django's ASGI handler reads a request's whole body (spooling it to disk past a few MB) before any view
or upload handler runs, so a body of gigabytes would be written out before being refused. The cap here
counts bytes as they arrive and answers 413 as soon as a body passes the largest upload Groundwork
accepts; the per-file and per-endpoint limits inside Django then give the precise message.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

Scope = dict[str, Any]
Message = dict[str, Any]


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware: 413 (problem+json) for a request body longer than ``max_bytes``."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Request body too large",
                "status": 413,
                "detail": f"The request body is larger than the {self.max_bytes:,} bytes Groundwork accepts.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _application() -> BodySizeLimit:
    django_application = get_asgi_application()  # sets Django up, so settings can be read below
    from django.conf import settings

    from core.uploads import MULTIPART_OVERHEAD_BYTES

    return BodySizeLimit(django_application, settings.KNOWLEDGE_MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES)


application = _application()
