"""Fixtures of the security tests. The URLconf as they walk it: tests/security/routes.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.chat import services as chat_services
from bots.models import RunConfiguration
from bots.regression import services as regression_services
from knowledge import services as knowledge_services
from knowledge.models import Chunk
from providers import services as provider_services
from tenants import services
from tenants.context import tenant_context
from tenants.models import Role
from tests.bots.factories import make_bot, record_turn
from tests.bots.regression.factories import make_suite
from tests.bots.regression.helpers import enqueue_to
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.providers.factories import add_credential, enable_models, endpoint_credential, own_model
from tests.tenants.factories import World, make_world


@pytest.fixture
def victim(db: None) -> World:
    """Tenant B ("Globex") with at least one row of every tenant-owned model, each made as the product
    makes it (``test_the_world_covers_every_tenant_model`` checks the "every")."""
    victim = make_world("Globex")
    victim.add_member(Role.EDITOR)
    victim.api_key()
    with tenant_context(victim.tenant.pk):
        services.invitation_create(actor=victim.actor(), email="pending@globex.test", role="viewer")
    add_credential(victim, "openai", "sk-victim-0123456789", name="OpenAI")
    model = own_model(victim, endpoint_credential(victim))
    enable_models(victim, model.ref)
    provider_services.usage_record(
        tenant_id=victim.tenant.pk,
        model_ref=model.ref,
        provider="openai_compatible",
        operation="chat",
        input_tokens=100,
        output_tokens=10,
        cost_usd=Decimal("0.001"),
        latency_ms=50,
        time_to_first_token_ms=20,
    )
    # A knowledge base with a pasted text, an uploaded file and a passage (queued documents: no worker
    # sees them; the passage is written directly, as the pipeline would store it).
    knowledge_base = make_knowledge_base(victim, "Manuals")
    document = add_text(victim, knowledge_base, "Returns are accepted within 30 days.", title="Returns")
    knowledge_services.document_upload(
        actor=victim.actor(), knowledge_base_id=knowledge_base.pk, filename="manual.txt", content=b"Manual."
    )
    with tenant_context(victim.tenant.pk):
        Chunk.objects.create(
            tenant=victim.tenant,
            knowledge_base=knowledge_base,
            document=document,
            index_version=1,
            document_version=1,
            position=0,
            text="Returns are accepted within 30 days.",
            token_count=8,
            embedding_384=[0.05] * 384,
        )
    # A bot answering from that knowledge base, with a conversation of a question and a rated answer.
    bot = make_bot(victim, "Concierge", knowledge_base_ids=[knowledge_base.pk])
    _, answer = record_turn(victim, bot, "Can I return this?", "Within 30 days.")
    chat_services.message_rate(actor=victim.actor(), message_id=answer.pk, rating=1)
    # A regression suite with a case made from that answer, and a finished run with its result.
    suite = make_suite(victim, bot, "Returns")
    case = regression_services.case_from_message(
        actor=victim.actor(), suite_id=suite.pk, message_id=answer.pk
    )
    with enqueue_to(None):  # run by hand below, not by a worker
        run = regression_services.run_start(actor=victim.actor(), suite_id=suite.pk)
    with tenant_context(victim.tenant.pk):
        configuration = RunConfiguration.objects.get(run=run)
    regression_services.run_record_result(
        tenant_id=victim.tenant.pk,
        run_id=run.pk,
        configuration_id=configuration.pk,
        case_id=case.pk,
        question=case.question,
        answer="Within 30 days.",
        passed=True,
    )
    regression_services.run_finish(tenant_id=victim.tenant.pk, run_id=run.pk)
    return victim
