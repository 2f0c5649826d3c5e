"""Row-Level Security is the backstop under every query: prove it holds for every tenant table."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.utils import ProgrammingError

from tenants.context import TenantContextError, activate_tenant, active_tenant_id, tenant_context, unscoped
from tenants.models import ApiKey, Membership, TenantOwnedModel
from tests.tenants.factories import make_world

pytestmark = pytest.mark.django_db


def tenant_tables() -> list[str]:
    tables = [
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel) and not model._meta.proxy and model._meta.managed
    ]
    assert tables, "no tenant-owned models found: the check below would prove nothing"
    return sorted(tables)


def test_runtime_role_is_neither_superuser_nor_bypassrls() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        is_superuser, bypasses_rls = cursor.fetchone()
    assert (is_superuser, bypasses_rls) == (False, False)


def test_every_tenant_table_has_rls_enabled_forced_and_a_policy() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname)
            FROM pg_class c WHERE c.relname = ANY(%s)
            """,
            [tenant_tables()],
        )
        rows = {name: (enabled, forced, policies) for name, enabled, forced, policies in cursor.fetchall()}
    assert set(rows) == set(tenant_tables())
    for table, (enabled, forced, policies) in rows.items():
        assert enabled and forced and policies >= 1, (
            f"{table}: RLS enabled={enabled} forced={forced} policies={policies}"
        )


def test_with_no_tenant_set_every_tenant_table_reads_empty() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    for world in (acme, globex):
        world.api_key()
        world.add_member("viewer")
    assert active_tenant_id() is None
    with connection.cursor() as cursor:
        for table in tenant_tables():
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - table names come from models
            assert cursor.fetchone()[0] == 0, table
    with unscoped(reason="test: the rows do exist"):
        assert Membership.objects.count() == 4
        assert ApiKey.objects.count() == 2


def test_a_tenant_sees_only_its_own_rows_even_without_a_filter() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    with tenant_context(acme.tenant.pk):
        owners = list(Membership.objects.values_list("user__email", flat=True))
    assert owners == [acme.owner.email]
    with tenant_context(globex.tenant.pk):
        assert list(Membership.objects.values_list("tenant_id", flat=True)) == [globex.tenant.pk]


def test_a_row_for_another_tenant_cannot_be_written_in_this_tenants_context() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    stranger = acme.add_member("viewer").user
    with pytest.raises(ProgrammingError, match="row-level security"), tenant_context(acme.tenant.pk):
        Membership.objects.create(tenant=globex.tenant, user=stranger, role="viewer")


def test_another_tenants_rows_cannot_be_updated_or_deleted_even_by_id() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    globex_membership_id = globex.add_member("viewer").pk
    with tenant_context(acme.tenant.pk):
        assert Membership.objects.filter(pk=globex_membership_id).update(role="admin") == 0
        assert Membership.objects.filter(pk=globex_membership_id).delete()[0] == 0
    with tenant_context(globex.tenant.pk):
        assert Membership.objects.get(pk=globex_membership_id).role == "viewer"


@pytest.mark.django_db(transaction=True)
def test_the_tenant_setting_cannot_be_set_outside_a_transaction() -> None:
    acme = make_world("Acme")
    assert not connection.in_atomic_block
    with pytest.raises(TenantContextError):
        activate_tenant(acme.tenant.pk)


@pytest.mark.django_db(transaction=True)
def test_the_tenant_setting_ends_with_its_transaction() -> None:
    acme = make_world("Acme")
    with transaction.atomic():
        activate_tenant(acme.tenant.pk)
        assert Membership.objects.count() == 1
    # The same connection, a new transaction: nothing carried over.
    assert active_tenant_id() is None
    assert Membership.objects.count() == 0


def test_nested_tenant_contexts_restore_the_outer_tenant() -> None:
    acme, globex = make_world("Acme"), make_world("Globex")
    with tenant_context(acme.tenant.pk):
        with tenant_context(globex.tenant.pk):
            assert active_tenant_id() == globex.tenant.pk
        assert active_tenant_id() == acme.tenant.pk
    assert active_tenant_id() is None


def test_unique_constraints_still_hold_across_the_policy() -> None:
    acme = make_world("Acme")
    with pytest.raises(IntegrityError), tenant_context(acme.tenant.pk):
        Membership.objects.create(tenant=acme.tenant, user=acme.owner, role="viewer")
