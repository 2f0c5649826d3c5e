"""Every change to a suite's cases is in the audit log, as a sentence people can read."""

from __future__ import annotations

import pytest

from bots.regression import services
from tenants.audit import audit_entries
from tenants.context import tenant_context
from tenants.models import AuditEvent
from tests.bots.factories import make_bot
from tests.bots.regression.factories import make_suite
from tests.tenants.factories import make_world


@pytest.mark.django_db
def test_adding_changing_and_deleting_a_case_is_audited() -> None:
    world = make_world()
    suite = make_suite(world, make_bot(world), "Refunds")

    case = services.case_create(actor=world.actor(), suite_id=suite.pk, question="How long do refunds take?")
    services.case_update(actor=world.actor(), case_id=case.pk, expected_facts=["14 days"])
    services.case_delete(actor=world.actor(), case_id=case.pk)

    with tenant_context(world.tenant.pk):
        events = list(AuditEvent.objects.filter(action__startswith="regression_case.").order_by("created_at"))
    assert [(event.action, event.target_id) for event in events] == [
        ("regression_case.created", str(case.pk)),
        ("regression_case.updated", str(case.pk)),
        ("regression_case.deleted", str(case.pk)),
    ]
    assert events[1].changes == {"fields": ["expected_facts"]}
    with tenant_context(world.tenant.pk):
        entries = audit_entries(tenant=world.tenant, events=events)
    assert [str(entry.sentence_html) for entry in entries] == [
        "added a case to the regression suite <strong>Refunds</strong>",
        "changed the regression case <strong>How long do refunds take?</strong>",
        "deleted the regression case <strong>How long do refunds take?</strong>",
    ]
