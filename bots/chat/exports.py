"""Conversations exported as CSV or JSON Lines, streamed: every message of the filtered conversations,
a batch at a time, without holding a worker thread or the request's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from bots.chat import selectors as chat_selectors
from core.spreadsheets import csv_line
from tenants import selectors as tenant_selectors
from tenants.context import tenant_context

EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


EXPORT_BATCH_ROWS = 200


def export_lines(tenant_id: uuid.UUID, filters: dict[str, Any], export_format: str) -> Iterator[str]:
    """The export, a line at a time, read in its own transaction scoped to the tenant: it runs while the
    response streams, after the request's transaction has ended."""
    if export_format == "csv":
        yield csv_line(chat_selectors.EXPORT_FIELDS)
    with tenant_context(tenant_id):
        tenant = tenant_selectors.tenant_get(tenant_id=tenant_id)
        conversations = chat_selectors.conversation_list(tenant=tenant, **filters)
        for row in chat_selectors.export_rows(tenant=tenant, conversations=conversations):
            if export_format == "csv":
                yield csv_line([row[name] for name in chat_selectors.EXPORT_FIELDS])
            else:
                yield json.dumps(row, ensure_ascii=False) + "\n"


def _next_lines(lines: Iterator[str]) -> str:
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == EXPORT_BATCH_ROWS:
            break
    return "".join(batch)


async def lines_from_thread(lines: Iterator[str]) -> AsyncIterator[str]:
    """Under ASGI: the export's generator advanced in the request's database thread, a batch at a time
    (the same thread every time, so its transaction and cursor stay on one connection), and closed in
    that thread however the response ends."""
    try:
        while batch := await sync_to_async(_next_lines)(lines):
            yield batch
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            await sync_to_async(close)()


def export_response(
    request: HttpRequest, *, tenant_id: uuid.UUID, filters: dict[str, Any], export_format: str
) -> StreamingHttpResponse:
    """Every message of the filtered conversations, streamed as an attachment (``EXPORT_FORMATS``)."""
    lines = export_lines(tenant_id, filters, export_format)
    content = lines_from_thread(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type=EXPORT_FORMATS[export_format])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="conversations-{stamp}.{export_format}"'
    return response
