"""Bots, their conversations and messages.

A bot is a chat model with instructions, knowledge bases to answer from and an answer policy. Each
conversation belongs to one bot and one channel (the dashboard's playground, the REST API, the
OpenAI-compatible endpoint, the widget); each message stores what was asked or answered with everything
needed to explain and bill it afterwards: the retrieved chunks, the citations, tokens, cost, latency,
time to first token and the exact model version that answered.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.db import models

from knowledge.models import KnowledgeBase, RetrievalMode
from tenants.models import TenantOwnedModel, User

PUBLISHABLE_KEY_PREFIX = "gw_pk_"


def new_publishable_key() -> str:
    """A key the widget shows in page source: it identifies a bot, it grants nothing else."""
    return PUBLISHABLE_KEY_PREFIX + secrets.token_urlsafe(24)


class AnswerPolicy(models.TextChoices):
    STRICT = "strict", "Strict: answer only from the knowledge bases"
    OPEN = "open", "Open: use the knowledge bases, and general knowledge when they are silent"


class WidgetPosition(models.TextChoices):
    RIGHT = "right", "Bottom right"
    LEFT = "left", "Bottom left"


class WidgetIcon(models.TextChoices):
    CHAT = "chat", "Speech bubble"
    HELP = "help", "Question mark"
    SPARKLES = "sparkles", "Sparkles"
    HEADSET = "headset", "Headset"


class BotStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class Bot(TenantOwnedModel):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80)
    avatar = models.CharField(max_length=8, blank=True)  # an emoji or up to two letters
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True)
    greeting = models.CharField(max_length=500, blank=True)
    suggested_questions = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    chat_model = models.CharField(max_length=200)  # a model reference, e.g. "openai:gpt-4o-mini"
    fallback_model = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(default=0.2)
    max_output_tokens = models.PositiveIntegerField(default=800)
    knowledge_bases = models.ManyToManyField(KnowledgeBase, through="BotKnowledgeBase", related_name="bots")
    retrieval_top_k = models.PositiveIntegerField(default=5)
    retrieval_score_threshold = models.FloatField(default=0.3)
    retrieval_mode = models.CharField(
        max_length=10, choices=RetrievalMode.choices, default=RetrievalMode.HYBRID
    )
    answer_policy = models.CharField(max_length=10, choices=AnswerPolicy.choices, default=AnswerPolicy.STRICT)
    handoff_message = models.CharField(
        max_length=500,
        blank=True,
        default=(
            "I couldn't find that in our help content. Please contact our support team and we'll help you."
        ),
    )
    show_citations = models.BooleanField(default=True)
    rewrite_follow_ups = models.BooleanField(default=True)
    language = models.CharField(max_length=40, blank=True)  # empty: answer in the visitor's language
    status = models.CharField(max_length=10, choices=BotStatus.choices, default=BotStatus.DRAFT)
    publishable_key = models.CharField(max_length=64, unique=True, default=new_publishable_key)
    # The websites whose pages may use the widget. Deny by default: an empty list allows none, unless the
    # tenant explicitly chooses any origin.
    allowed_origins = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    allow_any_origin = models.BooleanField(default=False)
    # Identity verification: the tenant's server signs a signed-in user's id with this secret (HMAC-SHA256)
    # so that user's widget conversations cannot be claimed by anyone else. Fernet-encrypted; empty: off.
    identity_secret = models.TextField(blank=True)
    widget_title = models.CharField(max_length=80, blank=True)  # empty: the bot's name
    widget_color = models.CharField(max_length=7, default="#4f46e5")
    widget_position = models.CharField(
        max_length=5, choices=WidgetPosition.choices, default=WidgetPosition.RIGHT
    )
    widget_icon = models.CharField(max_length=10, choices=WidgetIcon.choices, default=WidgetIcon.CHAT)
    daily_budget_usd = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="bot_unique_slug"),
            models.UniqueConstraint(fields=["tenant", "name"], name="bot_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def initials(self) -> str:
        return self.avatar or "".join(word[0] for word in self.name.split()[:2]).upper()


class BotKnowledgeBase(TenantOwnedModel):
    """A knowledge base a bot answers from (a tenant-owned row, so RLS covers the link too)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="+")
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "knowledge_base"], name="bot_knowledge_base_once"),
        ]


class Channel(models.TextChoices):
    PLAYGROUND = "playground", "Playground"
    API = "api", "REST API"
    OPENAI = "openai", "OpenAI-compatible API"
    WIDGET = "widget", "Widget"


class Conversation(TenantOwnedModel):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=12, choices=Channel.choices)
    visitor_id = models.CharField(max_length=100, blank=True)  # the widget's anonymous visitor
    title = models.CharField(max_length=200, blank=True)  # the first question, shortened
    started_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    last_message_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    unanswered_count = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))

    class Meta:
        indexes = [models.Index(fields=["tenant", "bot", "-last_message_at"], name="conversation_recent")]

    def __str__(self) -> str:
        return self.title or str(self.pk)


class MessageRole(models.TextChoices):
    USER = "user", "Visitor"
    ASSISTANT = "assistant", "Bot"


class MessageOutcome(models.TextChoices):
    ANSWERED = "answered", "Answered"
    NO_ANSWER = "no_answer", "Nothing relevant found"  # strict policy, nothing retrieved: handoff message
    CANCELLED = "cancelled", "Cancelled by the visitor"
    ERROR = "error", "Error"
    REFUSED = "refused", "Refused (budget or rate limit)"


class Message(TenantOwnedModel):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=MessageOutcome.choices, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    standalone_question = models.TextField(blank=True)  # the follow-up rewritten to stand alone
    # [{"number", "chunk_id", "document_id", "title", "source", "page_number", "anchor", "snippet", "score"}]
    citations = models.JSONField(default=list, blank=True)
    retrieved_chunk_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    model_ref = models.CharField(max_length=200, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    rating = models.SmallIntegerField(null=True, blank=True)  # +1 or -1
    feedback_comment = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_conversation_time")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


# --- regression suites ------------------------------------------------------------------------------


class SuiteSchedule(models.TextChoices):
    OFF = "off", "Only when started"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"


DEFAULT_JUDGE_RUBRIC = (
    "Pass the answer if it answers the question correctly and completely from the expected facts, "
    "without inventing anything they contradict, in a helpful tone. Fail it if it is wrong, misses an "
    "expected fact, or answers when it should have declined."
)


class RegressionSuite(TenantOwnedModel):
    """Questions a bot must keep answering well, run against its live settings and candidates."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="suites")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    judge_model = models.CharField(max_length=200, blank=True)  # empty: deterministic checks only
    judge_rubric = models.TextField(blank=True, default=DEFAULT_JUDGE_RUBRIC)
    schedule = models.CharField(max_length=10, choices=SuiteSchedule.choices, default=SuiteSchedule.OFF)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A run whose live pass rate falls by more than this (0.0 to 1.0) below the previous run's, on the
    # cases both asked, alerts.
    drift_tolerance = models.FloatField(default=0.0)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "name"], name="suite_unique_name")]
        indexes = [models.Index(fields=["schedule", "next_run_at"], name="suite_due")]

    def __str__(self) -> str:
        return self.name


class RegressionCase(TenantOwnedModel):
    suite = models.ForeignKey(RegressionSuite, on_delete=models.CASCADE, related_name="cases")
    question = models.TextField()
    # Each must appear in the answer (case- and spacing-insensitive).
    expected_facts = ArrayField(models.CharField(max_length=500), default=list, blank=True)
    # Each must be among the answer's citations.
    required_document_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    must_refuse = models.BooleanField(default=False)  # out of scope: the bot must decline
    notes = models.TextField(blank=True)
    source_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )  # the conversation answer this case was made from

    class Meta:
        indexes = [models.Index(fields=["suite", "created_at"], name="case_suite_time")]

    def __str__(self) -> str:
        return self.question[:60]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Started by hand"
    SCHEDULED = "scheduled", "Scheduled"


class RegressionRun(TenantOwnedModel):
    suite = models.ForeignKey(RegressionSuite, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    total = models.PositiveIntegerField(default=0)  # cases times configurations
    done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Drift: the live configuration's pass rate against the previous completed run's (previous_pass_rate
    # is that run's rate on the cases both asked).
    live_pass_rate = models.FloatField(null=True, blank=True)
    previous_pass_rate = models.FloatField(null=True, blank=True)
    drift_detected = models.BooleanField(default=False)
    drift_acknowledged = models.BooleanField(default=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["suite", "-created_at"], name="run_suite_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]


class RunConfiguration(TenantOwnedModel):
    """One column of a run: the bot as it is (``is_live``), or a candidate that changes some settings."""

    run = models.ForeignKey(RegressionRun, on_delete=models.CASCADE, related_name="configurations")
    position = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=120)
    is_live = models.BooleanField(default=False)
    # The settings it changes: chat_model, instructions, retrieval_top_k, retrieval_score_threshold,
    # retrieval_mode, embedding_model.
    overrides = models.JSONField(default=dict, blank=True)
    # What it ran with: the bot's settings at the start of the run with the overrides applied.
    settings_used = models.JSONField(default=dict, blank=True)
    # A candidate embedding model is evaluated on a scratch copy of the knowledge bases' index, built
    # under this version for the run and deleted after it.
    scratch_index_version = models.PositiveIntegerField(null=True, blank=True)
    scratch_index_ready = models.BooleanField(default=False)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms_median = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="run_configuration_once")]

    @property
    def pass_rate(self) -> float | None:
        total = self.passed + self.failed
        return self.passed / total if total else None


class CaseResult(TenantOwnedModel):
    run = models.ForeignKey(RegressionRun, on_delete=models.CASCADE, related_name="results")
    configuration = models.ForeignKey(RunConfiguration, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(RegressionCase, on_delete=models.SET_NULL, null=True, related_name="results")
    question = models.TextField()  # as it was asked (the case may change or go later)
    answer = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=MessageOutcome.choices, blank=True)
    citations = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=200, blank=True)
    passed = models.BooleanField(default=False)
    # [{"check": "fact" | "citation" | "refusal" | "judge", "expected": ..., "passed": bool, "detail": ...}]
    checks = models.JSONField(default=list, blank=True)
    judge_passed = models.BooleanField(null=True, blank=True)
    judge_reasoning = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            # A run restarted after a worker died never stores a case twice.
            models.UniqueConstraint(fields=["configuration", "case"], name="case_result_once"),
        ]
