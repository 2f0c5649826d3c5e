"""schemathesis over the REST API's own schema (``/api/v1/schema/``): every operation, authenticated
with tenant A's secret key, must never answer 5xx, must answer what the schema says (documented status
code, media type and body), and must never hold anything of tenant B's.

How it runs:

- The schema is the one ``/api/v1/schema/`` serves, made by the view's own generator when the module is
  collected (collection may not touch the database, and the view's request would);
  ``test_the_fuzz_reads_the_schema_the_api_serves`` checks that the served document is the same.
- Requests go in process through Django's WSGI application (``schema.app``), on the real test database
  and Redis: no server to start. Work a request hands to ``transaction.on_commit`` (ingestion,
  regression runs) is never enqueued, because nothing commits: the fuzz examines the API, not the workers.
- schemathesis's pytest integration (``schema.parametrize()``): one test per operation, so a failure
  names its operation and the others still run. (The lazy ``schemathesis.pytest.from_fixture`` loader
  would let the schema come from a fixture, but it sets a private attribute of pytest's nodes that
  pytest 9 no longer has.)
- The two worlds are made once, in an outer transaction the module rolls back at its end; each
  operation's test runs in a savepoint inside it (``db``), rolled back after the operation, so every
  operation starts from the same data whatever the ones before it deleted.
- Bounded and reproducible: ``FUZZ_MAX_EXAMPLES`` generated examples per operation (20 by default; set it
  higher for a deeper run), positive and negative data, the schema's own examples first; deterministic
  (the same examples every run), no deadline, no shrinking (one request per example reads well enough
  as found, and a failing run does not search for minutes). schemathesis's coverage phase (hundreds of
  fixed cases an operation) and stateful phase are off.
- Path ids: half the time generated (the 404 path), otherwise one of A's real ids (real content:
  details, updates, deletes, chats) or one of B's (which must be the same 404 as a missing id).

Stateful and destructive on purpose: within an operation, deletes, rotations and revocations of A's
objects happen and the later examples see what is left. Two ids are kept out of the pools so that the
fuzz cannot lock itself out and then pass vacuously on 401s: the key it authenticates with (``DELETE
/api-keys/{id}`` of it) and the membership of that key's creator (removing or demoting the creator ends
or narrows the creator's keys). Those operations are still fuzzed, with every other id.

Tenant B (the victim) holds a canary word in every kind of object the API can list or show: the
tenant's name, its owner's, members' and invitations' emails, API key names, provider credentials' and
custom models' names, knowledge bases, documents and their passages, bots, conversations and their
messages and ratings, regression suites and cases. No response to A's key may contain the canary, nor
any of B's ids (regression runs' included) that the request itself did not carry (a 404 may echo the
path it was asked). ``test_tenant_b_sees_its_canary_in_every_listing`` shows the canary is there to leak.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bots.chat import services as chat_services
from bots.models import Bot, Conversation, Message, RegressionCase, RegressionRun, RegressionSuite
from bots.regression import services as regression_services
from knowledge import services as knowledge_services
from knowledge.models import Chunk, Document, KnowledgeBase
from providers.models import CustomModel, ProviderCredential
from tenants import services as tenant_services
from tenants.context import tenant_context, unscoped
from tenants.models import ApiKey, Invitation, Membership, Role
from tests.bots.factories import make_bot, published_bot, record_turn
from tests.bots.regression.factories import make_case, make_suite
from tests.clients import api_client
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.providers.factories import add_credential, endpoint_credential, own_model
from tests.providers.helpers import OPENAI_KEY
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
# A word no generator produces and no A object holds: wherever it appears, B's data has leaked.
CANARY = "zqcanaryglobex"

# The model each path parameter names, by the collection segment before it.
ID_MODELS: dict[str, type[Any]] = {
    "api-keys": ApiKey,
    "bots": Bot,
    "cases": RegressionCase,
    "conversations": Conversation,
    "custom-models": CustomModel,
    "invitations": Invitation,
    "knowledge-bases": KnowledgeBase,
    "members": Membership,
    "messages": Message,
    "provider-credentials": ProviderCredential,
    "runs": RegressionRun,
    "suites": RegressionSuite,
}


@dataclass
class Worlds:
    attacker: World
    victim: World
    secret: str
    protected_ids: set[str]
    victim_markers: list[str]


@dataclass
class Figures:
    """What the closing note reports: each operation's answers by status, and the wall time."""

    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        every = sum(self.statuses.values(), Counter[int]())
        succeeded = [label for label, counts in self.statuses.items() if any(200 <= c < 300 for c in counts)]
        never = sorted(set(self.statuses) - set(succeeded))
        return (
            f"API fuzz: {len(self.statuses)}/{OPERATIONS} operations, "
            f"{len(succeeded)} of them answered 2xx; {every.total()} examples "
            f"({', '.join(f'{code}: {count}' for code, count in sorted(every.items()))}); "
            f"{time.monotonic() - self.started:.0f} s\nNever answered 2xx: {', '.join(never) or 'none'}"
        )


def populate(world: World, name: str) -> None:
    """One of everything the API lists, each carrying ``name`` in its text."""
    with tenant_context(world.tenant.pk):
        tenant_services.invitation_create(
            actor=world.actor(), email=f"invitee-{name}@example.test", role="viewer"
        )
    world.add_member(Role.EDITOR, email=f"editor-{name}@example.test")
    world.api_key(role=Role.VIEWER, name=f"viewer key {name}")
    credential = endpoint_credential(world, name=f"endpoint {name}")
    own_model(world, credential, name=f"llama-{name}")
    knowledge_base = make_knowledge_base(world, f"Manuals {name}", description=f"About {name}")
    document = add_text(world, knowledge_base, f"Returns of {name} take 30 days.", title=f"Returns {name}")
    knowledge_services.document_upload(
        actor=world.actor(),
        knowledge_base_id=knowledge_base.pk,
        filename=f"manual-{name}.txt",
        content=f"Manual of {name}.".encode(),
    )
    with tenant_context(world.tenant.pk):
        Chunk.objects.create(
            tenant=world.tenant,
            knowledge_base=knowledge_base,
            document=document,
            index_version=1,
            document_version=1,
            position=0,
            text=f"Returns of {name} take 30 days.",
            token_count=8,
            embedding_384=[0.05] * 384,
        )
    bot = published_bot(
        world, f"Concierge {name}", knowledge_base_ids=[knowledge_base.pk], instructions=f"Be {name}."
    )
    make_bot(world, f"Draft {name}")
    _, answer = record_turn(world, bot, f"Can I return {name}?", f"Within 30 days, {name}.")
    chat_services.message_rate(actor=world.actor(), message_id=answer.pk, rating=1, comment=name)
    suite = make_suite(world, bot, f"Returns {name}")
    make_case(world, suite, f"How long for {name}?", expected_facts=[f"30 days {name}"])
    regression_services.case_from_message(actor=world.actor(), suite_id=suite.pk, message_id=answer.pk)
    regression_services.run_start(actor=world.actor(), suite_id=suite.pk)  # never enqueued: no commit


def ids_of(world: World) -> dict[str, list[str]]:
    with unscoped(reason="test: collect the ids the fuzz may name in paths"):
        pools = {
            segment: [
                str(pk) for pk in model.objects.filter(tenant=world.tenant).values_list("pk", flat=True)
            ]
            for segment, model in ID_MODELS.items()
        }
        pools["document_id"] = [
            str(pk) for pk in Document.objects.filter(tenant=world.tenant).values_list("pk", flat=True)
        ]
        bots = Bot.objects.filter(tenant=world.tenant)
        pools["key"] = [key for key in bots.values_list("publishable_key", flat=True) if key]
        pools["model"] = [*pools["bots"], *bots.values_list("slug", flat=True)]
    return pools


@pytest.fixture(scope="module")
def worlds(django_db_setup: None, django_db_blocker: Any) -> Iterator[Worlds]:
    """A and B, made once for every operation inside one outer transaction that the module rolls back at
    its end. Each operation's test (``db``) runs in a savepoint inside it, rolled back after the
    operation: every operation starts from the same two worlds, whatever the ones before it deleted."""
    stub = OpenAIStub(api_key=OPENAI_KEY).start()  # where A's OpenAI credential's "test connection" goes
    overrides = override_settings(
        OPENAI_BASE_URL=stub.base_url, MODEL_CALL_TIMEOUT_SECONDS=5.0, MODEL_CALL_MAX_RETRIES=0
    )
    with django_db_blocker.unblock(), overrides, transaction.atomic():
        victim = make_world(f"Globex {CANARY}")
        victim.owner.email = f"owner-{CANARY}@example.test"
        victim.owner.full_name = f"Owner {CANARY}"
        victim.owner.save()
        populate(victim, CANARY)
        add_credential(victim, "openai", "sk-victim-0123456789", name=f"OpenAI {CANARY}")

        attacker = make_world("Acme")
        populate(attacker, "acme")
        add_credential(attacker, "openai", OPENAI_KEY, name="OpenAI acme")
        key, secret = attacker.api_key(role=Role.ADMIN, name="fuzz key")
        with tenant_context(attacker.tenant.pk):
            creator = Membership.objects.get(tenant=attacker.tenant, user=attacker.owner)
        victim_pools = ids_of(victim)
        for pool, ids in ids_of(attacker).items():
            REAL_IDS[pool] = sorted({*ids, *victim_pools[pool]} - {str(key.pk), str(creator.pk)})
        yield Worlds(
            attacker=attacker,
            victim=victim,
            secret=secret,
            protected_ids={str(key.pk), str(creator.pk)},
            victim_markers=[
                CANARY,
                str(victim.tenant.pk),
                *{i for pool in victim_pools.values() for i in pool},
            ],
        )
        transaction.set_rollback(True)
    REAL_IDS.clear()
    stub.stop()


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """The figures, printed past pytest's output capture when the module ends."""
    collected = Figures()
    yield collected
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and collected.statuses:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in collected.summary().splitlines():
                reporter.write_line(line)


class InProcessApp(WSGIHandler):
    """Django's WSGI application, called in the test's thread on the test's transaction."""


@pytest.fixture
def in_process(db: None, clock: Any) -> Iterator[None]:
    """The operation's savepoint (``db``), rate-limit windows no other test counts in (``clock``), and
    connections left open: Django closes a connection outside autocommit when a request starts or ends,
    which would end the test's transaction, so (as its test client does) that is off while a test calls."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def served_schema() -> dict[str, Any]:
    """What ``GET /api/v1/schema/`` serves: the view's own generator, through YAML as the view renders it.
    (Generated here, not fetched, because collection may not touch the database; the test below checks
    that the served document is this one.)"""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return yaml.safe_load(yaml.safe_dump(generated, allow_unicode=True))


# Examples and fuzzing (positive and negative data), no coverage phase (hundreds of fixed cases an
# operation, unspecified methods among them) and no stateful phase (each operation is one test here).
# The key is ours, sent with every request: security parameters are not generated (refusing a missing or
# wrong key is tests/security/test_route_authentication.py's).
FUZZ_CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "no-shrink": True,
            "deterministic": True,
            "with-security-parameters": False,
        },
    }
)
SERVED = served_schema()
OPERATIONS = sum(len(operations) for operations in SERVED["paths"].values())
schema = schemathesis.openapi.from_dict(SERVED, config=FUZZ_CONFIG)
schema.app = InProcessApp()


# The ids the fuzz may put in paths, by pool (``ID_MODELS``' segments, ``document_id``, ``key``,
# ``model``): A's (without the protected ones) and B's. Filled by the ``worlds`` fixture; the hook below
# reads it as it draws, inside the tests, after the fixture ran.
REAL_IDS: dict[str, list[str]] = {}


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Half the time, real ids in place of the generated ones."""
    assert context.operation is not None
    segments = context.operation.path.strip("/").split("/")
    real: dict[str, st.SearchStrategy[str]] = {}
    for position, segment in enumerate(segments):
        name = segment.removeprefix("{").removesuffix("}")
        if name != segment and name in (path_parameters or {}):
            pool = REAL_IDS.get(name if name in ("document_id", "key", "model") else segments[position - 1])
            if pool:
                real[name] = st.sampled_from(pool)
    if not real:
        return st.just(path_parameters)
    with_real_ids = st.fixed_dictionaries(real).map(lambda ids: {**path_parameters, **ids})
    return st.one_of(st.just(path_parameters), with_real_ids)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # examples, then generated cases; no shrinking
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_or_leaks_another_tenants_data(
    case: schemathesis.Case, worlds: Worlds, figures: Figures, in_process: None
) -> None:
    response = case.call(headers={"Authorization": f"Bearer {worlds.secret}"})
    figures.statuses[case.operation.label][response.status_code] += 1
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    sent = f"{case.formatted_path} {case.path_parameters} {case.query} {case.body}"
    leaked = [marker for marker in worlds.victim_markers if marker in response.text and marker not in sent]
    assert leaked == [], f"{case.operation.label} showed tenant B's {leaked} to tenant A"


def test_the_fuzz_reads_the_schema_the_api_serves(worlds: Worlds, in_process: None) -> None:
    assert yaml.safe_load(Client().get("/api/v1/schema/").content) == SERVED


# Where tenant B's own key finds the canary: the check above can fail on every kind of object the API
# lists, because the canary is there to leak.
CANARY_LISTINGS = [
    "/api/v1/api-keys",
    "/api/v1/bots",
    "/api/v1/conversations",
    "/api/v1/custom-models",
    "/api/v1/invitations",
    "/api/v1/knowledge-bases",
    "/api/v1/members",
    "/api/v1/models",
    "/api/v1/provider-credentials",
    "/api/v1/suites",
    "/api/v1/tenant",
]


def test_tenant_b_sees_its_canary_in_every_listing(worlds: Worlds, in_process: None) -> None:
    with tenant_context(worlds.victim.tenant.pk):
        _, secret = tenant_services.api_key_create(actor=worlds.victim.actor(), name="b", role=Role.ADMIN)
    victim = api_client(secret)
    without_canary = [path for path in CANARY_LISTINGS if CANARY not in victim.get(path).content.decode()]
    knowledge_base = victim.get("/api/v1/knowledge-bases").json()["results"][0]["id"]
    documents = victim.get(f"/api/v1/knowledge-bases/{knowledge_base}/documents").content.decode()

    assert without_canary == []
    assert documents.count(CANARY) >= 2  # the pasted text's title and the uploaded file's name
