"""Each tenant's fair share of what the platform stores and runs: quotas per plan, and a cap on its
ingestion tasks in flight.

Quotas (limits from settings, per ``Tenant.plan``; a plan without a limit has none):

- **documents** and **stored bytes** are counted in PostgreSQL by the service that adds a document,
  inside its transaction, after locking the tenant's row (:func:`lock_tenant`): two uploads of one
  tenant serialise there, so concurrent uploads cannot overshoot at all, and a delete gives room back
  at once (a row count cannot drift the way a separate counter can);
- **regression runs per day** are counted the same way (the runs created since midnight UTC);
- **crawl pages per day** cannot be counted before a crawl has run, so pages are *reserved* in a Redis
  counter per tenant and UTC day when a crawl run starts — at most what is left, which bounds the
  crawl — and what it did not read is given back when its result is stored
  (``knowledge.services.pipeline_records``). A crawl whose worker died or that failed keeps its
  reservation: erring towards the platform, never past the quota.

The cap on ingestion tasks in flight (:func:`ingestion_slot`) is a Redis semaphore with expiring
holders: a task takes a slot before it starts work and gives it back after; a holder whose worker died
stops counting once a task could no longer be running, so a crash cannot leak a slot.

A refusal is ``QuotaExceeded`` (403): which quota, the figures, and how to get more.
"""

from __future__ import annotations

import datetime
import functools
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import redis
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from core.errors import GroundworkError
from tenants.models import Tenant

HOW_TO_GET_MORE = "ask us about a larger plan"


class Quota(StrEnum):
    DOCUMENTS = "documents"
    STORED_BYTES = "stored_bytes"
    CRAWL_PAGES_PER_DAY = "crawl_pages_per_day"
    REGRESSION_RUNS_PER_DAY = "regression_runs_per_day"


SETTING_NAMES = {
    Quota.DOCUMENTS: "QUOTA_DOCUMENTS",
    Quota.STORED_BYTES: "QUOTA_STORED_BYTES",
    Quota.CRAWL_PAGES_PER_DAY: "QUOTA_CRAWL_PAGES_PER_DAY",
    Quota.REGRESSION_RUNS_PER_DAY: "QUOTA_REGRESSION_RUNS_PER_DAY",
}
LABELS = {
    Quota.DOCUMENTS: "Documents",
    Quota.STORED_BYTES: "Stored sources",
    Quota.CRAWL_PAGES_PER_DAY: "Crawled pages today",
    Quota.REGRESSION_RUNS_PER_DAY: "Regression runs today",
}
DAILY = frozenset({Quota.CRAWL_PAGES_PER_DAY, Quota.REGRESSION_RUNS_PER_DAY})
# The quotas as choices (the API's field, and its enum in the schema).
QUOTA_CHOICES = [(quota.value, LABELS[quota]) for quota in Quota]


class QuotaExceeded(GroundworkError):
    """A plan's quota is used up. Not a ``PermissionDenied``: the dashboard shows it on the form that
    asked, as it does a validation error, instead of the 403 page."""

    status = 403
    title = "Quota exceeded"

    def __init__(self, message: str, *, quota: Quota) -> None:
        super().__init__(message)
        self.quota = quota


def limit(tenant: Tenant, quota: Quota) -> int | None:
    """The tenant's limit of ``quota`` under its plan; ``None`` when its plan has none."""
    limits: dict[str, int] = getattr(settings, SETTING_NAMES[quota])
    return limits.get(tenant.plan)


def lock_tenant(tenant: Tenant) -> None:
    """Lock the tenant's row until the transaction ends: the quota counts that follow, and the rows the
    caller then adds, are then one step no other request of the tenant can interleave with."""
    list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk", flat=True))


def _plan(tenant: Tenant) -> str:
    return f"the {tenant.get_plan_display()} plan"


def check_documents(*, tenant: Tenant, documents: int, stored_bytes: int, adding_bytes: int) -> None:
    """Refuse one more document of ``adding_bytes`` when the tenant, holding ``documents`` documents
    of ``stored_bytes`` (counted under :func:`lock_tenant`), would pass its plan's quotas."""
    most_documents = limit(tenant, Quota.DOCUMENTS)
    if most_documents is not None and documents + 1 > most_documents:
        raise QuotaExceeded(
            f"Your organisation has {documents:,} documents, the most {_plan(tenant)} includes "
            f"({most_documents:,}). Delete documents you no longer need, or {HOW_TO_GET_MORE}.",
            quota=Quota.DOCUMENTS,
        )
    most_bytes = limit(tenant, Quota.STORED_BYTES)
    if most_bytes is not None and stored_bytes + adding_bytes > most_bytes:
        left = max(0, most_bytes - stored_bytes)
        raise QuotaExceeded(
            f"This would store {filesizeformat(adding_bytes)} with {filesizeformat(left)} left of the "
            f"{filesizeformat(most_bytes)} of sources {_plan(tenant)} includes. Delete documents you no "
            f"longer need, or {HOW_TO_GET_MORE}.",
            quota=Quota.STORED_BYTES,
        )


def check_regression_runs(*, tenant: Tenant, started_today: int) -> None:
    """Refuse a regression run when ``started_today`` (counted under :func:`lock_tenant`) is the plan's
    daily quota."""
    most = limit(tenant, Quota.REGRESSION_RUNS_PER_DAY)
    if most is not None and started_today >= most:
        raise QuotaExceeded(
            f"Your organisation has started {started_today:,} regression runs today, the most "
            f"{_plan(tenant)} includes ({most:,} a day). Runs can start again {_resets_in()}, or "
            f"{HOW_TO_GET_MORE}.",
            quota=Quota.REGRESSION_RUNS_PER_DAY,
        )


def start_of_today() -> datetime.datetime:
    """Midnight UTC of the current day: daily quotas count from here. On ``timezone.now()``, the clock
    the rows being counted (``created_at``) are stamped with, not on ``core.clock``."""
    return timezone.now().astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _seconds_to_midnight() -> int:
    midnight = start_of_today() + datetime.timedelta(days=1)
    return max(1, math.ceil((midnight - timezone.now()).total_seconds()))


def _resets_in() -> str:
    hours, rest = divmod(_seconds_to_midnight(), 3600)
    minutes = math.ceil(rest / 60)
    if hours:
        return f"at midnight UTC (in {hours} h {minutes} min)"
    return f"at midnight UTC (in {minutes} min)"


# --- crawl pages per day: reserved in Redis ------------------------------------------------------------


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


# Take up to ARGV[2] pages of a limit of ARGV[1] in one step, so two crawls starting together cannot
# both take the last pages; the key lives a day past its own day.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if granted <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], granted)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return granted
"""
# Give back ARGV[1] pages, never below zero (a day's key may have expired meanwhile).
_RELEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = math.max(0, used - tonumber(ARGV[1]))
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], left, 'KEEPTTL') end
return left
"""


def _crawl_key(tenant_id: uuid.UUID | str, day: str) -> str:
    return f"groundwork:quota:crawl-pages:{tenant_id}:{day}"


def today() -> str:
    """The current UTC day as the crawl counters name it ("2026-12-07")."""
    return start_of_today().date().isoformat()


def crawl_pages_used(*, tenant_id: uuid.UUID | str, day: str | None = None) -> int:
    value = _client().get(_crawl_key(tenant_id, day or today()))
    return int(value) if value is not None else 0


def crawl_pages_left(tenant: Tenant) -> int | None:
    """Pages the tenant's crawls may still read today; ``None`` without a limit."""
    most = limit(tenant, Quota.CRAWL_PAGES_PER_DAY)
    if most is None:
        return None
    return max(0, most - crawl_pages_used(tenant_id=tenant.pk))


def crawl_refused_message(tenant: Tenant) -> str:
    most = limit(tenant, Quota.CRAWL_PAGES_PER_DAY) or 0
    return (
        f"Your organisation's crawls have read {most:,} pages today, the most {_plan(tenant)} includes. "
        f"Crawls can read again {_resets_in()}, or {HOW_TO_GET_MORE}."
    )


def check_crawl(tenant: Tenant) -> None:
    """Refuse a crawl when today's pages are used up (a crawl with pages left is bounded when it runs)."""
    if crawl_pages_left(tenant) == 0:
        raise QuotaExceeded(crawl_refused_message(tenant), quota=Quota.CRAWL_PAGES_PER_DAY)


def reserve_crawl_pages(*, tenant: Tenant, wanted: int) -> tuple[int, str]:
    """Reserve up to ``wanted`` of today's pages for a crawl about to run: ``(granted, day)``, granted
    0 when none is left. The day is what :func:`release_crawl_pages` gives unread pages back to."""
    day = today()
    most = limit(tenant, Quota.CRAWL_PAGES_PER_DAY)
    if most is None:
        return wanted, day
    granted = _client().eval(_RESERVE, 1, _crawl_key(tenant.pk, day), most, wanted, 2 * 86_400)
    return int(granted), day


def release_crawl_pages(*, tenant_id: uuid.UUID | str, day: str, pages: int) -> None:
    """Give back reserved pages a crawl did not read."""
    if pages > 0:
        _client().eval(_RELEASE, 1, _crawl_key(tenant_id, day), pages)


# --- ingestion tasks in flight: a Redis semaphore --------------------------------------------------------

# Drop holders past their expiry, then take a slot if fewer than ARGV[1] remain. Expiry is on Redis's own
# clock, so workers whose clocks disagree still agree on which holders are dead.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _slots_key(tenant_id: uuid.UUID | str) -> str:
    return f"groundwork:ingestion-slots:{tenant_id}"


def _slot_lifetime_ms() -> int:
    # A task cannot run longer than its hard time limit; a holder older than that (and a minute's grace)
    # belongs to a worker that died without giving its slot back.
    return (settings.KNOWLEDGE_TASK_TIME_LIMIT + 60) * 1000


@contextmanager
def ingestion_slot(tenant_id: uuid.UUID | str) -> Iterator[bool]:
    """Hold one of the tenant's ``INGESTION_IN_FLIGHT_PER_TENANT`` slots for the block; yields whether
    one was free (the caller then works, or waits off the worker and tries again)."""
    holder = uuid.uuid4().hex
    key = _slots_key(tenant_id)
    held = bool(
        _client().eval(_ACQUIRE, 1, key, settings.INGESTION_IN_FLIGHT_PER_TENANT, _slot_lifetime_ms(), holder)
    )
    try:
        yield held
    finally:
        if held:
            _client().zrem(key, holder)


def ingestion_slots_taken(tenant_id: uuid.UUID | str) -> int:
    """Slots of the tenant held now by live tasks (for the dashboard and tests)."""
    seconds, microseconds = _client().time()
    return int(_client().zcount(_slots_key(tenant_id), seconds * 1000 + microseconds // 1000, "+inf"))


# --- what the tenant sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaUsage:
    """One quota as the tenant sees it: what is used of what the plan includes."""

    quota: Quota
    used: int
    limit: int | None

    @property
    def label(self) -> str:
        return LABELS[self.quota]

    @property
    def daily(self) -> bool:
        return self.quota in DAILY

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0 if self.limit is None else 100
        return min(100, round(100 * self.used / self.limit))

    def _shown(self, value: int) -> str:
        return filesizeformat(value) if self.quota is Quota.STORED_BYTES else f"{value:,}"

    @property
    def used_shown(self) -> str:
        return self._shown(self.used)

    @property
    def limit_shown(self) -> str:
        return "no limit" if self.limit is None else self._shown(self.limit)


def usage(tenant: Tenant) -> list[QuotaUsage]:
    """Every quota of the tenant: used and limit, for the dashboard and the API."""
    # Imported here: the knowledge and bots apps build on tenants, so tenants may call their selectors
    # only when asked, never at import time.
    from bots.regression import selectors as regression_selectors
    from knowledge import selectors as knowledge_selectors

    documents, stored_bytes = knowledge_selectors.stored_sources(tenant=tenant)
    runs = regression_selectors.runs_started_since(tenant=tenant, since=start_of_today())
    used = {
        Quota.DOCUMENTS: documents,
        Quota.STORED_BYTES: stored_bytes,
        Quota.CRAWL_PAGES_PER_DAY: crawl_pages_used(tenant_id=tenant.pk),
        Quota.REGRESSION_RUNS_PER_DAY: runs,
    }
    return [QuotaUsage(quota=quota, used=used[quota], limit=limit(tenant, quota)) for quota in Quota]
