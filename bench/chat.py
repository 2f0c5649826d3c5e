"""Benchmark chat time to first token through Groundwork against calling the model directly, in one run.

    .venv/bin/python bench/chat.py              # full run (~7 minutes on a busy 2-core machine)
    .venv/bin/python bench/chat.py --quick      # a short check of the script (< 1 minute)
    .venv/bin/python bench/chat.py --workers 2  # only a server with 2 uvicorn workers (default: 1 and 2)

It measures issue 5's acceptance: the platform's overhead on time to first token (TTFT) against calling
the model directly, p50 and p95, at 1 and at 50 concurrent chats. The "model" is the tests' OpenAI
wire-format stub (tests/stubs/openai_stub.py), which streams a fixed answer word by word at once, so
everything above the direct numbers is Groundwork's.

Set-up, in a scratch database ``bench_chat`` (created with the application role, migrated, dropped at
the end; ``--keep`` leaves it):

- a tenant with a secret API key (viewer), an OpenAI credential for the stub's key and
  ``openai:gpt-4o-mini`` enabled; a knowledge base on the built-in embedder (all-MiniLM-L6-v2) with a
  few pasted-text help-centre articles, ingested in this process through ``knowledge.pipeline.ingest``;
  50 identical bots on it (hybrid retrieval, strict policy, first turns only, so no rewrite) — one per
  concurrent chat, so the server's usage records (which name a bot, not a conversation) can be matched
  to the request that caused them.
- the stub in a process of its own (bench/chat_stub.py), so its threads do not compete with the client's
  event loop for one interpreter lock.
- Groundwork under uvicorn as in production (``uvicorn config.asgi:application``, uvloop + httptools),
  in its own process group, on the scratch database, with ``OPENAI_BASE_URL`` pointing at the stub,
  ``OMP_NUM_THREADS=1`` (as ``make run`` starts the web process), ``CHAT_RATE_PER_BOT`` far above the
  load, and ``MODEL_CALL_MAX_RETRIES=0`` so an upstream failure is counted, not hidden in a retry. One
  server per ``--workers`` value (default: 1 worker as ``make run``, and 2 as docker-compose's
  ``WEB_CONCURRENCY``), all started at once and measured interleaved.

Clients: the official ``openai`` SDK (``AsyncOpenAI``, streaming, no retries), one per arm. Direct:
``base_url`` = the stub, ``model`` = gpt-4o-mini. Through Groundwork: ``base_url`` = server + ``/api/v1``,
``model`` = a bot's slug, the tenant's secret key. TTFT is from just before ``create()`` to the first
chunk with content; total is to the end of the stream. One user message per request.

Levels: 1 concurrent chat (``--sequential`` requests per arm, arms alternating request by request) and
50 (``--rounds`` rounds of 50 requests at once per arm, arms alternating round by round and the order
rotating), after an untimed warm-up of every arm. The servers' cold start (every worker imports the model
stack and loads the embedder on its first chat, ~10 s) happens while this process ingests, and is not
measured.

Where the time goes, three ways:

- the server's own rows for every request through Groundwork cut its client-measured TTFT into
  phases: admit (client send → the question's ``Message.created_at``, same machine, same clock), the
  embedding (its ``UsageRecord.latency_ms``), the model call to its first token (the chat
  ``UsageRecord.time_to_first_token_ms``), the rest of the engine's turn before the model call (the
  answer's ``Message.time_to_first_token_ms`` minus those two), and what is left to reach the client.
  Only durations are used: a row's ``created_at`` is written after a thread hop that is long under load;
- the web process's CPU time per turn and per second of wall time (psutil, its process group), the
  stub's and this client's CPU per request, requests per second, and PostgreSQL sessions, transactions
  and inserted rows per turn (``pg_stat_database`` of the scratch database, 40 sequential turns);
- ``--inprocess`` turns (default 40) of ``bots.chat.engine.converse`` in this process against the same stub,
  with its steps timed by wrappers and their SQL statements counted; and, alone, API-key authentication,
  opening a database connection, constructing an ``AsyncOpenAI`` client and ``ssl.create_default_context``.

The stub, the servers and the scratch database are removed on exit, on Ctrl-C, on SIGTERM and on errors
(the logs are kept when the run does not finish, and with ``--keep``); the children get SIGTERM if this
process is killed. The scratch database and the processes come from bench/harness.py.
Output is Markdown; results are in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import ssl
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, beside this file
import harness
from harness import Child, load_average, p50, p95

# This process embeds too (ingestion, the in-process turns): one math thread, as the web process has, so
# no idle OpenMP threads of ours spin on the cores the server needs.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")  # sentence-transformers' "Loading weights" bar
harness.setup_django()

import logging  # noqa: E402

import openai  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends import utils as db_utils  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from bots import services as bot_services  # noqa: E402
from bots.chat import engine, limits, prompt  # noqa: E402
from bots.chat import services as chat_services  # noqa: E402
from bots.models import Message  # noqa: E402
from knowledge import pipeline, retrieval, tasks  # noqa: E402
from knowledge import services as knowledge_services  # noqa: E402
from knowledge.models import Document  # noqa: E402
from providers import gateway  # noqa: E402
from providers import services as provider_services  # noqa: E402
from providers.adapters import local  # noqa: E402
from providers.adapters import openai as openai_adapter  # noqa: E402
from providers.models import UsageRecord  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from tenants.authentication import api_key_from_request  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.models import Role  # noqa: E402

# Django's logging config logs every SDK request at INFO; the report is what this script prints.
for _name in ("httpx2", "openai", "sentence_transformers"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DATABASE = "bench_chat"
STUB_KEY = "sk-bench-chat-0123456789abcdef"
STUB_MODEL = "gpt-4o-mini"
CHAT_MODEL = f"openai:{STUB_MODEL}"
CONCURRENCY = 50
BOTS = CONCURRENCY
DIRECT = "direct"
QUEUE = f"bench-chat-{os.getpid()}"  # nothing should be enqueued; if something is, no worker takes it

# What the stub's gpt-4o-mini answers: 48 words, so a stream of 48 content chunks (~60 tokens), a short
# support answer.
ANSWER = (
    "Orders placed before 2 pm ship the same working day from our Leeds warehouse. Standard delivery "
    "takes two to four working days in the UK and five to eight to the rest of Europe. You will get a "
    "tracking link by email as soon as the parcel leaves us [1]."
)

# The knowledge base: short help-centre articles, pasted as text (Markdown headings).
ARTICLES = {
    "Shipping and delivery": """# Shipping and delivery

## When will my order ship?
Orders placed before 2 pm (UK time) on a working day ship the same day from our warehouse in Leeds.
Orders placed later, or at weekends and on bank holidays, ship the next working day.

## How long does delivery take?
Standard delivery takes two to four working days in the United Kingdom and five to eight working days
to the rest of Europe. Express delivery (next working day in the UK) can be chosen at checkout for
orders placed before noon.

## Tracking
As soon as your parcel leaves the warehouse you receive an email with a tracking link. Tracking can take
up to 24 hours to show the first scan.

## Do you ship outside Europe?
We ship to the United States, Canada and Australia with our international courier. Import duties are
paid by the recipient unless the order was placed with DDP (delivered duty paid) at checkout.
""",
    "Returns and refunds": """# Returns and refunds

## Can I return an item?
You can return any unused item within 30 days of delivery. Start a return from Orders in your account:
choose the item, the reason, and print the prepaid label (UK only; elsewhere the return postage is yours).

## When do I get my money back?
Refunds go back to the original payment method within five working days of the parcel reaching our
warehouse. Card refunds can take another three to five days to appear on your statement.

## Faulty items
If an item arrives damaged or stops working within the warranty period, ask for an RMA (return
merchandise authorisation) number in the help centre before sending it back; parcels without an RMA
number cannot be matched to your order.
""",
    "Account and sign-in": """# Account and sign-in

## I forgot my password
Choose "Forgot password" on the sign-in page and enter your email address. The reset link is valid for
one hour. If it does not arrive, check your spam folder, then contact support.

## Two-factor authentication
Turn on two-factor authentication under Settings, Security. Scan the QR code with an authenticator app
and enter the six-digit code. Keep the recovery codes somewhere safe: each works once.

## Closing your account
You can close your account under Settings, Privacy. Open orders must be delivered or cancelled first.
We delete your personal data within 30 days, except invoices we must keep for seven years.
""",
    "Billing and payments": """# Billing and payments

## Which payment methods do you accept?
Visa, Mastercard, American Express, PayPal and bank transfer for business accounts. Prices include UK
VAT; business customers in the EU can enter a VAT number at checkout to be invoiced without VAT.

## Where is my invoice?
Invoices are emailed when an order ships and can be downloaded as PDF from Orders in your account.

## My payment was declined
Check the card's expiry date and billing address. Some banks block the first online payment to a new
shop: approve it in your banking app and try again. We never store full card numbers.
""",
    "Warranty": """# Warranty

## How long is the warranty?
Every thermostat and sensor has a two-year warranty from the delivery date; the BW-T300 hub has three
years. The warranty covers manufacturing faults, not damage from water, drops or wrong wiring.

## How do I claim?
Open a warranty claim in the help centre with your order number and a short description or video of the
fault. We answer within two working days with an RMA number or a troubleshooting step to try first.

## Error codes
E-4012 means the hub lost its Wi-Fi connection: restart the router, then the hub. E-4021 means a sensor
battery is low. E-4102 means the firmware update failed: keep the hub powered and it retries at night.
""",
}

QUESTIONS = (
    "When will my order ship?",
    "How long does delivery to France take?",
    "Can I return a jacket I bought three weeks ago?",
    "When do I get my refund?",
    "I forgot my password, what do I do?",
    "How do I turn on two-factor authentication?",
    "Which payment methods can I use?",
    "How long is the warranty on the hub?",
    "What does error E-4012 mean?",
    "Do you ship to Canada and who pays the import duties?",
)


# --- small helpers ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- the scratch database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseCounters:
    sessions: int
    transactions: int
    inserted: int

    @classmethod
    def read(cls) -> DatabaseCounters:
        """Cumulative counters of the scratch database (as flushed so far by ended sessions)."""
        with psycopg.connect(**harness.raw_params(DATABASE), autocommit=True) as raw:
            row = raw.execute(
                "SELECT sessions, xact_commit + xact_rollback, tup_inserted FROM pg_stat_database"
                " WHERE datname = %s",
                [DATABASE],
            ).fetchone()
        assert row is not None
        return cls(int(row[0]), int(row[1]), int(row[2]))

    def minus(self, other: DatabaseCounters) -> DatabaseCounters:
        return DatabaseCounters(
            self.sessions - other.sessions,
            self.transactions - other.transactions,
            self.inserted - other.inserted,
        )


# --- the child processes ------------------------------------------------------------------------------


def start_stub(log_dir: Path) -> harness.Child:
    command = [sys.executable, str(harness.ROOT / "bench" / "chat_stub.py"), "--api-key", STUB_KEY]
    return harness.start_process(
        "stub", [*command, "--answer", ANSWER], log_path=log_dir / "stub.log", announces_url=True
    )


# --- set-up -------------------------------------------------------------------------------------------


@dataclass
class World:
    tenant_id: uuid.UUID
    knowledge_base_id: uuid.UUID
    secret: str
    bots: list[tuple[uuid.UUID, str]]  # (id, slug), one per concurrent chat
    inprocess_bot: uuid.UUID
    queued: list[tuple[Any, ...]]  # the documents' ingestion tasks, captured instead of sent
    chunks: int = 0
    ingest_seconds: float = 0.0


def make_world() -> World:
    """The tenant, its key, credential, models, knowledge base with its documents (not ingested yet), bots."""
    user_model = get_user_model()
    owner = user_model.objects.create_user(email="bench-chat@example.test", password=uuid.uuid4().hex)
    tenant = tenant_services.tenant_create(name="Bench chat", owner=owner)
    actor = Actor(tenant=tenant, role=Role.OWNER, user=owner)
    _, secret = tenant_services.api_key_create(actor=actor, name="bench", role=Role.VIEWER)
    provider_services.credential_create(actor=actor, provider="openai", name="OpenAI", api_key=STUB_KEY)
    provider_services.model_settings_update(actor=actor, enabled_models=[CHAT_MODEL])
    base = knowledge_services.knowledge_base_create(actor=actor, name="Help centre")
    queued: list[tuple[Any, ...]] = []
    with mock.patch.object(tasks.ingest_document, "delay", lambda *arguments: queued.append(arguments)):
        for title, text in ARTICLES.items():
            knowledge_services.document_add_text(
                actor=actor, knowledge_base_id=base.pk, text=text, title=title
            )
    bots = []
    for number in range(BOTS + 1):
        bot = bot_services.bot_create(
            actor=actor,
            name=f"Help desk {number}",
            chat_model=CHAT_MODEL,
            knowledge_base_ids=[base.pk],
            retrieval_mode="hybrid",
            answer_policy="strict",
        )
        bots.append((bot.pk, bot.slug))
    return World(tenant.pk, base.pk, secret, bots[:BOTS], bots[BOTS][0], queued)


def ingest(world: World) -> None:
    """Run the captured ingestion tasks' pipeline here, in order."""
    started = time.perf_counter()
    outcomes = [
        pipeline.ingest(tenant_id=tenant_id, document_id=document_id)
        for tenant_id, document_id in world.queued
    ]
    world.ingest_seconds = time.perf_counter() - started
    if set(outcomes) != {"ready"}:
        raise RuntimeError(f"ingestion did not finish: {outcomes}")
    with tenant_context(world.tenant_id):
        world.chunks = sum(
            Document.objects.filter(knowledge_base_id=world.knowledge_base_id).values_list(
                "chunk_count", flat=True
            )
        )


def cold_start(servers: Sequence[Child], world: World) -> list[str]:
    """Each server's first requests, while this process ingests: every worker imports the model stack
    and loads the embedder on its first chat (~10 s on a busy machine). Plain HTTP, a few at once so
    that every worker of a server gets one."""
    problems: list[str] = []

    def post(server: Child, index: int) -> None:
        body = {"model": world.bots[index][1], "messages": [{"role": "user", "content": QUESTIONS[index]}]}
        request = urllib.request.Request(  # noqa: S310 -- http://127.0.0.1
            f"{server.url}/api/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {world.secret}", "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=120).close()  # noqa: S310 -- http://127.0.0.1
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            problems.append(f"{server.name}: {error}")

    threads = []
    for server in servers:
        harness.wait_until_serving(server)
        threads += [threading.Thread(target=post, args=(server, index)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


# --- the clients --------------------------------------------------------------------------------------


@dataclass
class Sample:
    arm: str
    level: int
    ttft: float | None  # seconds, None on error
    total: float | None
    error: str = ""
    bot: uuid.UUID | None = None
    question_id: uuid.UUID | None = None
    sent_at: float = 0.0  # wall clock (time.time()), to set against the server's rows
    first_at: float = 0.0
    done_at: float = 0.0


@dataclass
class Arm:
    name: str
    client: openai.AsyncOpenAI
    server: Child | None  # None: direct to the stub
    samples: list[Sample] = field(default_factory=list)
    cpu: dict[int, float] = field(default_factory=lambda: defaultdict(float))  # level → server CPU s
    stub_cpu: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    client_cpu: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    wall: dict[int, float] = field(default_factory=lambda: defaultdict(float))  # level → seconds


async def one_chat(arm: Arm, level: int, index: int, world: World) -> Sample:
    question = QUESTIONS[index % len(QUESTIONS)]
    bot_id, slug = world.bots[index % len(world.bots)]
    model = STUB_MODEL if arm.server is None else slug
    sample = Sample(arm.name, level, None, None, bot=None if arm.server is None else bot_id)
    sample.sent_at = time.time()
    started = time.perf_counter()
    first: float | None = None
    try:
        stream = await arm.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], stream=True
        )
        async for chunk in stream:
            if sample.question_id is None and chunk.id.startswith("chatcmpl-") and arm.server is not None:
                sample.question_id = uuid.UUID(chunk.id.removeprefix("chatcmpl-"))
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
                sample.first_at = time.time()
        finished = time.perf_counter()
        sample.done_at = time.time()
    except openai.APIError as error:
        sample.error = f"{type(error).__name__}: {str(error)[:120]}"
        return sample
    if first is None:
        sample.error = "no content"
        return sample
    sample.ttft, sample.total = first - started, finished - started
    return sample


class Meters:
    """CPU time of the servers, the stub and this process around a batch of requests of one arm."""

    def __init__(self, stub: Child, servers: Sequence[Child]) -> None:
        self.stub = stub
        self.servers = servers

    def snapshot(self) -> tuple[dict[str, float], float, float, float]:
        return (
            {server.name: server.cpu_seconds() for server in self.servers},
            self.stub.cpu_seconds(),
            time.process_time(),
            time.perf_counter(),
        )

    def charge(self, arm: Arm, level: int, before: tuple[dict[str, float], float, float, float]) -> None:
        servers, stub, client, now = self.snapshot()
        if arm.server is not None:
            arm.cpu[level] += servers[arm.server.name] - before[0][arm.server.name]
        arm.stub_cpu[level] += stub - before[1]
        arm.client_cpu[level] += client - before[2]
        arm.wall[level] += now - before[3]


async def batch(arm: Arm, level: int, count: int, offset: int, world: World) -> list[Sample]:
    return list(await asyncio.gather(*(one_chat(arm, level, offset + n, world) for n in range(count))))


async def warm_up(arms: Sequence[Arm], world: World, sequential: int, bursts: int) -> list[str]:
    """Untimed: the embedder loads in every worker, connections open, code paths warm."""
    problems: list[str] = []
    for arm in arms:
        for index in range(sequential):
            sample = await one_chat(arm, 0, index, world)
            if sample.error:
                problems.append(f"{arm.name}: {sample.error}")
        for _ in range(bursts):
            problems += [
                f"{arm.name}: {s.error}" for s in await batch(arm, 0, CONCURRENCY, 0, world) if s.error
            ]
    return problems


def rotated(arms: Sequence[Arm], step: int) -> list[Arm]:
    shift = step % len(arms)
    return [*arms[shift:], *arms[:shift]]


async def measure(
    arms: Sequence[Arm], world: World, meters: Meters, sequential: int, rounds: int
) -> list[tuple[str, str]]:
    loads = [("before the timed part", load_average())]
    for index in range(sequential):
        for arm in rotated(arms, index):
            before = meters.snapshot()
            arm.samples.append(await one_chat(arm, 1, index, world))
            meters.charge(arm, 1, before)
    loads.append(("after 1 concurrent", load_average()))
    print(f"  1 concurrent: {sequential} requests per arm; load {loads[-1][1]}", flush=True)
    for round_number in range(rounds):
        for arm in rotated(arms, round_number):
            before = meters.snapshot()
            arm.samples += await batch(arm, CONCURRENCY, CONCURRENCY, round_number * CONCURRENCY, world)
            meters.charge(arm, CONCURRENCY, before)
        print(
            f"  {CONCURRENCY} concurrent: round {round_number + 1}/{rounds}; load {load_average()}",
            flush=True,
        )
    loads.append((f"after {CONCURRENCY} concurrent", load_average()))
    return loads


# --- the server's rows: where one request's time went -------------------------------------------------

# Durations only: each is measured on one clock (the client's, or the server's monotonic clock inside one
# await), so none depends on when a row's INSERT happened to run (a thread hop after the measurement,
# which under load is long).
PHASES = (
    (
        "admit",
        "request → question row written: HTTP, API key, bot lookup, rate limit (Redis), budgets,"
        " conversation (client send → `Message.created_at`)",
    ),
    (
        "embedding",
        "the question embedded on the local model: thread hop, waiting for the model's lock, encode"
        " (embedding `UsageRecord.latency_ms`)",
    ),
    (
        "engine, other",
        "the rest of the turn before the model call: response started, 2 model resolves, embedding usage"
        " record, hybrid search, model limits, prompt (answer `Message.time_to_first_token_ms` minus the"
        " embedding and the model call)",
    ),
    (
        "model call → first token",
        "OpenAI client built, new connection, request, the stub's first content chunk (chat"
        " `UsageRecord.time_to_first_token_ms`)",
    ),
    (
        "to the client",
        "question committed, back to the event loop, first token → SSE chunk → uvicorn → the SDK (client"
        " TTFT minus the others)",
    ),
)


@dataclass
class Timeline:
    phases: dict[str, float]
    ttft: float


def timelines(world: World, samples: Sequence[Sample]) -> tuple[list[Timeline], int]:
    """Cut each request's client-measured TTFT into phases from the rows the server wrote for it."""
    measured = [sample for sample in samples if sample.ttft is not None and sample.question_id is not None]
    if not measured:
        return [], 0
    with tenant_context(world.tenant_id):
        questions = {
            message.pk: message
            for message in Message.objects.filter(pk__in=[sample.question_id for sample in measured])
        }
        answers = {
            message.conversation_id: message
            for message in Message.objects.filter(
                conversation_id__in=[message.conversation_id for message in questions.values()],
                role="assistant",
            )
        }
        usage: dict[uuid.UUID, list[UsageRecord]] = defaultdict(list)
        for record in UsageRecord.objects.filter(bot_id__in=[bot for bot, _ in world.bots]).order_by(
            "created_at"
        ):
            assert record.bot_id is not None
            usage[record.bot_id].append(record)
    result: list[Timeline] = []
    unmatched = 0
    for sample in measured:
        assert sample.bot is not None and sample.question_id is not None and sample.ttft is not None
        question = questions.get(sample.question_id)
        answer = answers.get(question.conversation_id) if question else None
        # One request per bot at a time: its usage rows are those written while the request ran.
        records = [
            record
            for record in usage[sample.bot]
            if sample.sent_at - 0.001 <= record.created_at.timestamp() <= sample.done_at + 0.001
        ]
        embedding = [record for record in records if record.operation == "embedding"]
        chat = [record for record in records if record.operation == "chat"]
        if (
            question is None
            or answer is None
            or answer.time_to_first_token_ms is None
            or len(embedding) != 1
            or len(chat) != 1
            or chat[0].time_to_first_token_ms is None
        ):
            unmatched += 1
            continue
        admit = question.created_at.timestamp() - sample.sent_at
        turn = answer.time_to_first_token_ms / 1000
        embedded = embedding[0].latency_ms / 1000
        model_call = (chat[0].time_to_first_token_ms or 0) / 1000
        phases = {
            "admit": admit,
            "embedding": embedded,
            "engine, other": turn - embedded - model_call,
            "model call → first token": model_call,
            "to the client": sample.ttft - admit - turn,
        }
        result.append(Timeline(phases, sample.ttft))
    return result, unmatched


# --- in-process: the steps of one turn, timed by wrappers --------------------------------------------


class StepClock:
    """Per-turn time and SQL statements in wrapped (sync) functions, by label, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, float, float, int]] = []  # label, start, end, statements
        self.local = threading.local()
        self.statements: Counter[str] = Counter()

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack: list[str] = self.local.__dict__.setdefault("stack", [])
            stack.append(label)
            counted = self.statements[label]
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                ended = time.perf_counter()
                stack.pop()
                with self.lock:
                    self.calls.append((label, started, ended, self.statements[label] - counted))

        return timed

    def count_statement(self) -> None:
        stack = self.local.__dict__.get("stack") or ["(outside the wrapped steps)"]
        with self.lock:
            for label in set(stack):  # nested steps: the statement counts for each enclosing step
                self.statements[label] += 1

    def take(self) -> list[tuple[str, float, float, int]]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


# (label, module, attribute): each is called through its module's global, so replacing it times every call.
STEPS: tuple[harness.Step, ...] = (
    ("admit (chat_start: bot, rate limits, budgets, conversation, question)", chat_services, "chat_start"),
    ("  rate limits (Redis)", limits, "check_chat_rates"),
    ("model resolve (tenant, model, credential)", gateway, "_resolve"),
    ("question embedding (local model, in a thread)", local, "_encode"),
    ("usage record write", provider_services, "usage_record"),
    ("retrieval.search (hybrid SQL + ORM)", retrieval, "search"),
    ("model limits (catalog lookup)", engine, "_model_limits"),
    ("prompt build (token counting)", prompt, "build"),
    ("OpenAI client construction", openai_adapter, "make_client"),
    ("answer stored (chat_record_answer)", chat_services, "chat_record_answer"),
)


@contextmanager
def instrumented(clock: StepClock) -> Iterator[None]:
    # Every statement of every Django connection, whichever thread runs it (not in django-stubs).
    original_execute = db_utils.CursorWrapper._execute  # type: ignore[attr-defined]
    original_executemany = db_utils.CursorWrapper._executemany  # type: ignore[attr-defined]

    def execute(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        clock.count_statement()
        return original_execute(cursor, *args, **kwargs)

    def executemany(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        clock.count_statement()
        return original_executemany(cursor, *args, **kwargs)

    with ExitStack() as stack:
        stack.enter_context(harness.wrapped(STEPS, clock.wrap))
        stack.enter_context(mock.patch.object(db_utils.CursorWrapper, "_execute", execute))
        stack.enter_context(mock.patch.object(db_utils.CursorWrapper, "_executemany", executemany))
        yield


@dataclass
class InProcessTurn:
    ttft: float
    on_path: dict[str, float]  # label → seconds spent before the first token
    after: dict[str, float]  # label → seconds after it
    statements_before: int
    statements_after: int
    calls_before: Counter[str] = field(default_factory=Counter)


async def inprocess_turn(world: World, index: int, clock: StepClock) -> InProcessTurn:
    clock.take()
    clock.statements.clear()
    started = time.perf_counter()
    first: float | None = None
    events = engine.converse(
        tenant_id=world.tenant_id,
        bot_id=world.inprocess_bot,
        question=QUESTIONS[index % len(QUESTIONS)],
        channel="openai",
    )
    async for event in events:  # to the end: the answer is stored before the turn finishes
        if first is None and isinstance(event, engine.Token):
            first = time.perf_counter()
    assert first is not None
    on_path: dict[str, float] = defaultdict(float)
    after: dict[str, float] = defaultdict(float)
    before_statements = after_statements = 0
    calls: Counter[str] = Counter()
    for label, begun, ended, statements in clock.take():
        if ended <= first:
            on_path[label] += ended - begun
            calls[label] += 1
            before_statements += statements if not label.startswith("  ") else 0
        else:
            after[label] += ended - begun
            after_statements += statements if not label.startswith("  ") else 0
    return InProcessTurn(
        first - started, dict(on_path), dict(after), before_statements, after_statements, calls
    )


def inprocess(world: World, turns: int) -> tuple[list[InProcessTurn], Counter[str], dict[str, list[float]]]:
    clock = StepClock()
    statements: Counter[str] = Counter()
    results: list[InProcessTurn] = []

    async def run() -> None:
        for index in range(3):  # warm: this process's thread connection, the model, the stub's client
            await inprocess_turn(world, index, clock)
        for index in range(turns):
            results.append(await inprocess_turn(world, index, clock))
            for label, count in clock.statements.items():
                statements[label] += count

    with instrumented(clock):
        asyncio.run(run())
    connection.close()  # the main thread's connection; asyncio.run's thread had its own
    alone: dict[str, list[float]] = {
        "API key authentication (api_key_from_request)": [],
        "new database connection": [],
        "`AsyncOpenAI(...)` construction": [],
        "of which `ssl.create_default_context()`": [],
    }
    factory = RequestFactory()
    request = factory.post("/api/v1/chat/completions", HTTP_AUTHORIZATION=f"Bearer {world.secret}")
    for _ in range(turns):
        started = time.perf_counter()
        assert api_key_from_request(request) is not None
        alone["API key authentication (api_key_from_request)"].append(time.perf_counter() - started)
        connection.close()
        started = time.perf_counter()
        connection.ensure_connection()
        alone["new database connection"].append(time.perf_counter() - started)
        started = time.perf_counter()
        openai.AsyncOpenAI(api_key=STUB_KEY, base_url=settings.OPENAI_BASE_URL, max_retries=0)
        alone["`AsyncOpenAI(...)` construction"].append(time.perf_counter() - started)
        started = time.perf_counter()
        ssl.create_default_context()
        alone["of which `ssl.create_default_context()`"].append(time.perf_counter() - started)
    return results, statements, alone


# --- report -------------------------------------------------------------------------------------------


def measured(samples: Sequence[Sample], level: int) -> tuple[list[float], list[float], int]:
    chosen = [sample for sample in samples if sample.level == level]
    ttfts = [sample.ttft for sample in chosen if sample.ttft is not None]
    totals = [sample.total for sample in chosen if sample.total is not None]
    return ttfts, totals, sum(1 for sample in chosen if sample.error)


def results_table(arms: Sequence[Arm], levels: Sequence[int]) -> list[str]:
    lines = [
        "| concurrent | path | n | errors | TTFT p50 ms | TTFT p95 ms | total p50 ms | total p95 ms"
        " | overhead p50 ms (x) | overhead p95 ms (x) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in levels:
        direct_ttft, _, _ = measured(arms[0].samples, level)
        for arm in arms:
            ttfts, totals, errors = measured(arm.samples, level)
            if not ttfts:
                lines.append(f"| {level} | {arm.name} | 0 | {errors} | | | | | | |")
                continue
            overhead = "| |"
            if arm.server is not None and direct_ttft:
                overhead = (
                    f"| +{ms(p50(ttfts) - p50(direct_ttft))} ({p50(ttfts) / p50(direct_ttft):.1f}x)"
                    f" | +{ms(p95(ttfts) - p95(direct_ttft))} ({p95(ttfts) / p95(direct_ttft):.1f}x) |"
                )
            lines.append(
                f"| {level} | {arm.name} | {len(ttfts) + errors} | {errors}"
                f" | {ms(p50(ttfts))} | {ms(p95(ttfts))} | {ms(p50(totals))} | {ms(p95(totals))} {overhead}"
            )
    return lines


def timeline_table(world: World, arms: Sequence[Arm], levels: Sequence[int]) -> list[str]:
    lines: list[str] = []
    for arm in arms:
        if arm.server is None:
            continue
        columns: list[tuple[int, list[Timeline], int]] = []
        for level in levels:
            found, unmatched = timelines(world, [s for s in arm.samples if s.level == level])
            columns.append((level, found, unmatched))
        header = " | ".join(
            f"{level} concurrent: p50 / p95 ms (n={len(found)})" for level, found, _ in columns
        )
        lines += [
            f"**{arm.name}**",
            "",
            f"| phase | what | {header} |",
            "| --- | --- |" + " --- |" * len(columns),
        ]
        for phase, description in PHASES:
            cells = " | ".join(
                f"{ms(p50([t.phases[phase] for t in found]))} / {ms(p95([t.phases[phase] for t in found]))}"
                if found
                else ""
                for _, found, _ in columns
            )
            lines.append(f"| {phase} | {description} | {cells} |")
        sums = " | ".join(
            f"{ms(p50([t.ttft for t in found]))} / {ms(p95([t.ttft for t in found]))}" if found else ""
            for _, found, _ in columns
        )
        lines.append(f"| **TTFT** (the client's; the phases add up to it) | | {sums} |")
        missing = [f"{level}: {unmatched}" for level, _, unmatched in columns if unmatched]
        if missing:
            lines.append(f"\nRequests whose rows could not be matched: {', '.join(missing)}")
        lines.append("")
    return lines


def cpu_table(arms: Sequence[Arm], levels: Sequence[int]) -> list[str]:
    lines = [
        "| concurrent | path | web process CPU ms per turn | web process CPU / wall time"
        " | stub CPU ms per call | client CPU ms per request | requests per second |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in levels:
        for arm in arms:
            count = sum(1 for sample in arm.samples if sample.level == level)
            if not count:
                continue
            web = ms(arm.cpu[level] / count) if arm.server is not None else "-"
            busy = f"{arm.cpu[level] / arm.wall[level]:.2f}" if arm.server is not None else "-"
            lines.append(
                f"| {level} | {arm.name} | {web} | {busy} | {ms(arm.stub_cpu[level] / count)}"
                f" | {ms(arm.client_cpu[level] / count)} | {count / arm.wall[level]:.1f} |"
            )
    return lines


def inprocess_table(
    turns: Sequence[InProcessTurn], statements: Counter[str], alone: dict[str, list[float]]
) -> list[str]:
    count = len(turns)
    labels = [label for label, _, _ in STEPS]
    lines = [
        f"In this process, {count} sequential first turns of `engine.converse` (no HTTP in front; its"
        " database connection stays open between turns):",
        "",
        "| step | calls before the first token | before the first token: p50 / p95 ms per turn"
        " | after it: p50 ms | SQL statements per turn |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label in labels:
        before = [turn.on_path.get(label, 0.0) for turn in turns]
        after = [turn.after.get(label, 0.0) for turn in turns]
        lines.append(
            f"| {label} | {p50([turn.calls_before[label] for turn in turns]):g}"
            f" | {ms(p50(before))} / {ms(p95(before))} | {ms(p50(after))}"
            f" | {statements[label] / count:.1f} |"
        )
    top = [label for label in labels if not label.startswith("  ")]
    accounted = [sum(turn.on_path.get(label, 0.0) for label in top) for turn in turns]
    ttfts = [turn.ttft for turn in turns]
    lines += [
        f"| **TTFT in process** | | {ms(p50(ttfts))} / {ms(p95(ttfts))} | | "
        f"{p50([turn.statements_before for turn in turns]):.0f} before, "
        f"{p50([turn.statements_after for turn in turns]):.0f} after |",
        f"| the rest (stub round trip, thread hops, event loop) | | "
        f"{ms(p50([t - a for t, a in zip(ttfts, accounted, strict=True)]))} | | |",
    ]
    outside = statements["(outside the wrapped steps)"]
    if outside:
        lines.append(f"| SQL outside the wrapped steps | | | | {outside / count:.1f} |")
    for label, values in alone.items():
        lines.append(f"| {label}, alone | | {ms(p50(values))} / {ms(p95(values))} | | |")
    return lines


def versions() -> str:
    names = ("django", "uvicorn", "uvloop", "httptools", "openai", "asgiref", "psycopg", "torch")
    return f"{harness.versions(names)}, PostgreSQL {harness.postgres_versions()[0]}"


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short check: few requests, one round")
    parser.add_argument(
        "--workers", help="uvicorn --workers per server, comma-separated (default 1,2; 1 with --quick)"
    )
    parser.add_argument("--sequential", type=int, default=200, help="requests per arm at 1 concurrent")
    parser.add_argument("--rounds", type=int, default=10, help=f"rounds of {CONCURRENCY} at once per arm")
    parser.add_argument("--inprocess", type=int, default=40, help="in-process turns for the step breakdown")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and the logs")
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.rounds, args.inprocess = 10, 1, 5
    workers = args.workers or ("1" if args.quick else "1,2")
    worker_counts = [int(value) for value in workers.split(",") if value.strip()]

    harness.interrupt_on_signals()
    started = time.perf_counter()
    print(
        f"# chat benchmark: TTFT direct vs through Groundwork (workers {worker_counts}); 1 concurrent x"
        f" {args.sequential}, {CONCURRENCY} concurrent x {args.rounds} rounds per arm",
        flush=True,
    )
    load_start = load_average()
    # Undone in reverse at the end, on errors, on Ctrl-C and on SIGTERM: the servers and the stub stop,
    # the scratch database goes, then the logs (kept with --keep or when the run did not finish).
    with ExitStack() as stack:
        log_dir = stack.enter_context(harness.log_directory("bench-chat-", keep=args.keep))
        stack.enter_context(harness.scratch_database(DATABASE, keep=args.keep))
        call_command("migrate", verbosity=0)
        stub = stack.enter_context(start_stub(log_dir))
        environment = harness.web_server_environment(queue=QUEUE, openai_base_url=stub.url)
        servers = [
            stack.enter_context(harness.start_web_server(workers, environment, log_dir))
            for workers in worker_counts
        ]
        world = make_world()
        # In-process turns call the same stub, with the servers' settings.
        settings.OPENAI_BASE_URL = stub.url
        settings.MODEL_CALL_MAX_RETRIES = 0
        cold: list[str] = []
        warming = threading.Thread(target=lambda: cold.extend(cold_start(servers, world)), daemon=True)
        warming.start()  # the servers start and load their models while this process ingests
        ingest(world)
        warming.join()
        print(
            f"  set-up: {len(ARTICLES)} articles, {world.chunks} chunks ingested in"
            f" {world.ingest_seconds:.1f} s; {len(world.bots)} bots; stub at {stub.url};"
            f" servers started ({len(cold)} errors)",
            flush=True,
        )
        connection.close()  # the servers get the database to themselves while measured

        async def run() -> tuple[list[Arm], list[tuple[str, str]], list[str], DatabaseCounters, int]:
            arms = [Arm(DIRECT, openai.AsyncOpenAI(base_url=stub.url, api_key=STUB_KEY, max_retries=0), None)]
            arms += [
                Arm(
                    server.name,
                    openai.AsyncOpenAI(base_url=f"{server.url}/api/v1", api_key=world.secret, max_retries=0),
                    server,
                )
                for server in servers
            ]
            warm = (3, 1) if args.quick else (10, 3)
            problems = await warm_up(arms, world, *warm)
            print(f"  warmed up ({len(problems)} errors); load {load_average()}", flush=True)
            # Sessions and transactions per turn, on the first server alone, one request at a time.
            counters_before = await asyncio.to_thread(DatabaseCounters.read)
            accounting = 10 if args.quick else 40
            for index in range(accounting):
                await one_chat(arms[1], 0, index, world)
            await asyncio.sleep(1.0)  # ended sessions flush their statistics
            counters = (await asyncio.to_thread(DatabaseCounters.read)).minus(counters_before)
            meters = Meters(stub, servers)
            loads = await measure(arms, world, meters, args.sequential, args.rounds)
            for arm in arms:
                await arm.client.close()
            return arms, loads, problems, counters, accounting

        arms, loads, problems, counters, accounting = asyncio.run(run())
        print(f"  in-process breakdown: {args.inprocess} turns", flush=True)
        turns, statements, alone = inprocess(world, args.inprocess)
        load_end = load_average()

        levels = (1, CONCURRENCY)
        print()
        print("### Machine and set-up")
        print()
        print(f"- {os.cpu_count()} cores; {versions()}")
        print(
            f"- load average (1/5/15 min): {load_start} at the start, {load_end} at the end;"
            " during the timed part:"
        )
        for label, value in loads:
            print(f"  {label}: {value}")
        print(
            f"- knowledge base: {len(ARTICLES)} pasted articles, {world.chunks} chunks, local embedder,"
            f" ingested in this process in {world.ingest_seconds:.1f} s;"
            f" the stub answers {len(ANSWER.split())} words"
        )
        if problems:
            print(f"- warm-up errors: {Counter(problems).most_common(5)}")
        print()
        print("### Time to first token")
        print()
        print("\n".join(results_table(arms, levels)))
        errors = Counter(sample.error for arm in arms for sample in arm.samples if sample.error)
        if errors:
            print()
            print(f"Errors: {errors.most_common(10)}")
        print()
        print("### Where the time goes (the server's rows, per request)")
        print()
        print("\n".join(timeline_table(world, arms, levels)))
        print("### CPU per request")
        print()
        print("\n".join(cpu_table(arms, levels)))
        print()
        print(
            f"PostgreSQL, {accounting} sequential turns through {servers[0].name}:"
            f" {counters.sessions / accounting:.2f} sessions (connections),"
            f" {counters.transactions / accounting:.1f} transactions,"
            f" {counters.inserted / accounting:.1f} rows inserted per turn"
        )
        print()
        print("### The steps of a turn (in process)")
        print()
        print("\n".join(inprocess_table(turns, statements, alone)))
        print()
        print(f"Total run time: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:  # --help, a usage error: nothing was started
        raise
    except BaseException:
        # main() has cleaned up (its finally). Interrupted inside async_to_sync (ingestion), asgiref's
        # loop thread waits forever for this thread to run its sync calls, and the interpreter would
        # wait for that thread at exit: report and leave without joining it.
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
