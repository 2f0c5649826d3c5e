"""Input and output shapes of the regression suites REST API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    extend_schema_field,
)
from rest_framework import serializers

from bots import bot_settings
from bots.chat.serializers import CitationOutput
from bots.models import (
    CaseResult,
    MessageOutcome,
    RegressionCase,
    RegressionRun,
    RegressionSuite,
    RunConfiguration,
    RunStatus,
    RunTrigger,
    SuiteSchedule,
)
from bots.regression import selectors, services
from bots.regression.case_files import IMPORT_FORMATS, MAX_IMPORT_BYTES
from core.serializers import StrictInputSerializer

MAX_EXPECTED_FACTS = 20

# Nested input and output serializers carry names unique across the API: the OpenAPI component name is
# the class name, and drf-spectacular would otherwise document two different objects under one name.
# Fields named "status" and "kind" exist elsewhere with other choices; they are documented as strings
# with their values in the help text, so the schema's enum names stay stable.


MAX_REQUIRED_DOCUMENTS = 50


QUESTION_MAX_LENGTH = 4000


NOTES_MAX_LENGTH = 4000


RUBRIC_MAX_LENGTH = 4000


class RegressionBotOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class RegressionSuiteRefOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class LatestRunOutput(serializers.ModelSerializer):
    status = serializers.CharField(help_text=" or ".join(RunStatus.values))
    live_pass_rate = serializers.FloatField(
        allow_null=True, help_text="The live bot's share of passing cases (0 to 1); null until it finishes."
    )

    class Meta:
        model = RegressionRun
        fields = ["id", "status", "created_at", "live_pass_rate", "drift_detected"]


class RegressionSuiteOutput(serializers.ModelSerializer):
    bot = RegressionBotOutput()
    schedule = serializers.ChoiceField(choices=SuiteSchedule.choices)
    judge_model = serializers.CharField(
        help_text="The model that grades each answer with the rubric; empty: deterministic checks only."
    )
    next_run_at = serializers.DateTimeField(
        allow_null=True, help_text="When the schedule runs the suite next; null when it is off."
    )
    drift_tolerance = serializers.FloatField(
        help_text="How far (0 to 1) a scheduled run's live pass rate may fall below the previous run's "
        "before it is a drift alert."
    )
    case_count = serializers.IntegerField()
    latest_run = serializers.SerializerMethodField(help_text="The most recent run, or null.")

    class Meta:
        model = RegressionSuite
        fields = [
            "id",
            "bot",
            "name",
            "description",
            "judge_model",
            "judge_rubric",
            "schedule",
            "next_run_at",
            "drift_tolerance",
            "case_count",
            "latest_run",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(LatestRunOutput(allow_null=True))
    def get_latest_run(self, suite: RegressionSuite) -> dict[str, Any] | None:
        latest = selectors.latest_run(suite=suite)
        return dict(LatestRunOutput(latest).data) if latest else None


class RegressionCaseOutput(serializers.ModelSerializer):
    expected_facts = serializers.ListField(
        child=serializers.CharField(),
        help_text="Each must appear in the answer (ignoring case, spacing and emphasis).",
    )
    required_document_ids = serializers.ListField(
        child=serializers.UUIDField(), help_text="Each must be among the answer's citations."
    )
    must_refuse = serializers.BooleanField(help_text="Out of scope: the bot must decline to answer.")
    source_message_id = serializers.UUIDField(
        allow_null=True, help_text="The conversation answer the case was made from, if any."
    )

    class Meta:
        model = RegressionCase
        fields = [
            "id",
            "question",
            "expected_facts",
            "required_document_ids",
            "must_refuse",
            "notes",
            "source_message_id",
            "created_at",
        ]


class CaseImportOutput(serializers.Serializer):
    imported = serializers.IntegerField(help_text="How many cases were added.")
    cases = RegressionCaseOutput(many=True)


class RunConfigurationOutput(serializers.ModelSerializer):
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="“Live”, a candidate's label, or what the candidate changes."
    )
    is_live = serializers.BooleanField(help_text="The bot's settings as they are.")
    overrides = serializers.DictField(
        child=serializers.JSONField(), help_text="The settings the candidate changes (empty for live)."
    )
    settings_used = serializers.DictField(
        child=serializers.JSONField(),
        help_text="What it answered with: the bot's settings when the run started, with the overrides "
        "applied (filled in when the configuration starts).",
    )
    pass_rate = serializers.FloatField(allow_null=True, help_text="Passed over answered cases (0 to 1).")
    latency_ms_median = serializers.IntegerField(allow_null=True)

    class Meta:
        model = RunConfiguration
        fields = [
            "id",
            "label",
            "is_live",
            "overrides",
            "settings_used",
            "passed",
            "failed",
            "pass_rate",
            "cost_usd",
            "latency_ms_median",
        ]


class RegressionRunOutput(serializers.ModelSerializer):
    status = serializers.CharField(help_text=" or ".join(RunStatus.values))
    trigger = serializers.ChoiceField(choices=RunTrigger.choices)
    done = serializers.IntegerField(help_text="Cases answered and scored, over every configuration.")
    total = serializers.IntegerField(help_text="Cases times configurations.")
    progress = serializers.SerializerMethodField(help_text="done / total, from 0 to 1.")
    error_message = serializers.CharField(help_text="Why the run failed; empty otherwise.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    live_pass_rate = serializers.FloatField(allow_null=True, help_text="The live configuration's pass rate.")
    previous_pass_rate = serializers.FloatField(
        allow_null=True, help_text="The live pass rate of the suite's previous completed run."
    )
    drift_detected = serializers.BooleanField(
        help_text="The live pass rate fell below the previous run's by more than the suite's tolerance."
    )
    drift_acknowledged = serializers.BooleanField()
    configurations = serializers.SerializerMethodField(help_text="The columns, live first.")

    class Meta:
        model = RegressionRun
        fields = [
            "id",
            "status",
            "trigger",
            "done",
            "total",
            "progress",
            "error_message",
            "started_at",
            "finished_at",
            "live_pass_rate",
            "previous_pass_rate",
            "drift_detected",
            "drift_acknowledged",
            "configurations",
            "created_at",
        ]

    def get_progress(self, run: RegressionRun) -> float:
        if run.status == RunStatus.COMPLETED:
            return 1.0
        return min(1.0, run.done / run.total) if run.total else 0.0

    @extend_schema_field(RunConfigurationOutput(many=True))
    def get_configurations(self, run: RegressionRun) -> Any:
        configurations = selectors.run_configurations(tenant=self.context["tenant"], run=run)
        return RunConfigurationOutput(configurations, many=True).data


class DriftAlertOutput(RegressionRunOutput):
    suite = RegressionSuiteRefOutput()
    bot = RegressionBotOutput(source="suite.bot")

    class Meta(RegressionRunOutput.Meta):
        fields = [*RegressionRunOutput.Meta.fields, "suite", "bot"]


class CheckOutput(serializers.Serializer):
    check = serializers.CharField(help_text="fact, citation, refusal, answered, error or judge.")
    expected = serializers.CharField(help_text="The fact, the document, or the judge model.")
    passed = serializers.BooleanField()
    detail = serializers.CharField(help_text="Why it failed, for people.")


class CaseResultOutput(serializers.ModelSerializer):
    configuration_id = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=MessageOutcome.choices, allow_blank=True)
    checks = CheckOutput(many=True)
    judge_passed = serializers.BooleanField(allow_null=True, help_text="Null without a judge model.")
    citations = CitationOutput(many=True)
    model_version = serializers.CharField(help_text="The exact model version that answered.")

    class Meta:
        model = CaseResult
        fields = [
            "configuration_id",
            "answer",
            "outcome",
            "passed",
            "checks",
            "judge_passed",
            "judge_reasoning",
            "citations",
            "cost_usd",
            "latency_ms",
            "model_version",
            "error_message",
        ]


@extend_schema_field(CaseResultOutput(allow_null=True))
class CaseResultCellField(serializers.Field):
    """One configuration's result in a report row, or null (documented as a nullable result)."""

    def to_representation(self, value: CaseResult) -> Any:
        return CaseResultOutput(value).data


class ReportColumnOutput(serializers.Serializer):
    configuration_id = serializers.UUIDField()
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.label.
    label = serializers.CharField()  # type: ignore[assignment]
    is_live = serializers.BooleanField()
    pass_rate = serializers.FloatField(allow_null=True)
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=8)
    latency_ms_median = serializers.IntegerField(allow_null=True)
    regressions = serializers.IntegerField(help_text="Cases the baseline passes and this one fails.")
    improvements = serializers.IntegerField(help_text="Cases the baseline fails and this one passes.")


class ReportRowOutput(serializers.Serializer):
    case_id = serializers.UUIDField(allow_null=True, help_text="Null if the case was deleted since.")
    question = serializers.CharField(help_text="As it was asked.")
    kind = serializers.CharField(
        help_text="Against the baseline (the live column): regression, failing, improvement or passing."
    )
    answers_differ = serializers.BooleanField()
    regressed_in = serializers.ListField(
        child=serializers.UUIDField(), help_text="The configurations that fail what the baseline passes."
    )
    results = serializers.ListField(
        child=CaseResultCellField(),
        help_text="One per configuration, in the columns' order; null where it was not answered (yet).",
    )


class RunReportOutput(serializers.Serializer):
    run = RegressionRunOutput()
    columns = ReportColumnOutput(many=True)
    rows = ReportRowOutput(
        many=True, help_text="Regressions first, then failing, improved and passing cases."
    )


class GateFailingOutput(serializers.Serializer):
    question = serializers.CharField()
    regressed = serializers.BooleanField(help_text="The live settings pass it; the candidate fails it.")
    checks = CheckOutput(many=True, help_text="The checks it failed.")


class ModelGateOutput(serializers.Serializer):
    status = serializers.CharField(
        help_text="untested (no completed comparison changing only the chat model to it), regressed or "
        "passed."
    )
    candidate_model = serializers.CharField()
    run_id = serializers.UUIDField(allow_null=True, help_text="The comparison the verdict comes from.")
    suite = RegressionSuiteRefOutput(allow_null=True)
    live_pass_rate = serializers.FloatField(allow_null=True)
    candidate_pass_rate = serializers.FloatField(allow_null=True)
    compared_with_model = serializers.CharField(help_text="The live chat model in that comparison.")
    failing = GateFailingOutput(many=True, help_text="Regressions first.")


class RegressionSuiteFilterInput(StrictInputSerializer):
    bot = serializers.CharField(max_length=100, required=False, help_text="A bot's id or slug.")


class RegressionSuiteSettingsFields(StrictInputSerializer):
    """The settings shared by creating and changing a suite."""

    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    judge_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A chat model reference that grades each answer with the rubric; empty: deterministic "
        "checks only.",
    )
    judge_rubric = serializers.CharField(max_length=RUBRIC_MAX_LENGTH, required=False, allow_blank=True)
    schedule = serializers.ChoiceField(
        choices=SuiteSchedule.choices, required=False, help_text="Scheduled runs test the live bot only."
    )
    drift_tolerance = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        help_text="How far the live pass rate may fall before a scheduled run alerts (0 to 1).",
    )


class RegressionSuiteCreateInput(RegressionSuiteSettingsFields):
    bot = serializers.CharField(max_length=100, help_text="The bot's id or slug.")
    name = serializers.CharField(max_length=120)


class RegressionSuiteUpdateInput(RegressionSuiteSettingsFields):
    name = serializers.CharField(max_length=120, required=False)


class RegressionCaseInput(StrictInputSerializer):
    """A case; creating one needs only ``question``. PATCH changes what it sends."""

    question = serializers.CharField(max_length=QUESTION_MAX_LENGTH)
    expected_facts = serializers.ListField(
        child=serializers.CharField(max_length=500),
        max_length=MAX_EXPECTED_FACTS,
        required=False,
        help_text="Each must appear in the answer (ignoring case, spacing and emphasis).",
    )
    required_document_ids = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=MAX_REQUIRED_DOCUMENTS,
        required=False,
        help_text="Documents of the bot's knowledge bases the answer must cite.",
    )
    must_refuse = serializers.BooleanField(required=False, help_text="The bot must decline to answer.")
    notes = serializers.CharField(max_length=NOTES_MAX_LENGTH, required=False, allow_blank=True)


@extend_schema_field({"type": "string", "format": "binary"})
class CaseFileField(serializers.FileField):
    """A file part of a multipart body (documented as binary, not as a URL)."""


class CaseImportUploadInput(StrictInputSerializer):
    """A CSV or JSON Lines file, as multipart/form-data."""

    file = CaseFileField(
        help_text="CSV with a header row (question, expected_facts, required_document_ids, must_refuse, "
        'notes; lists separated by "|"), or JSON Lines (one object a line, lists as arrays).'
    )
    format = serializers.ChoiceField(
        choices=list(IMPORT_FORMATS), required=False, help_text="Default: from the file's extension."
    )


class CaseImportContentInput(StrictInputSerializer):
    """The file's text in a JSON body."""

    format = serializers.ChoiceField(choices=list(IMPORT_FORMATS))
    content = serializers.CharField(
        max_length=MAX_IMPORT_BYTES, trim_whitespace=False, help_text="The CSV or JSON Lines text."
    )


class CaseExportInput(StrictInputSerializer):
    format = serializers.ChoiceField(
        choices=list(IMPORT_FORMATS), default="csv", help_text="csv, or jsonl (one JSON object a line)."
    )


class CaseFromMessageInput(StrictInputSerializer):
    message_id = serializers.UUIDField(
        help_text="A question or answer of a conversation with the suite's bot."
    )


class RunOverridesInput(StrictInputSerializer):
    """The settings a candidate changes; everything else is the bot's as it is when the run starts."""

    embedding_model = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Tried on a scratch copy of the knowledge bases' index, built for the run and dropped "
        "after it.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # The bot settings a candidate may change, as bots.bot_settings declares them.
        candidates = bot_settings.serializer_fields(bot_settings.CANDIDATE_NAMES, help_text=False)
        return {**candidates, **super().get_fields()}


class RunCandidateInput(StrictInputSerializer):
    # DRF's serializer metaclass takes declared fields off the class: this does not replace Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=120, required=False, allow_blank=True, help_text="Default: what it changes, in words."
    )
    overrides = RunOverridesInput()


class RunStartInput(StrictInputSerializer):
    candidates = RunCandidateInput(
        many=True,
        required=False,
        max_length=services.MAX_CANDIDATES,  # type: ignore[call-arg]  # DRF 3.14+; the stubs lag
        help_text="Compared side by side with the live bot.",
    )
    include_live = serializers.BooleanField(
        required=False, default=True, help_text="Also run the bot as it is (the report's baseline)."
    )


class ModelGateInput(StrictInputSerializer):
    model = serializers.CharField(max_length=200, help_text="The chat model reference to switch to.")
