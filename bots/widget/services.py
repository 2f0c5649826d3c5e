"""Writes of the widget's identity verification: the bot's identity secret (rotated, cleared) and its
re-encryption after a key rotation."""

from __future__ import annotations

import secrets
import uuid

from bots.models import (
    Bot,
)
from bots.services import bot_for_update
from providers import crypto
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, unscoped
from tenants.models import Role
from tenants.services import audit


@runs_in_actor_tenant
def bot_rotate_identity_secret(*, actor: Actor, bot_id: uuid.UUID | str) -> str:
    """A new identity-verification secret, returned to be shown once; stored encrypted.

    Turning it on (or rotating it) makes the tenant's server sign its users' ids with the new secret:
    hashes made with the previous one stop verifying at once.
    """
    actor.require(Role.ADMIN, "manage identity verification")
    bot = bot_for_update(actor.tenant, bot_id)
    secret = "gw_ivs_" + secrets.token_urlsafe(32)
    bot.identity_secret = crypto.encrypt(secret)
    bot.save(update_fields=["identity_secret", "updated_at"])
    audit(actor, action="bot.identity_secret_rotated", target=bot)
    return secret


@runs_in_actor_tenant
def bot_clear_identity_secret(*, actor: Actor, bot_id: uuid.UUID | str) -> Bot:
    """Identity verification off: every widget visitor is anonymous again."""
    actor.require(Role.ADMIN, "manage identity verification")
    bot = bot_for_update(actor.tenant, bot_id)
    bot.identity_secret = ""
    bot.save(update_fields=["identity_secret", "updated_at"])
    audit(actor, action="bot.identity_secret_cleared", target=bot)
    return bot


def reencrypt_identity_secrets() -> int:
    """Re-encrypt every bot's identity secret under the current primary key (after a key rotation)."""
    with unscoped(reason="platform key rotation re-encrypts every tenant's identity secrets"):
        return crypto.reencrypt_column(Bot.objects.all(), "identity_secret")
