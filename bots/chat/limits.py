"""The chat's rate limits: per bot, per visitor, per client address (counted by ``core.rate_limits``)."""

from __future__ import annotations

from django.conf import settings

from core.rate_limits import enforce


def check_chat_rates(*, bot_id: str, visitor: str = "", ip: str = "") -> None:
    """Refuse a chat request past any of its limits: per bot, per visitor, per client address."""
    checks = [("bot", bot_id, settings.CHAT_RATE_PER_BOT, "This bot is receiving too many questions")]
    if visitor:
        checks.append(
            ("visitor", f"{bot_id}:{visitor}", settings.CHAT_RATE_PER_VISITOR, "You are asking too fast")
        )
    if ip:
        checks.append(("ip", ip, settings.CHAT_RATE_PER_IP, "Too many questions from your network"))
    for scope, subject, rate, message in checks:
        enforce(f"chat:{scope}", subject, rate, message)
