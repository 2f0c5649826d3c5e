"""The widget's rules: which pages may use a bot, who a visitor is, and what their tokens grant.

A bot's publishable key sits in the source of its tenant's web pages, so it identifies the bot and
grants nothing by itself. What a browser on a page may do is decided by three things, all checked on
the server for every public request (``bots.widget.api``):

- the page's origin (the ``Origin`` header) against the bot's allow-list — deny by default, any origin
  only when the tenant chose that explicitly. Browsers cannot lie about it; other clients can, so the
  origin is what keeps other websites from embedding a bot, not an authentication: rate limits apply
  to everyone, and what a token grants is one visitor's conversations with one bot;
- a visitor session token, signed by Groundwork for that one bot and visitor, short-lived;
- for the tenant's own preview (the dashboard's Install page and test page), a preview token signed for
  the bot and the signed-in member who opened the page, accepted only from Groundwork's own origin,
  which also lets a draft bot answer there. It lives ``WIDGET_PREVIEW_SECONDS`` (15 minutes; the pages
  fetch a fresh one before it ends), only while its user is still an active member of the bot's
  organisation, and dies when that user signs out: it carries the user's preview generation, a random
  value kept in Redis that signing out deletes (``bots.widget.receivers``). The widget's requests carry
  no cookies (a customer's page must never ride a Groundwork sign-in), so the token cannot be tied to
  the browser's session cookie itself; the generation is the session's stand-in on the server.

Identified visitors: when a bot has an identity secret, the tenant's server signs a signed-in user's id
with it (hex HMAC-SHA256), and the widget passes both along. Only a correct signature makes a visitor
``user:<id>``; anonymous visitor ids are minted here (``v_`` + 128 random bits) and can never take that
form, so a signed-in user's conversations cannot be claimed by anyone else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from bots.models import Bot, BotStatus
from core import clock
from core.errors import GroundworkError
from providers import crypto
from tenants import selectors as tenant_selectors
from tenants.context import tenant_context
from tenants.models import User

SESSION_SALT = "groundwork.widget.session"
PREVIEW_SALT = "groundwork.widget.preview"
ANONYMOUS_VISITOR = re.compile(r"v_[A-Za-z0-9_-]{22}")
IDENTIFIED_PREFIX = "user:"
MAX_USER_ID_LENGTH = 64


class WidgetRefused(GroundworkError):
    """A public request the widget's rules refuse (status 401, 403 or 404, set per case)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class VisitorSession:
    bot_id: uuid.UUID
    tenant_id: uuid.UUID
    visitor_id: str
    preview: bool


# --- origins ------------------------------------------------------------------------------------------


def origin_allowed(bot: Bot, origin: str | None, *, preview: bool, own_origin: str) -> bool:
    """May a page at ``origin`` use this bot? ``preview``: a valid preview token came with the request."""
    if preview and (origin is None or origin == own_origin):
        return True
    if origin is None or origin == "null":  # sandboxed frames and file:// pages have no origin to allow
        return False
    return bot.allow_any_origin or origin in bot.allowed_origins


def check_published(bot: Bot, *, preview: bool) -> None:
    if bot.status != BotStatus.PUBLISHED and not preview:
        raise WidgetRefused(403, f"{bot.name} is not published yet.")


# --- tokens -------------------------------------------------------------------------------------------


def _preview_generation_key(user_id: object) -> str:
    return f"widget:preview-generation:{user_id}"


def preview_token(bot: Bot, *, user: User) -> str:
    """For the tenant's own pages: the widget of this bot, even as a draft, from Groundwork's origin, for
    ``user`` (the signed-in member viewing the page) until they sign out or 15 minutes pass."""
    # One generation per user, made on first need and kept until sign-out deletes it. Were Redis to lose
    # it, every outstanding token fails closed (its generation no longer matches) and pages fetch anew.
    generation = cache.get_or_set(
        _preview_generation_key(user.pk), lambda: secrets.token_urlsafe(16), timeout=None
    )
    payload = {"b": str(bot.pk), "u": str(user.pk), "g": generation}
    return clock.TimestampSigner(salt=PREVIEW_SALT).sign_object(payload)


def revoke_previews(*, user_id: object) -> None:
    """Every preview token of this user stops working (signing out calls this)."""
    cache.delete(_preview_generation_key(user_id))


def is_preview(bot: Bot, token: str | None) -> bool:
    """A valid preview token of this bot: signed, under 15 minutes old, its user's generation still
    current (not signed out since) and its user still an active member of the bot's organisation."""
    if not token:
        return False
    try:
        payload = clock.TimestampSigner(salt=PREVIEW_SALT).unsign_object(
            token, max_age=settings.WIDGET_PREVIEW_SECONDS
        )
    except signing.BadSignature:
        return False
    if not isinstance(payload, dict) or payload.get("b") != str(bot.pk) or not payload.get("g"):
        return False
    user_id = str(payload.get("u"))
    current = cache.get(_preview_generation_key(user_id))
    if current is None or not hmac.compare_digest(str(current), str(payload["g"])):
        return False
    return _still_a_member(bot, user_id)


def _still_a_member(bot: Bot, user_id: str) -> bool:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    with tenant_context(bot.tenant_id):
        return tenant_selectors.membership_of_user(tenant_id=bot.tenant_id, user=user) is not None


def session_token(session: VisitorSession) -> str:
    payload = {
        "b": str(session.bot_id),
        "t": str(session.tenant_id),
        "v": session.visitor_id,
        "p": session.preview,
    }
    return clock.TimestampSigner(salt=SESSION_SALT).sign_object(payload)


def session_from_token(bot: Bot, token: str | None) -> VisitorSession:
    """The session a token names, for this bot only: 401 when missing or expired, 403 for another bot."""
    if not token:
        raise WidgetRefused(401, "Start a chat session first.")
    try:
        payload = clock.TimestampSigner(salt=SESSION_SALT).unsign_object(
            token, max_age=settings.WIDGET_SESSION_SECONDS
        )
    except signing.SignatureExpired:
        raise WidgetRefused(401, "Your chat session has expired; start a new one.") from None
    except signing.BadSignature:
        raise WidgetRefused(401, "That chat session is not valid.") from None
    if payload.get("b") != str(bot.pk):
        raise WidgetRefused(403, "That chat session belongs to another bot.")
    return VisitorSession(
        bot_id=bot.pk, tenant_id=bot.tenant_id, visitor_id=str(payload["v"]), preview=bool(payload["p"])
    )


# --- visitors -----------------------------------------------------------------------------------------


def identity_hash(secret: str, user_id: str) -> str:
    """What the tenant's server computes for a signed-in user (documented on the Install page)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def visitor_for(
    bot: Bot, *, visitor_id: str = "", user_id: str = "", user_hash: str = ""
) -> tuple[str, bool]:
    """The visitor id a new session carries, and whether it is a verified user."""
    if user_id or user_hash:
        if not bot.identity_secret:
            raise WidgetRefused(400, "Identity verification is not set up for this bot.")
        if not user_id or len(user_id) > MAX_USER_ID_LENGTH or not user_hash:
            raise WidgetRefused(400, f"Send user_id (up to {MAX_USER_ID_LENGTH} characters) and user_hash.")
        expected = identity_hash(crypto.decrypt(bot.identity_secret), user_id)
        if not hmac.compare_digest(expected, user_hash.strip().lower()):
            raise WidgetRefused(403, "The user's identity could not be verified.")
        return IDENTIFIED_PREFIX + user_id, True
    if visitor_id and ANONYMOUS_VISITOR.fullmatch(visitor_id):
        return visitor_id, False  # a returning anonymous visitor: only they know this random id
    return "v_" + secrets.token_urlsafe(16), False


def public_citation(citation: dict[str, object]) -> dict[str, object]:
    """What a visitor sees of a citation: no chunk ids or scores."""
    return {
        name: citation.get(name)
        for name in ("number", "document_id", "title", "source", "page_number", "anchor", "snippet")
    }
