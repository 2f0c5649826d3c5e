"""The widget's public API, ``/public/v1/bots/{publishable_key}/...``, and the ``/widget.js`` loader.

Called from browsers on the tenants' websites, by visitors who have no account. Every request passes the
same gate (``PublicWidgetView.serve``): the bot named by the key; the page's ``Origin`` against the bot's
allow-list (``bots.widget.rules``); the bot published (or a preview token from Groundwork's own pages); for
the visitor's routes, a session token signed for this bot; rate limits per address, visitor and bot.
The address is ``core.client_address``'s: ``X-Forwarded-For`` counts only from ``TRUSTED_PROXIES``, so a
script rotating that header, or minting new sessions, still meets the per-address limits.
CORS headers are sent only to allowed origins, so a page elsewhere cannot read a single answer; a
refused origin gets a 403 without them.

Routes:
- ``GET  ""``                       the bot's public look and greeting (cacheable, ETag)
- ``POST /sessions``                a visitor session: ``{token, visitor_id, identified, expires_in}``
- ``POST /chat``                    a question, answered as server-sent events (token required)
- ``GET  /conversations/{id}``      the visitor's own conversation, to restore it on the next page
- ``POST /messages/{id}/feedback``  thumbs up or down on an answer of the visitor's own conversation

Like the REST chat views (``bots.chat.api``) these are async views that never pass through DRF; they
derive from ``APIView`` so that drf-spectacular documents them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from bots import selectors
from bots.chat import engine
from bots.chat import selectors as chat_selectors
from bots.chat import services as chat_services
from bots.chat.streaming import TurnPresenter, event_stream, first_event, stream_problem, turn_events
from bots.models import Bot, Channel, MessageRole
from bots.widget import installation, loader, rules
from bots.widget.rules import VisitorSession, WidgetRefused
from bots.widget.serializers import (
    PublicChatInput,
    PublicConfigOutput,
    PublicConversationOutput,
    PublicFeedbackInput,
    PublicFeedbackOutput,
    SessionInput,
    SessionOutput,
)
from core import rate_limits
from core.async_views import AsyncEndpoint, json_body
from core.client_address import client_address
from core.errors import GroundworkError, RequestRefused
from core.problems import problem_response
from core.serializers import validated
from providers.readiness import chat_model_readiness
from tenants.context import tenant_context, unscoped

PREVIEW_HEADER = "Groundwork-Preview"
PUBLISHABLE_KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description="The bot's publishable key (gw_pk_...)."
)
CONFIG_MAX_AGE_SECONDS = 60
PREFLIGHT_MAX_AGE_SECONDS = 600


class PublicWidgetView(AsyncEndpoint):
    """The gate every public request passes. Subclasses implement ``get`` or ``post`` as
    ``async def post(self, request, bot, session, *, preview, **kwargs)``: ``session`` is the visitor's
    (``None`` where ``needs_session`` is off), ``preview`` whether a preview token came with it."""

    # For the schema only (no API key, no session): requests never pass through DRF.
    authentication_classes = []
    permission_classes = []
    needs_session: ClassVar[bool] = True
    # The request the loader makes on every page load: it tells the Install page the snippet is in place.
    records_installation: ClassVar[bool] = False

    @property
    def methods(self) -> tuple[str, ...]:
        methods = tuple(name.upper() for name in ("get", "post") if hasattr(self, name))
        return (*methods, "HEAD") if "GET" in methods else methods

    async def serve(self, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        key = kwargs.pop("key")
        origin = request.headers.get("Origin")
        allowed_origin: str | None = None
        try:
            bot = await sync_to_async(_bot_for_key)(key)
            # Reads Redis and the user's membership: a preview token is bound to its user's sign-in.
            preview = await sync_to_async(rules.is_preview)(bot, request.headers.get(PREVIEW_HEADER))
            if not rules.origin_allowed(bot, origin, preview=preview, own_origin=_own_origin(request)):
                # No CORS headers: a browser on that page cannot read this (the widget tells the two
                # apart by probing the server, see static/widget/loader.js).
                raise WidgetRefused(
                    403, f"This bot's widget is not enabled on {origin or 'pages without an origin'}."
                )
            allowed_origin = origin
            if self.records_installation and request.method == "GET" and not preview:
                await _record_installation(request, bot, origin)
            if request.method == "OPTIONS":
                response: HttpResponseBase = _preflight(self.methods)
            elif request.method not in self.methods:
                response = _problem(request, RequestRefused(405, f'Method "{request.method}" not allowed.'))
                response["Allow"] = ", ".join(self.methods)
            else:
                session = None
                if self.needs_session:
                    session = rules.session_from_token(bot, _bearer(request))
                    if session.preview and not preview:
                        # A preview session is worth no more than the preview token it came with: once
                        # that expires or its user signs out, the session cannot reach a draft either.
                        raise WidgetRefused(401, "The preview has ended; reload the page to preview again.")
                rules.check_published(bot, preview=preview)
                handler = getattr(self, "get" if request.method == "HEAD" else str(request.method).lower())
                response = await handler(request, bot, session, preview=preview, **kwargs)
        except GroundworkError as error:
            response = _problem(request, error)
        if allowed_origin:
            response["Access-Control-Allow-Origin"] = allowed_origin
            response["Access-Control-Expose-Headers"] = "Retry-After, ETag"
        response["Vary"] = f"Origin, {PREVIEW_HEADER}"
        return response


def _bot_for_key(key: str) -> Bot:
    if not key.startswith("gw_pk_") or len(key) > 64:
        raise WidgetRefused(404, "No bot has this key.")
    # The key is the only thing a public request names; it leads to one bot, whichever tenant owns it.
    with unscoped(reason="widget: a publishable key names its bot"):
        bot = selectors.bot_by_publishable_key(publishable_key=key)
    if bot is None:
        raise WidgetRefused(404, "No bot has this key (it may have been replaced by a new one).")
    return bot


async def _record_installation(request: HttpRequest, bot: Bot, origin: str | None) -> None:
    """A page on an allowed website loaded the widget (published or not: the snippet is in place), not the
    dashboard's preview: "installation detected" on the Install page. Throttled inside to a write a minute."""
    if origin and origin != _own_origin(request):
        await sync_to_async(installation.record_widget_seen)(
            publishable_key=bot.publishable_key, origin=origin
        )


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _rate(scope: str, subject: str, rate: str, message: str) -> None:
    rate_limits.enforce(f"widget:{scope}", subject, rate, message)


BOT_RESTING = "This assistant isn't taking questions right now. Please try again later."


def _problem(request: HttpRequest, error: GroundworkError) -> JsonResponse:
    if isinstance(error, chat_services.BudgetExhausted):
        # The tenant's budget figures are theirs; the visitor learns only that the bot is resting.
        error = chat_services.BudgetExhausted(BOT_RESTING)
    response = problem_response(request, error, realm="widget")
    response["Cache-Control"] = "no-store"
    return response


def _preflight(methods: tuple[str, ...]) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
    response["Access-Control-Allow-Headers"] = f"Authorization, Content-Type, {PREVIEW_HEADER}"
    response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return response


# --- GET "": the bot's public configuration ------------------------------------------------------------


def public_config(bot: Bot) -> dict[str, Any]:
    return {
        "name": bot.name,
        "title": bot.widget_title or bot.name,
        "avatar": bot.initials,
        "greeting": bot.greeting,
        "suggested_questions": list(bot.suggested_questions),
        "show_citations": bot.show_citations,
        "color": bot.widget_color,
        "position": bot.widget_position,
        "icon": bot.widget_icon,
        "identity_verification": bool(bot.identity_secret),
    }


def owner_notice(bot: Bot) -> dict[str, str] | None:
    """For the owner's preview only (never a visitor): why the bot's model cannot answer, and the one
    fix (``providers.readiness``), so the preview does not look like a working widget when it is not."""
    with tenant_context(bot.tenant_id):
        readiness = chat_model_readiness(tenant=bot.tenant, ref=bot.chat_model)
    if readiness.can_answer:
        return None
    return {"problem": readiness.problem, "fix_label": readiness.fix_label, "fix_url": readiness.fix_url}


class PublicConfigView(PublicWidgetView):
    """The bot's look, greeting and suggested questions. Cacheable for a minute; send ``If-None-Match``."""

    needs_session = False
    records_installation = True

    @extend_schema(parameters=[PUBLISHABLE_KEY], responses={200: PublicConfigOutput, 304: None})
    async def get(
        self, request: HttpRequest, bot: Bot, session: VisitorSession | None, *, preview: bool, **kwargs: Any
    ) -> HttpResponseBase:
        await sync_to_async(_rate)(
            "read",
            client_address(request),
            settings.WIDGET_READ_RATE_PER_IP,
            "Too many requests from your network",
        )
        config = public_config(bot)
        if preview:
            notice = await sync_to_async(owner_notice)(bot)
            if notice:
                config["owner_notice"] = notice
        body = json.dumps(config, sort_keys=True).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        if etag in request.headers.get("If-None-Match", ""):
            response: HttpResponse = HttpResponse(status=304)
        else:
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        # The tenant's preview must show a change at once, and a draft's look must never sit in a shared
        # cache: revalidated every time (by ETag), privately.
        response["Cache-Control"] = (
            "private, no-cache" if preview else f"public, max-age={CONFIG_MAX_AGE_SECONDS}"
        )
        return response


# --- POST /sessions ------------------------------------------------------------------------------------


class SessionView(PublicWidgetView):
    """A visitor session for this bot alone: anonymous, or a user your server vouched for."""

    needs_session = False

    @extend_schema(parameters=[PUBLISHABLE_KEY], request=SessionInput, responses={201: SessionOutput})
    async def post(
        self, request: HttpRequest, bot: Bot, session: VisitorSession | None, *, preview: bool, **kwargs: Any
    ) -> HttpResponseBase:
        data = validated(SessionInput, json_body(request))
        await sync_to_async(_session_rates)(bot, client_address(request))
        visitor_id, identified = await sync_to_async(rules.visitor_for)(
            bot,
            visitor_id=data.get("visitor_id", ""),
            user_id=data.get("user_id", ""),
            user_hash=data.get("user_hash", ""),
        )
        token = rules.session_token(
            VisitorSession(bot_id=bot.pk, tenant_id=bot.tenant_id, visitor_id=visitor_id, preview=preview)
        )
        response = JsonResponse(
            {
                "token": token,
                "visitor_id": visitor_id,
                "identified": identified,
                "expires_in": settings.WIDGET_SESSION_SECONDS,
            },
            status=201,
        )
        response["Cache-Control"] = "no-store"
        return response


def _session_rates(bot: Bot, client_ip: str) -> None:
    _rate(
        "session-ip", client_ip, settings.WIDGET_SESSION_RATE_PER_IP, "Too many new chats from your network"
    )
    _rate("session-bot", str(bot.pk), settings.WIDGET_SESSION_RATE_PER_BOT, "This bot is too busy")


# --- POST /chat ----------------------------------------------------------------------------------------


PUBLIC_STREAM_DESCRIPTION = (
    "`text/event-stream`: `start` {conversation_id, question_id}, `sources` {citations}, `token` {text} "
    "(many), then `done` {conversation_id, message_id, answer, outcome, citations} — or `error` "
    "{status, title, detail}. Refusals (400, 401 expired session, 403, 404, 429 with Retry-After) are "
    "problem+json before any stream starts."
)


class PublicChatView(PublicWidgetView):
    """Ask the bot; the answer streams as server-sent events. Counted against the chat rate limits."""

    @extend_schema(
        parameters=[PUBLISHABLE_KEY],
        request=PublicChatInput,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description=PUBLIC_STREAM_DESCRIPTION
            )
        },
    )
    async def post(
        self, request: HttpRequest, bot: Bot, session: VisitorSession | None, *, preview: bool, **kwargs: Any
    ) -> HttpResponseBase:
        assert session is not None
        data = validated(PublicChatInput, json_body(request))
        events = engine.converse(
            tenant_id=bot.tenant_id,
            bot_id=bot.pk,
            question=data["message"],
            channel=Channel.WIDGET,
            conversation_id=data.get("conversation_id"),
            visitor_id=session.visitor_id,
            client_ip=client_address(request),
        )
        started = await first_event(events)
        return await event_stream(request, turn_events(events, started, VISITOR_TURN))


VISITOR_PROVIDER_FAILURE = "The assistant can't answer right now. Please try again."
# The turn for a visitor: the answer and its citations, not the tenant's costs, models or scores; and
# when the model fails, not the provider's own message (that is for the tenant, stored on the answer).
VISITOR_TURN = TurnPresenter(
    face="widget",
    sources=lambda event: {"citations": [rules.public_citation(c) for c in event.citations]},
    done=lambda event: {
        "conversation_id": str(event.conversation_id),
        "message_id": str(event.message_id),
        "answer": event.content,
        "outcome": event.outcome,
        "citations": [rules.public_citation(c) for c in event.citations],
    },
    provider_failure=lambda error: stream_problem(
        503, "The assistant can't answer right now. Please try again."
    ),
    # Nor the tenant's budget figures, when a budget runs out between the model calls of a turn.
    refusal=lambda error: stream_problem(
        error.status, BOT_RESTING if isinstance(error, chat_services.BudgetExhausted) else error.message
    ),
)


# --- GET /conversations/{id} ---------------------------------------------------------------------------


class PublicConversationView(PublicWidgetView):
    """The visitor's own conversation with this bot (to show it again on their next page)."""

    @extend_schema(parameters=[PUBLISHABLE_KEY], responses={200: PublicConversationOutput})
    async def get(
        self, request: HttpRequest, bot: Bot, session: VisitorSession | None, *, preview: bool, **kwargs: Any
    ) -> HttpResponseBase:
        assert session is not None
        body = await sync_to_async(_visitor_conversation)(request, bot, session, kwargs["id"])
        response = JsonResponse(body)
        response["Cache-Control"] = "no-store"
        return response


def _visitor_conversation(
    request: HttpRequest, bot: Bot, session: VisitorSession, conversation_id: str
) -> dict[str, Any]:
    _rate(
        "read",
        client_address(request),
        settings.WIDGET_READ_RATE_PER_IP,
        "Too many requests from your network",
    )
    with tenant_context(bot.tenant_id):
        conversation = chat_selectors.visitor_conversation(
            tenant=bot.tenant, bot=bot, visitor_id=session.visitor_id, conversation_id=conversation_id
        )
        messages = chat_selectors.conversation_messages(tenant=bot.tenant, conversation=conversation)
        return {
            "id": str(conversation.pk),
            "messages": [
                {
                    "id": str(message.pk),
                    "role": message.role,
                    "content": message.content,
                    "citations": [rules.public_citation(c) for c in message.citations]
                    if message.role == MessageRole.ASSISTANT and bot.show_citations
                    else [],
                    "rating": message.rating,
                    "outcome": message.outcome,
                    "created_at": message.created_at.isoformat(),
                }
                for message in messages
            ],
        }


# --- POST /messages/{id}/feedback -----------------------------------------------------------------------


class PublicFeedbackView(PublicWidgetView):
    """Thumbs up or down on an answer in the visitor's own conversation; rating again replaces it."""

    @extend_schema(
        parameters=[PUBLISHABLE_KEY], request=PublicFeedbackInput, responses={200: PublicFeedbackOutput}
    )
    async def post(
        self, request: HttpRequest, bot: Bot, session: VisitorSession | None, *, preview: bool, **kwargs: Any
    ) -> HttpResponseBase:
        assert session is not None
        data = validated(PublicFeedbackInput, json_body(request))
        message = await sync_to_async(_rate_answer)(bot, session, kwargs["id"], data)
        return JsonResponse({"id": str(message.pk), "rating": message.rating})


def _rate_answer(bot: Bot, session: VisitorSession, message_id: str, data: dict[str, Any]) -> Any:
    _rate(
        "feedback",
        f"{bot.pk}:{session.visitor_id}",
        settings.WIDGET_FEEDBACK_RATE_PER_VISITOR,
        "You are sending feedback too fast",
    )
    return chat_services.message_rate_as_visitor(
        tenant_id=bot.tenant_id,
        bot_id=bot.pk,
        visitor_id=session.visitor_id,
        message_id=message_id,
        rating=int(data["rating"]),
        comment=data.get("comment", ""),
    )


# --- /widget.js ----------------------------------------------------------------------------------------


@require_safe
def widget_script(request: HttpRequest) -> HttpResponse:
    """The loader every tenant's page includes. Its URL never changes, so it is cached briefly (five
    minutes) and revalidated by ETag; the panel it loads on first open is a hashed, immutable file."""
    asset = loader.loader()
    if asset.etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(asset.gzipped, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(asset.body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = asset.etag
    response["Cache-Control"] = "public, max-age=300, stale-while-revalidate=86400"
    response["Vary"] = "Accept-Encoding"
    response["Access-Control-Allow-Origin"] = "*"  # a public script; lets pages load it with crossorigin
    return response
