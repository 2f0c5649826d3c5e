"""What bots tests share besides fixtures and factories: sample knowledge, reading a streamed answer,
and reading back what was stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bots.models import Bot, Message
from tenants.context import tenant_context
from tests.tenants.factories import World

REFUNDS = (
    "# Refunds\n\nRefunds for card payments take five working days after we receive the returned item.\n\n"
    "## Exchanges\n\nExchanges for another size are free within thirty days of delivery."
)


def sse_events(body: bytes) -> list[tuple[str, Any]]:
    """A server-sent event stream as (event, parsed data) pairs."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def streamed_body(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


def reload(world: World, bot: Bot) -> Bot:
    with tenant_context(world.tenant.pk):
        return Bot.objects.get(pk=bot.pk)


def messages_of(world: World, conversation_id: str | uuid.UUID) -> list[Message]:
    with tenant_context(world.tenant.pk):
        return list(Message.objects.filter(conversation_id=conversation_id).order_by("created_at"))
