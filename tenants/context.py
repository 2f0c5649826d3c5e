"""The tenant of the current database transaction, and the one escape hatch from it.

Row-Level Security policies (``tenants.rls``) compare each row's ``tenant_id`` with the transaction
setting ``groundwork.tenant_id``. It is always set with ``set_config(..., true)``: transaction-local,
so it ends with the transaction and a pooled or reused connection never carries it into the next one.

- Requests: the base API view and the base dashboard view call :func:`activate_tenant` inside the
  request's transaction (``ATOMIC_REQUESTS``).
- Tasks, commands, scripts: ``with tenant_context(tenant_id): ...``.
- Cross-tenant work (API-key lookup, a user's own memberships, migrations, platform admin, cleanup jobs):
  ``with unscoped(reason="..."): ...`` — the only way around RLS; grep for ``unscoped(`` to audit them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from django.db import connection, transaction

TENANT_SETTING = "groundwork.tenant_id"
UNSCOPED_SETTING = "groundwork.unscoped"

logger = logging.getLogger(__name__)


class TenantContextError(RuntimeError):
    """Raised when the tenant is set where it could not hold (outside a transaction)."""


def _set_local(name: str, value: str) -> None:
    if not connection.in_atomic_block:
        # Outside a transaction set_config(..., true) would end with its own statement: the tenant
        # would silently not be set for the queries that follow.
        raise TenantContextError(f"{name} can only be set inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _get(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        row = cursor.fetchone()
    return (row[0] if row else None) or ""


def activate_tenant(tenant_id: uuid.UUID | str) -> None:
    """Scope the rest of the current transaction to one tenant."""
    _set_local(TENANT_SETTING, str(uuid.UUID(str(tenant_id))))


def active_tenant_id() -> uuid.UUID | None:
    value = _get(TENANT_SETTING)
    return uuid.UUID(value) if value else None


@contextlib.contextmanager
def tenant_context(tenant_id: uuid.UUID | str) -> Iterator[None]:
    """Run a block in a transaction scoped to ``tenant_id``; an enclosing scope is restored after it."""
    with transaction.atomic():
        previous = _get(TENANT_SETTING)
        activate_tenant(tenant_id)
        yield
        # On an exception the rollback (to this block's savepoint) undoes set_config by itself.
        _set_local(TENANT_SETTING, previous)


@contextlib.contextmanager
def unscoped(*, reason: str) -> Iterator[None]:
    """The one escape hatch from tenant isolation. Say why; every use is logged and greppable."""
    with transaction.atomic():
        previous = _get(UNSCOPED_SETTING)
        logger.debug("unscoped database access: %s", reason)
        _set_local(UNSCOPED_SETTING, "on")
        yield
        _set_local(UNSCOPED_SETTING, previous)


P = ParamSpec("P")
R = TypeVar("R")


def runs_in_actor_tenant(service: Callable[P, R]) -> Callable[P, R]:
    """Decorator for services that take ``actor``: one transaction, scoped to the actor's tenant.

    Services then behave the same from a request (where the tenant is already active), a task or a
    management command, and cannot write into any other tenant.
    """

    @functools.wraps(service)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        actor = kwargs["actor"]
        with tenant_context(actor.tenant.pk):  # type: ignore[attr-defined]
            return service(*args, **kwargs)

    return wrapper
