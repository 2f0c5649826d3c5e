"""REST endpoints for bots (``/bots``, ``/bots/{id}``, ``/bots/{id}/rotate-key``); conversations, feedback
and the OpenAI-compatible surface are in ``bots.chat``, regression suites in ``bots.regression``.

Bots are named in URLs by id or slug. Knowledge bases and other objects named in a request *body* that
are not the tenant's are a 400 on that field (the object the URL names exists; the body is what is
wrong), with the same message for "missing" and "another tenant's", so the answer reveals nothing either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors, services
from bots.models import (
    Bot,
)
from bots.serializers import BotInput, BotOutput
from core.errors import NotFound, ValidationFailed
from core.pagination import CursorPagination
from knowledge import selectors as knowledge_selectors
from tenants.api_base import TenantAPIView
from tenants.models import Tenant

# Nested input serializers carry names unique across the API: the OpenAPI component name is the class
# name, and drf-spectacular would otherwise document two different inputs under one name.

BOT_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The bot's id or slug.")


# --- endpoints --------------------------------------------------------------------------------------


class BotsAPIView(TenantAPIView):
    """Base of this module's views: cursor pagination, and how a bot is shaped."""

    pagination_class = CursorPagination

    def bot_body(self, bot: Bot) -> Any:
        return BotOutput(bot, context=self.output_context()).data


def _knowledge_base_ids(tenant: Tenant, identifiers: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The ids, each checked to be one of the tenant's knowledge bases (a 400 on the field if not)."""
    for identifier in identifiers:
        try:
            knowledge_selectors.knowledge_base_get(tenant=tenant, knowledge_base_id=identifier)
        except NotFound:
            message = f"No such knowledge base: {identifier}."
            raise ValidationFailed(message, field_errors={"knowledge_bases": [message]}) from None
    return list(identifiers)


def _bot_settings(tenant: Tenant, validated: dict[str, Any]) -> dict[str, Any]:
    """Service keyword arguments from a BotInput's validated data."""
    arguments = dict(validated)
    if "knowledge_bases" in arguments:
        arguments["knowledge_base_ids"] = _knowledge_base_ids(tenant, arguments.pop("knowledge_bases"))
    return arguments


class BotListView(BotsAPIView):
    """Bots, newest first; ``POST`` creates one that can answer at once."""

    @extend_schema(responses=BotOutput(many=True))
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.bot_list(tenant=self.actor.tenant), BotOutput)

    @extend_schema(request=BotInput, responses={201: BotOutput})
    def post(self, request: Request) -> Response:
        data = BotInput(data=request.data)
        data.is_valid(raise_exception=True)
        bot = services.bot_create(actor=self.actor, **_bot_settings(self.actor.tenant, data.validated_data))
        return Response(
            self.bot_body(bot),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("bot-detail", kwargs={"id": bot.pk})},
        )


class BotDetailView(BotsAPIView):
    """One bot. A new ``name`` gives it a new ``slug``; ``DELETE`` removes it with its conversations
    (usage records stay: they are the bill)."""

    url_object_lookup = (selectors.bot_get, "bot_id")

    @extend_schema(parameters=[BOT_ID], responses=BotOutput)
    def get(self, request: Request, id: str) -> Response:
        return Response(self.bot_body(self.url_object))

    @extend_schema(parameters=[BOT_ID], request=BotInput, responses=BotOutput)
    def patch(self, request: Request, id: str) -> Response:
        data = BotInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        bot = services.bot_update(
            actor=self.actor,
            bot_id=self.url_object.pk,
            **_bot_settings(self.actor.tenant, data.validated_data),
        )
        return Response(self.bot_body(bot))

    @extend_schema(parameters=[BOT_ID], responses={204: None})
    def delete(self, request: Request, id: str) -> Response:
        services.bot_delete(actor=self.actor, bot_id=self.url_object.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotRotateKeyView(BotsAPIView):
    """A new publishable key for the widget; pages still embedding the old one stop working."""

    url_object_lookup = (selectors.bot_get, "bot_id")

    @extend_schema(parameters=[BOT_ID], request=None, responses=BotOutput)
    def post(self, request: Request, id: str) -> Response:
        bot = services.bot_rotate_publishable_key(actor=self.actor, bot_id=self.url_object.pk)
        return Response(self.bot_body(bot))
