"""Every route that takes an object id, enumerated from the URLconf: tenant A using any of tenant B's
ids gets 404 (or 405 for a method the route lacks) and B's data is unchanged.

Routes with several ids (``/knowledge-bases/{id}/documents/{document_id}``) get B's ids in every
position, and also A's own ids with one of B's among them (A's knowledge base with B's document), which
is how a child is reached through a parent that is one's own.

Routes added by later issues are covered without touching this file; the world below must simply hold
at least one row of every tenant-owned model, which ``test_the_world_covers_every_tenant_model`` checks.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from bots import services as bot_services
from bots.chat import services as chat_services
from bots.models import RunConfiguration
from bots.regression import services as regression_services
from knowledge.models import Chunk, Document, KnowledgeBase, SourceFile
from providers import services as provider_services
from tenants import services
from tenants.context import tenant_context, unscoped
from tenants.models import AuditEvent, Role, TenantOwnedModel
from tests.clients import api_client
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db

ID_PARAMETER = re.compile(r"^(pk|id|.+_id)$")
METHODS = ["get", "post", "put", "patch", "delete"]


def route_templates() -> Iterator[tuple[str, list[str]]]:
    """Yield ('/app/team/members/{membership_id}/role/', ['membership_id']) for every pattern."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            piece = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + piece)
            elif isinstance(pattern, URLPattern):
                yield prefix + piece

    for raw in walk(get_resolver().url_patterns, "/"):
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", raw)  # regex groups (DRF routers)
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)  # path converters
        template = template.replace("^", "").replace("$", "").replace("\\Z", "")
        names = re.findall(r"{(\w+)}", template)
        if "format" in names:
            continue
        yield template, names


def id_routes() -> list[tuple[str, tuple[str, ...]]]:
    """Routes whose every parameter is an object id, with those parameters in order."""
    routes = []
    for template, names in route_templates():
        if names and all(ID_PARAMETER.match(name) for name in names):
            routes.append((template, tuple(names)))
    return sorted(set(routes))


def tenant_owned_models() -> list[type[TenantOwnedModel]]:
    return [m for m in apps.get_models() if issubclass(m, TenantOwnedModel) and not m._meta.proxy]


def build_victim() -> World:
    """Tenant B with at least one row of every tenant-owned model."""
    victim = make_world("Globex")
    victim.add_member(Role.EDITOR)
    victim.api_key()
    with tenant_context(victim.tenant.pk):
        services.invitation_create(actor=victim.actor(), email="pending@globex.test", role="viewer")
    provider_services.credential_create(
        actor=victim.actor(), provider="openai", name="OpenAI", api_key="sk-victim-0123456789"
    )
    with override_settings(ALLOW_PRIVATE_MODEL_ENDPOINTS=True):  # no DNS needed for the endpoint
        endpoint = provider_services.credential_create(
            actor=victim.actor(),
            provider="openai_compatible",
            name="Ollama",
            base_url="http://127.0.0.1:11434/v1",
        )
    own_model = provider_services.custom_model_create(
        actor=victim.actor(),
        credential_id=endpoint.pk,
        model_name="llama3.1:8b",
        display_name="Llama",
        kind="chat",
        context_window=8192,
    )
    provider_services.model_settings_update(actor=victim.actor(), enabled_models=[own_model.ref])
    provider_services.usage_record(
        tenant_id=victim.tenant.pk,
        model_ref=own_model.ref,
        provider="openai_compatible",
        operation="chat",
        input_tokens=100,
        output_tokens=10,
        cost_usd=Decimal("0.001"),
        latency_ms=50,
        time_to_first_token_ms=20,
    )
    with tenant_context(victim.tenant.pk):
        knowledge_base = KnowledgeBase.objects.create(
            tenant=victim.tenant,
            name="Manuals",
            embedding_model="local:all-MiniLM-L6-v2",
            embedding_dimensions=384,
        )
        document = Document.objects.create(
            tenant=victim.tenant, knowledge_base=knowledge_base, source_type="text", title="Returns"
        )
        upload = Document.objects.create(
            tenant=victim.tenant,
            knowledge_base=knowledge_base,
            source_type="file",
            title="Manual",
            original_filename="manual.txt",
            content_type="text",
        )
        SourceFile.objects.create(tenant=victim.tenant, document=upload, content=b"Manual.", size_bytes=7)
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
    bot = bot_services.bot_create(
        actor=victim.actor(), name="Concierge", knowledge_base_ids=[knowledge_base.pk]
    )
    start = chat_services.chat_start(
        tenant_id=victim.tenant.pk, bot_id=bot.pk, question="Can I return this?", channel="api"
    )
    answer = chat_services.chat_record_answer(
        tenant_id=victim.tenant.pk,
        conversation_id=start.conversation_id,
        record=chat_services.AnswerRecord(content="Within 30 days.", outcome="answered"),
    )
    chat_services.message_rate(actor=victim.actor(), message_id=answer.pk, rating=1)
    # A regression suite with a case made from that answer, and a finished run with its result.
    suite = regression_services.suite_create(actor=victim.actor(), bot_id=bot.pk, name="Returns")
    case = regression_services.case_from_message(
        actor=victim.actor(), suite_id=suite.pk, message_id=answer.pk
    )
    with patch.object(regression_services.runs, "_enqueue"):  # run by hand below, not by a worker
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


def all_rows(world: World) -> dict[str, str]:
    with tenant_context(world.tenant.pk):
        return {
            model._meta.label: serializers.serialize(
                "json", model.objects.for_tenant(world.tenant).order_by("pk")
            )
            for model in tenant_owned_models()
        }


def victim_ids(world: World) -> list[uuid.UUID]:
    ids = [world.tenant.pk]
    with unscoped(reason="test: collect every id tenant B owns"):
        for model in tenant_owned_models():
            ids += list(model.objects.filter(tenant=world.tenant).values_list("pk", flat=True))
    return ids


def ids_for(world: World, parameter: str) -> list[uuid.UUID]:
    """The world's ids a parameter names: ``document_id`` its documents; ``id``, ``pk`` and names that
    match no model every id it has."""
    stem = parameter.removesuffix("_id")
    for model in tenant_owned_models():
        if re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower() == stem:
            with unscoped(reason="test: collect the ids one parameter takes"):
                return list(model.objects.filter(tenant=world.tenant).values_list("pk", flat=True))
    return victim_ids(world)


def fillings(parameters: tuple[str, ...], victim: World, attacker: World) -> Iterator[dict[str, uuid.UUID]]:
    """Values for a route's id parameters, each set holding at least one of the victim's ids.

    One parameter takes every id the victim has; several take the ids of the model each names (else
    every id), so that the combinations stay few."""
    if len(parameters) == 1:
        for object_id in victim_ids(victim):
            yield {parameters[0]: object_id}
        return
    theirs = [ids_for(victim, parameter) for parameter in parameters]
    ours = [ids_for(attacker, parameter) for parameter in parameters]
    combinations = set(itertools.product(*theirs))
    for position in range(len(parameters)):
        mixed = [*ours[:position], theirs[position], *ours[position + 1 :]]
        combinations |= set(itertools.product(*mixed))
    for combination in sorted(combinations):
        yield dict(zip(parameters, combination, strict=True))


def test_the_enumeration_finds_the_id_routes() -> None:
    routes = dict(id_routes())
    # A sanity floor, so a broken walker cannot make the isolation test below vacuous.
    assert "/api/v1/members/{pk}" in routes
    assert "/app/team/members/{membership_id}/role/" in routes
    assert "/app/organisations/{tenant_id}/switch/" in routes
    assert routes["/api/v1/knowledge-bases/{id}/documents/{document_id}"] == ("id", "document_id")
    assert len(routes) >= 8


def test_the_world_covers_every_tenant_model() -> None:
    victim = build_victim()
    with unscoped(reason="test: count B's rows per model"):
        empty = [
            m._meta.label
            for m in tenant_owned_models()
            if not m.objects.filter(tenant=victim.tenant).exists()
        ]
    assert empty == [], f"build_victim() must create a row of {empty} so their routes are exercised"


def test_a_member_of_one_tenant_cannot_reach_another_tenants_objects_on_any_route() -> None:
    attacker = make_world("Acme")
    with tenant_context(attacker.tenant.pk):  # the attacker's own parents for the victim's children
        own_base = KnowledgeBase.objects.create(
            tenant=attacker.tenant,
            name="Ours",
            embedding_model="local:all-MiniLM-L6-v2",
            embedding_dimensions=384,
        )
        Document.objects.create(
            tenant=attacker.tenant, knowledge_base=own_base, source_type="text", title="Ours"
        )
    victim = build_victim()
    session = Client()
    session.force_login(attacker.owner)
    api = api_client(attacker.api_key(role=Role.ADMIN)[1])
    before = all_rows(victim)

    statuses: dict[str, set[int]] = {}
    for template, parameters in id_routes():
        client = api if template.startswith("/api/") else session
        for values in fillings(parameters, victim, attacker):
            path = template
            for parameter, object_id in values.items():
                path = path.replace("{" + parameter + "}", str(object_id))
            for method in METHODS:
                response = getattr(client, method)(
                    path,
                    {} if method == "get" else "{}",
                    **({} if method == "get" else {"content_type": "application/json"}),
                )
                statuses.setdefault(f"{method.upper()} {template}", set()).add(response.status_code)
                assert response.status_code in (404, 405), (
                    f"{method.upper()} {path} answered {response.status_code} to a member of another tenant"
                )

    assert all_rows(victim) == before
    reached = {route for route, codes in statuses.items() if 404 in codes}
    assert {template for template, _ in id_routes()} == {route.split(" ", 1)[1] for route in reached}
    with tenant_context(attacker.tenant.pk):
        assert not AuditEvent.objects.exclude(
            action__in=["tenant.created", "membership.created", "api_key.created"]
        ).exists()
