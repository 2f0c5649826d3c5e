"""Row-Level Security for tenant-owned tables: the database's own guarantee of isolation.

Every app's migration that creates a ``TenantOwnedModel`` table adds
``EnableTenantRowLevelSecurity("<table>")`` after it. The policy lets a row be seen or written only
when its ``tenant_id`` equals the transaction's ``groundwork.tenant_id`` (``tenants.context``), or inside
the explicit ``unscoped()`` escape hatch. RLS is FORCED, so it binds the tables' owner too — the
application role owns them and is neither superuser nor BYPASSRLS.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from tenants.context import TENANT_SETTING, UNSCOPED_SETTING

POLICY_NAME = "tenant_isolation"

_ROW_IS_VISIBLE = (
    f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid"
    f" OR current_setting('{UNSCOPED_SETTING}', true) = 'on'"
)


def enable_sql(table: str) -> str:
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;'
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({_ROW_IS_VISIBLE}) WITH CHECK ({_ROW_IS_VISIBLE});'
    )


def disable_sql(table: str) -> str:
    return (
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}";'
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;'
    )


class EnableTenantRowLevelSecurity(migrations.RunSQL):
    """Migration operation: enable and force RLS with the tenant policy on one table."""

    def __init__(self, table: str, **kwargs: Any) -> None:
        self.table = table
        super().__init__(sql=enable_sql(table), reverse_sql=disable_sql(table), **kwargs)

    def describe(self) -> str:
        return f"Enable and force row-level security on {self.table}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.table], {})
