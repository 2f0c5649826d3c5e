"""Every route that takes an object id, enumerated from the URLconf: tenant A using any of tenant B's
ids gets 404 (or 405 for a method the route lacks) and B's data is unchanged.

Routes with several ids (``/knowledge-bases/{id}/documents/{document_id}``) get B's ids in every
position, and also A's own ids with one of B's among them (A's knowledge base with B's document), which
is how a child is reached through a parent that is one's own.

Routes added by later issues are covered without touching this file; the victim's world (the ``victim``
fixture, tests/security/conftest.py) must simply hold at least one row of every tenant-owned model, which
``test_the_world_covers_every_tenant_model`` checks.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator

import pytest
from django.core import serializers
from django.test import Client

from knowledge.models import Document, KnowledgeBase
from tenants.context import tenant_context, unscoped
from tenants.models import AuditEvent, Role
from tests.clients import api_client
from tests.security.routes import METHODS, id_routes, tenant_owned_models
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db


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


def test_the_world_covers_every_tenant_model(victim: World) -> None:
    with unscoped(reason="test: count B's rows per model"):
        empty = [
            m._meta.label
            for m in tenant_owned_models()
            if not m.objects.filter(tenant=victim.tenant).exists()
        ]
    assert empty == [], (
        f"the victim fixture (tests/security/conftest.py) must create a row of {empty} "
        "so that their routes are exercised"
    )


def test_a_member_of_one_tenant_cannot_reach_another_tenants_objects_on_any_route(victim: World) -> None:
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
