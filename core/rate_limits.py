"""Rate limits counted atomically in Redis, shared by every web process (chat, widget, accounts).

Fixed windows: a counter per (scope, subject, window) is incremented and given its expiry in one
MULTI/EXEC transaction, so N concurrent requests against a limit of L see exactly L successes whichever
web process serves them. Fixed windows allow up to twice the rate across a window boundary; for
protecting a budget and a provider account from a flood that is enough, and each check is one round
trip.

Windows are counted on ``core.clock``, so a test moves time forward instead of waiting for one to close.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import redis
from django.conf import settings

from core import clock
from core.errors import RateLimited

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "20/minute" → Rate(20, 60)."""
        count, _, period = text.partition("/")
        return cls(int(count), _PERIODS[period.strip()])


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def hit(scope: str, subject: str, rate: Rate) -> int:
    """Count one request of ``subject`` in ``scope``; returns 0 if allowed, else seconds to wait."""
    now = clock.epoch_seconds()
    window = int(now // rate.seconds)
    key = f"groundwork:rate:{scope}:{subject}:{window}"
    with _client().pipeline(transaction=True) as pipeline:
        pipeline.incr(key)
        pipeline.expire(key, rate.seconds + 1)
        count, _ = pipeline.execute()
    if int(count) <= rate.count:
        return 0
    return max(1, rate.seconds - int(now) % rate.seconds)


def enforce(scope: str, subject: str, rate: str, message: str) -> None:
    """Count one request against ``rate`` ("20/minute"); RateLimited, saying ``message`` and how long to
    wait, once it is past."""
    wait = hit(scope, subject, Rate.parse(rate))
    if wait:
        raise RateLimited(f"{message}; try again in {wait} seconds.", retry_after=wait)
