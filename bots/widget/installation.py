"""Whether a bot's widget has been seen on a real website: the last time and the page's origin.

Recorded by the public config request (``bots.widget.api.PublicConfigView``) that the loader makes on
every page load, when it comes from an allowed origin without a preview token — a visitor's page, not
the dashboard's preview or test page. Kept in Redis (Django's cache), not in the database: a page load must
not cost a database write. Even the Redis write is thinned to one per bot per ``RECORD_EVERY_SECONDS``
(``cache.add``, a ``SET NX`` guard), so a busy site costs one cheap round trip per load and a write a
minute.

The record outlives the guard by far (``KEEP_SECONDS``); if Redis loses it (a flush, a lost volume), the
Install page says "not detected yet" again until the next visitor's page load records it anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache

from core import clock

RECORD_EVERY_SECONDS = 60
KEEP_SECONDS = 400 * 24 * 3600  # well over a year of quiet before a site counts as not installed


@dataclass(frozen=True)
class Installation:
    """The last page load of the widget on a website: when, and the page's origin."""

    seen_at: datetime
    origin: str


def _seen_key(publishable_key: str) -> str:
    # Keyed by the publishable key, not the bot: after a new key, pages with the old snippet stop
    # answering, and the Install page rightly says "not detected yet" until the new snippet loads.
    return f"widget-seen:{publishable_key}"


def record_widget_seen(*, publishable_key: str, origin: str) -> bool:
    """Note that the widget with ``publishable_key`` loaded on a page at ``origin``, at most once a
    minute per key; True if this call wrote the record."""
    if not cache.add(f"{_seen_key(publishable_key)}:recent", 1, timeout=RECORD_EVERY_SECONDS):
        return False
    cache.set(
        _seen_key(publishable_key), {"at": clock.epoch_seconds(), "origin": origin}, timeout=KEEP_SECONDS
    )
    return True


def widget_installation(*, publishable_key: str) -> Installation | None:
    """The last recorded page load of the bot's widget on a website, or None if it was never seen."""
    record = cache.get(_seen_key(publishable_key))
    if record is None:
        return None
    try:
        return Installation(
            seen_at=datetime.fromtimestamp(float(record["at"]), tz=UTC), origin=str(record["origin"])
        )
    except (ValueError, KeyError, TypeError):
        return None  # a record this version cannot read counts as never seen; the next load rewrites it


def any_installed(*, publishable_keys: list[str]) -> bool:
    """Whether the widget of any of these keys has been seen on a website (one Redis round trip)."""
    return bool(publishable_keys) and bool(cache.get_many([_seen_key(key) for key in publishable_keys]))
