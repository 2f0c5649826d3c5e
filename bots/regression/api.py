"""REST endpoints for regression suites: suites and their cases (by hand, imported, exported, from a
conversation), runs of the live bot beside candidate settings, the side-by-side report, drift alerts and
the switching gate a bot's chat model is checked against.

Starting a run answers 202 with the queued run; poll its ``Location`` for ``status`` and ``progress``.
Objects named in a request *body* that are not the tenant's (the suite's bot, a message) are a 400 on
that field, with the same message for "missing" and "another tenant's"; ids in the URL are a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors as bot_selectors
from bots.api import CitationOutput
from bots.models import (
    Bot,
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
from bots.streaming import EXPORT_FORMATS
from core.errors import NotFound, ValidationFailed
from core.pagination import CursorPagination
from core.serializers import StrictInputSerializer
from core.uploads import limit_uploads
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from tenants.api_base import TenantAPIView

# Nested input and output serializers carry names unique across the API: the OpenAPI component name is
# the class name, and drf-spectacular would otherwise document two different objects under one name.
# Fields named "status" and "kind" exist elsewhere with other choices; they are documented as strings
# with their values in the help text, so the schema's enum names stay stable.

BOT_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The bot's id or slug.")
IMPORT_FORMATS = ("csv", "jsonl")
# Spreadsheet programs run a cell that starts with one of these as a formula, and a case's question can
# be a visitor's (``from-message``): such cells are exported with a leading ' so they show as text.
PAGINATION_PARAMETERS = ("cursor", "page_size")
MAX_EXPECTED_FACTS = 20
MAX_REQUIRED_DOCUMENTS = 50
QUESTION_MAX_LENGTH = 4000
NOTES_MAX_LENGTH = 4000
RUBRIC_MAX_LENGTH = 4000


# --- output -----------------------------------------------------------------------------------------


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
        recent = getattr(suite, "recent_runs", None)
        if recent is None:  # a suite not read through selectors.suite_list (just created or changed)
            recent = list(selectors.run_list(tenant=self.context["tenant"], suite=suite)[:1])
        return dict(LatestRunOutput(recent[0]).data) if recent else None


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


# --- input ------------------------------------------------------------------------------------------


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
        max_length=services.MAX_IMPORT_BYTES, trim_whitespace=False, help_text="The CSV or JSON Lines text."
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

    chat_model = serializers.CharField(max_length=200, required=False)
    instructions = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
    retrieval_top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, required=False)
    retrieval_score_threshold = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    retrieval_mode = serializers.ChoiceField(choices=RetrievalMode.choices, required=False)
    embedding_model = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Tried on a scratch copy of the knowledge bases' index, built for the run and dropped "
        "after it.",
    )


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


# --- helpers ------------------------------------------------------------------------------------------


def _query(request: Request, serializer: type[StrictInputSerializer]) -> dict[str, Any]:
    """A query string's values, validated (the paginator's parameters aside)."""
    query = {name: value for name, value in request.query_params.items() if name not in PAGINATION_PARAMETERS}
    data = serializer(data=query)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def _bot_named(view: TenantAPIView, reference: str | None, field: str = "bot") -> Bot | None:
    """The tenant's bot by id or slug, or a 400 on ``field`` (missing and another tenant's alike)."""
    if not reference:
        return None
    try:
        return bot_selectors.bot_get(tenant=view.actor.tenant, bot_id=reference)
    except NotFound:
        raise ValidationFailed("No such bot.", field_errors={field: ["No such bot."]}) from None


def _format_of(filename: str) -> str | None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return extension if extension in IMPORT_FORMATS else None


def _import_limit_message(name: str) -> str:
    return f"Import files are limited to {filesizeformat(services.MAX_IMPORT_BYTES)}."


def _report_body(report: selectors.Report) -> dict[str, Any]:
    configuration_ids = [configuration.pk for configuration in report.configurations]
    return {
        "run": report.run,
        "columns": [
            {
                "configuration_id": column.configuration.pk,
                "label": column.configuration.label,
                "is_live": column.configuration.is_live,
                "pass_rate": column.configuration.pass_rate,
                "passed": column.configuration.passed,
                "failed": column.configuration.failed,
                "cost_usd": column.configuration.cost_usd,
                "latency_ms_median": column.configuration.latency_ms_median,
                "regressions": column.regressions,
                "improvements": column.improvements,
            }
            for column in report.columns
        ],
        "rows": [
            {
                "case_id": row.case_id,
                "question": row.question,
                "kind": row.kind,
                "answers_differ": row.answers_differ,
                "regressed_in": [configuration_ids[position] for position in row.regressed_in],
                "results": row.cells,
            }
            for row in report.rows
        ],
    }


def _gate_body(gate: selectors.Gate) -> dict[str, Any]:
    run = gate.run
    return {
        "status": gate.status,
        "candidate_model": gate.candidate_model,
        "run_id": run.pk if run else None,
        "suite": {"id": run.suite.pk, "name": run.suite.name} if run else None,
        "live_pass_rate": gate.live_pass_rate,
        "candidate_pass_rate": gate.candidate_pass_rate,
        "compared_with_model": gate.compared_with_model,
        "failing": [
            {"question": case.question, "regressed": case.regressed, "checks": case.checks}
            for case in gate.failing
        ],
    }


# --- endpoints --------------------------------------------------------------------------------------


class CaseCursorPagination(CursorPagination):
    ordering = "created_at"  # the suite's order, as runs and exports take the cases


class RegressionAPIView(TenantAPIView):
    """Base of this module's views: cursor pagination, and how suites, cases and runs are shaped."""

    pagination_class = CursorPagination

    def suite_body(self, suite: RegressionSuite) -> Any:
        return RegressionSuiteOutput(suite, context=self.output_context()).data

    def run_body(self, run: RegressionRun) -> Any:
        return RegressionRunOutput(run, context=self.output_context()).data

    def suite(self, suite_id: uuid.UUID) -> RegressionSuite:
        return selectors.suite_get(tenant=self.actor.tenant, suite_id=suite_id)


class SuiteListView(RegressionAPIView):
    """Regression suites, newest first (``?bot=`` for one bot's); ``POST`` creates one for a bot."""

    @extend_schema(parameters=[RegressionSuiteFilterInput], responses=RegressionSuiteOutput(many=True))
    def get(self, request: Request) -> Response:
        bot = _bot_named(self, _query(request, RegressionSuiteFilterInput).get("bot"))
        return self.paginated(selectors.suite_list(tenant=self.actor.tenant, bot=bot), RegressionSuiteOutput)

    @extend_schema(request=RegressionSuiteCreateInput, responses={201: RegressionSuiteOutput})
    def post(self, request: Request) -> Response:
        data = RegressionSuiteCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        bot = _bot_named(self, values.pop("bot"))
        assert bot is not None  # the field is required and not blank
        created = services.suite_create(actor=self.actor, bot_id=bot.pk, **values)
        suite = self.suite(created.pk)  # with its case count
        return Response(
            self.suite_body(suite),
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("regression-suite-detail", kwargs={"id": suite.pk})},
        )


class SuiteDetailView(RegressionAPIView):
    """One suite. ``DELETE`` removes it with its cases and runs."""

    @extend_schema(responses=RegressionSuiteOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(self.suite_body(self.suite(id)))

    @extend_schema(request=RegressionSuiteUpdateInput, responses=RegressionSuiteOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
        self.suite(id)  # 404 before the body
        data = RegressionSuiteUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.suite_update(actor=self.actor, suite_id=id, **data.validated_data)
        return Response(self.suite_body(self.suite(id)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: uuid.UUID) -> Response:
        services.suite_delete(actor=self.actor, suite_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseListView(RegressionAPIView):
    """A suite's cases in the suite's order (oldest first); ``POST`` adds one."""

    pagination_class = CaseCursorPagination

    @extend_schema(responses=RegressionCaseOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        cases = selectors.case_list(tenant=self.actor.tenant, suite=self.suite(id))
        return self.paginated(cases, RegressionCaseOutput)

    @extend_schema(request=RegressionCaseInput, responses={201: RegressionCaseOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.suite(id)  # 404 before the body
        data = RegressionCaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.case_create(actor=self.actor, suite_id=suite.pk, **data.validated_data)
        return Response(
            RegressionCaseOutput(case).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("regression-case-detail", kwargs={"id": case.pk})},
        )


class CaseDetailView(RegressionAPIView):
    """One case. PATCH changes what it sends."""

    @extend_schema(responses=RegressionCaseOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(RegressionCaseOutput(selectors.case_get(tenant=self.actor.tenant, case_id=id)).data)

    @extend_schema(request=RegressionCaseInput, responses=RegressionCaseOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
        selectors.case_get(tenant=self.actor.tenant, case_id=id)  # 404 before the body
        data = RegressionCaseInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        case = services.case_update(actor=self.actor, case_id=id, **data.validated_data)
        return Response(RegressionCaseOutput(case).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, id: uuid.UUID) -> Response:
        services.case_delete(actor=self.actor, case_id=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseImportView(RegressionAPIView):
    """Add cases from a file: a multipart upload (``file``; ``format`` or the extension .csv / .jsonl
    says which), or JSON ``{"format", "content"}``. Every row is checked first: one bad row refuses the
    whole file with a 400 naming its line, and nothing is imported. Files are limited to 2 MB; a JSON
    body, like every API body, to ``API_MAX_BODY_BYTES`` (1 MiB by default): upload larger files."""

    parser_classes = [JSONParser, MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before anything can read the body: the size limit must be in place while a file streams in.
        limit_uploads(request._request, limit=services.MAX_IMPORT_BYTES, message=_import_limit_message)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": CaseImportUploadInput, "application/json": CaseImportContentInput},
        responses={201: CaseImportOutput},
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.suite(id)  # 404 before the body
        content, file_format = self.upload(request) if self.is_upload(request) else self.text(request)
        cases = services.cases_import(
            actor=self.actor, suite_id=suite.pk, content=content, file_format=file_format
        )
        body = {"imported": len(cases), "cases": cases}
        return Response(CaseImportOutput(body).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def is_upload(request: Request) -> bool:
        return (request.content_type or "").startswith("multipart/")

    @staticmethod
    def upload(request: Request) -> tuple[bytes, str]:
        data = CaseImportUploadInput(data=request.data)  # parsing the body runs the upload size limit
        data.is_valid(raise_exception=True)
        uploaded = data.validated_data["file"]
        file_format = data.validated_data.get("format") or _format_of(uploaded.name or "")
        if file_format is None:
            message = "Say which format the file is in: name it .csv or .jsonl, or send format."
            raise ValidationFailed(message, field_errors={"format": [message]})
        return b"".join(uploaded.chunks()), file_format

    @staticmethod
    def text(request: Request) -> tuple[bytes, str]:
        data = CaseImportContentInput(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data["content"].encode(), data.validated_data["format"]


class CaseExportView(RegressionAPIView):
    """The suite's cases as a file that the import reads back: CSV (lists joined with "|"; cells that
    start with = + - @ get a leading ' so spreadsheet programs show them as text) or JSON Lines."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # ``format`` names the export's format here, not a DRF renderer; errors are still JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[CaseExportInput],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Columns: " + ", ".join(services.CASE_FIELDS)
            ),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One case a line."),
        },
    )
    def get(self, request: Request, id: uuid.UUID) -> HttpResponse:
        suite = self.suite(id)
        export_format = _query(request, CaseExportInput)["format"]
        response = HttpResponse(
            selectors.cases_export(tenant=self.actor.tenant, suite=suite, export_format=export_format),
            content_type=EXPORT_FORMATS[export_format],
        )
        filename = f"{slugify(suite.name) or 'suite'}-cases.{export_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class CaseFromMessageView(RegressionAPIView):
    """A case from a conversation with the suite's bot: the visitor's question; for a good answer, the
    documents it cited become required citations; a question the bot declined, one it must decline. The
    answer of the day is kept in the notes."""

    @extend_schema(request=CaseFromMessageInput, responses={201: RegressionCaseOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.suite(id)  # 404 before the body
        data = CaseFromMessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        message_id = data.validated_data["message_id"]
        try:
            bot_selectors.message_get(tenant=self.actor.tenant, message_id=message_id)
        except NotFound:
            message = "No such message."
            raise ValidationFailed(message, field_errors={"message_id": [message]}) from None
        try:
            case = services.case_from_message(actor=self.actor, suite_id=suite.pk, message_id=message_id)
        except ValidationFailed as error:
            # The service names the field "message"; this endpoint's field is "message_id".
            if "message" in error.field_errors:
                error.field_errors["message_id"] = error.field_errors.pop("message")
            raise
        return Response(
            RegressionCaseOutput(case).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("regression-case-detail", kwargs={"id": case.pk})},
        )


class RunListView(RegressionAPIView):
    """A suite's runs, newest first; ``POST`` starts one: the live bot and up to three candidates side
    by side, answered in the background (202; poll the run's ``Location``). Nothing changes on the bot."""

    @extend_schema(responses=RegressionRunOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        runs = selectors.run_list(tenant=self.actor.tenant, suite=self.suite(id))
        return self.paginated(runs, RegressionRunOutput)

    @extend_schema(request=RunStartInput, responses={202: RegressionRunOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.suite(id)  # 404 before the body
        data = RunStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_start(
            actor=self.actor,
            suite_id=suite.pk,
            candidates=data.validated_data.get("candidates", []),
            include_live=data.validated_data["include_live"],
        )
        return Response(
            self.run_body(selectors.run_get(tenant=self.actor.tenant, run_id=run.pk)),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("regression-run-detail", kwargs={"id": run.pk})},
        )


class RunDetailView(RegressionAPIView):
    """One run: its progress while it runs, its totals per configuration when it is done."""

    @extend_schema(responses=RegressionRunOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(self.run_body(selectors.run_get(tenant=self.actor.tenant, run_id=id)))


class RunReportView(RegressionAPIView):
    """The run side by side: a column per configuration with its totals, a row per case with each
    configuration's answer and checks. Against the live column, regressions come first."""

    @extend_schema(responses=RunReportOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        run = selectors.run_get(tenant=self.actor.tenant, run_id=id)
        report = selectors.run_report(tenant=self.actor.tenant, run=run)
        return Response(RunReportOutput(_report_body(report), context=self.output_context()).data)


class RunAcknowledgeDriftView(RegressionAPIView):
    """Dismiss the run's drift alert; the run keeps its finding."""

    @extend_schema(request=None, responses=RegressionRunOutput)
    def post(self, request: Request, id: uuid.UUID) -> Response:
        run = services.run_acknowledge_drift(actor=self.actor, run_id=id)
        return Response(self.run_body(selectors.run_get(tenant=self.actor.tenant, run_id=run.pk)))


class DriftAlertListView(RegressionAPIView):
    """Completed runs whose live pass rate fell past the suite's tolerance and that nobody has
    acknowledged yet, newest first (``?bot=`` for one bot's)."""

    @extend_schema(parameters=[RegressionSuiteFilterInput], responses=DriftAlertOutput(many=True))
    def get(self, request: Request) -> Response:
        bot = _bot_named(self, _query(request, RegressionSuiteFilterInput).get("bot"))
        return self.paginated(selectors.drift_alerts(tenant=self.actor.tenant, bot=bot), DriftAlertOutput)


class ModelGateView(RegressionAPIView):
    """Whether the bot may switch its chat model to ``model``: the latest completed run comparing the
    live bot with a candidate that changes only the chat model to it — regressed (with the cases it
    fails, regressions first), passed, or untested."""

    @extend_schema(parameters=[BOT_ID, ModelGateInput], responses=ModelGateOutput)
    def get(self, request: Request, id: str) -> Response:
        bot = bot_selectors.bot_get(tenant=self.actor.tenant, bot_id=id)  # 404 before the query
        model = _query(request, ModelGateInput)["model"]
        gate = selectors.model_gate(tenant=self.actor.tenant, bot=bot, candidate_model=model)
        return Response(ModelGateOutput(_gate_body(gate)).data)
