"""The chat's rate limits: per bot, per visitor, per client address, and per bot and client address
(counted by ``core.rate_limits``).

A visitor id is whatever session the widget minted, and minting one is cheap: the per-visitor limit alone
would start afresh with every new session. The per-bot-and-address count holds whatever sessions an
address mints, and the address is ``core.client_address``'s (a forged ``X-Forwarded-For`` does not
change it).
"""

from __future__ import annotations

from django.conf import settings

from core.rate_limits import enforce


def check_chat_rates(*, bot_id: str, visitor: str = "", ip: str = "") -> None:
    """Refuse a chat request past any of its limits: per bot, per visitor, per client address, per bot and
    client address."""
    checks = [("bot", bot_id, settings.CHAT_RATE_PER_BOT, "This bot is receiving too many questions")]
    if visitor:
        checks.append(
            ("visitor", f"{bot_id}:{visitor}", settings.CHAT_RATE_PER_VISITOR, "You are asking too fast")
        )
    if ip:
        checks.append(
            ("bot-address", f"{bot_id}:{ip}", settings.CHAT_RATE_PER_BOT_ADDRESS, "You are asking too fast")
        )
        checks.append(("ip", ip, settings.CHAT_RATE_PER_IP, "Too many questions from your network"))
    for scope, subject, rate, message in checks:
        enforce(f"chat:{scope}", subject, rate, message)
