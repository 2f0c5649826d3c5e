"""Spend that concurrent model calls cannot push past a budget: a reservation before each call, settled
after it.

Counting spend after the fact lets fifty turns that start together all see the same "budget left" and
all spend it. So before a call the gateway *reserves* the most the call can cost (its prompt and its
longest answer, priced from the catalog) against every budget it spends from (the tenant's month, the
bot's day, the tenant's share of the platform's key), and the call is refused with
:class:`BudgetExhausted` when it does not fit beside what is already recorded in the database and what
other calls hold. After the call its usage row (the actual cost) is written and the reservation released.

Why a lock as well as a Lua script: the script makes "purge the expired, sum what is held, check, hold"
one atomic step across every ledger, but the recorded spend it is checked against comes from the
database. A call that settles writes its row and then releases its hold; another process that had read
the spend just before that row was committed, and checks just after the hold was released, would count
that call nowhere. One short Redis lock per tenant around "read spend, reserve" and around "write row,
release" closes that gap; each is a few milliseconds and never spans a model call.

Reservations expire (``BUDGET_RESERVATION_SECONDS``, on ``core.clock``) so a crashed process cannot hold
a budget forever; the expiry must outlast the longest model call.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import redis
import redis.lock
from django.conf import settings
from django.utils import timezone

from core import clock
from core.errors import GroundworkError, RateLimited
from providers import selectors
from providers.models import Provider
from tenants.models import Tenant

# Ledger amounts are whole nano-dollars in Redis: exact sums (usage costs have 8 decimals, so a
# cost is rounded up to the next 1e-9 at most) and far below 2**53 for any real budget.
NANO = Decimal("0.000000001")
LOCK_SECONDS = 30  # the longest a crashed holder can block others; the work inside takes milliseconds
LOCK_WAIT_SECONDS = 10

T = TypeVar("T")


class BudgetExhausted(GroundworkError):
    status = 429
    title = "Budget exhausted"


@dataclass(frozen=True)
class Budget:
    """One cap a model call spends from.

    ``ledger`` names the cap and its period ("tenant-month:<id>:2026-12"); ``spent_usd`` reads what the
    database has recorded against it in that period (called under the lock, inside the tenant's
    context); ``refusal`` is the message when a call does not fit.
    """

    ledger: str
    limit_usd: Decimal
    spent_usd: Callable[[], Decimal] = field(compare=False)
    refusal: str


@dataclass(frozen=True)
class Reservation:
    """What one call holds until it is settled."""

    reservation_id: str
    scope: str
    ledgers: tuple[str, ...]
    amount_usd: Decimal


# KEYS: for each ledger, its sorted set (reservation id → expiry) then its hash (reservation id → amount).
# ARGV: now, expiry, reservation id, amount, key lifetime, then each ledger's room (limit - recorded spend).
# Returns 0 when held, else the (1-based) number of the first ledger it does not fit in.
_RESERVE = """
local now, expires, id, amount, lifetime = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local ledgers = #KEYS / 2
for i = 1, ledgers do
  local expiring, amounts = KEYS[2 * i - 1], KEYS[2 * i]
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', expiring, '-inf', now)) do
    redis.call('HDEL', amounts, gone)
  end
  redis.call('ZREMRANGEBYSCORE', expiring, '-inf', now)
  local held = 0
  for _, value in ipairs(redis.call('HVALS', amounts)) do held = held + tonumber(value) end
  if held + amount > tonumber(ARGV[5 + i]) then return i end
end
for i = 1, ledgers do
  local expiring, amounts = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZADD', expiring, expires, id)
  redis.call('HSET', amounts, id, amount)
  redis.call('EXPIRE', expiring, lifetime)
  redis.call('EXPIRE', amounts, lifetime)
end
return 0
"""

# KEYS as above; ARGV: now. Returns what the first ledger's live reservations hold.
_HELD = """
local now = tonumber(ARGV[1])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = 0
for _, value in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(value) end
return held
"""


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _keys(ledger: str) -> list[str]:
    return [f"groundwork:budget:{ledger}:expiring", f"groundwork:budget:{ledger}:amounts"]


def _nano(amount: Decimal) -> int:
    return int((amount / NANO).to_integral_value(rounding="ROUND_CEILING"))


def _lock(scope: str) -> redis.lock.Lock:
    return _client().lock(
        f"groundwork:budget-lock:{scope}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS
    )


def _busy() -> RateLimited:
    return RateLimited(
        "Too many answers are being prepared at once; try again in a few seconds.", retry_after=2
    )


def reserve(*, scope: str, budgets: Sequence[Budget], amount_usd: Decimal) -> Reservation | None:
    """Hold ``amount_usd`` in every one of ``budgets`` at once, or raise :class:`BudgetExhausted` with
    the first budget it does not fit in. ``scope`` (the tenant) names the lock. ``None``: nothing to hold
    (no budget, or a call that costs nothing)."""
    if not budgets or amount_usd <= 0:
        return None
    reservation_id = secrets.token_hex(12)
    now = clock.epoch_seconds()
    lifetime = int(settings.BUDGET_RESERVATION_SECONDS)
    lock = _lock(scope)
    if not lock.acquire():
        raise _busy()
    try:
        rooms = [_nano(budget.limit_usd - budget.spent_usd()) for budget in budgets]
        refused = int(
            _client().eval(
                _RESERVE,
                2 * len(budgets),
                *[key for budget in budgets for key in _keys(budget.ledger)],
                repr(now),
                repr(now + lifetime),
                reservation_id,
                _nano(amount_usd),
                lifetime + 60,
                *rooms,
            )
        )
    finally:
        lock.release()
    if refused:
        raise BudgetExhausted(budgets[refused - 1].refusal)
    return Reservation(
        reservation_id=reservation_id,
        scope=scope,
        ledgers=tuple(budget.ledger for budget in budgets),
        amount_usd=amount_usd,
    )


def settle(reservation: Reservation | None, record: Callable[[], T]) -> T:
    """Run ``record`` (writing the call's usage row, its actual cost) and release the reservation, under
    the scope's lock: no reservation can read the spend between the two. Released even if ``record``
    fails (the caller logs the lost row)."""
    if reservation is None:
        return record()
    lock = _lock(reservation.scope)
    acquired = lock.acquire()
    try:
        return record()
    finally:
        _release(reservation)
        if acquired:
            lock.release()


def _release(reservation: Reservation) -> None:
    with _client().pipeline(transaction=True) as pipeline:
        for ledger in reservation.ledgers:
            expiring, amounts = _keys(ledger)
            pipeline.zrem(expiring, reservation.reservation_id)
            pipeline.hdel(amounts, reservation.reservation_id)
        pipeline.execute()


def held_usd(ledger: str) -> Decimal:
    """What live reservations hold in ``ledger`` now (answers being written)."""
    held = _client().eval(_HELD, 2, *_keys(ledger), repr(clock.epoch_seconds()))
    return Decimal(int(held)) * NANO


def check(budgets: Sequence[Budget]) -> None:
    """Refuse at once when a budget has no room left at all (recorded spend plus what calls hold): the
    cheap check before a turn is admitted, so a spent budget refuses before anything is stored."""
    for budget in budgets:
        if budget.spent_usd() + held_usd(budget.ledger) >= budget.limit_usd:
            raise BudgetExhausted(budget.refusal)


# --- the budgets of the providers app -----------------------------------------------------------------


def _month_start() -> datetime:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def tenant_month_budget(*, tenant: Tenant) -> Budget | None:
    """The organisation's monthly budget (all bots, regression runs, every model), if it has one."""
    limit = selectors.model_settings(tenant=tenant).monthly_budget_usd
    if limit is None:
        return None
    return Budget(
        ledger=f"tenant-month:{tenant.pk}:{timezone.now():%Y-%m}",
        limit_usd=limit,
        spent_usd=functools.partial(selectors.spend_this_month, tenant=tenant),
        refusal=(
            f"Your organisation has used its monthly budget of ${limit:,.2f}; raise it on the Usage page."
        ),
    )


def platform_key_budget(*, tenant: Tenant, provider: str) -> Budget | None:
    """The tenant's share of the platform's own key for ``provider`` this month
    (``PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD``): the platform's account is shared by every tenant on
    an included plan, so one of them must not be able to spend it for all."""
    limit = settings.PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD
    if limit is None:
        return None
    label = Provider(provider).label
    return Budget(
        ledger=f"platform-key:{provider}:{tenant.pk}:{timezone.now():%Y-%m}",
        limit_usd=Decimal(limit),
        # The tenant's spend on this provider this month: while it has no key of its own every such call
        # went through the platform's key (spend from a key it has since removed counts too, erring safe).
        spent_usd=functools.partial(
            selectors.spend_since, tenant=tenant, since=_month_start(), provider=provider
        ),
        refusal=(
            f"Your organisation has used the ${Decimal(limit):,.2f} of Groundwork's shared {label} access "
            f"included this month; add your own {label} key in Models to keep going."
        ),
    )
