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
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bots import selectors as bot_selectors
from bots.api import BOT_ID
from bots.chat import selectors as chat_selectors
from bots.chat.exports import EXPORT_FORMATS
from bots.models import (
    Bot,
    RegressionRun,
    RegressionSuite,
)
from bots.regression import case_files, selectors, services
from bots.regression.serializers import (
    CaseExportInput,
    CaseFromMessageInput,
    CaseImportContentInput,
    CaseImportOutput,
    CaseImportUploadInput,
    DriftAlertOutput,
    ModelGateInput,
    ModelGateOutput,
    RegressionCaseInput,
    RegressionCaseOutput,
    RegressionRunOutput,
    RegressionSuiteCreateInput,
    RegressionSuiteFilterInput,
    RegressionSuiteOutput,
    RegressionSuiteUpdateInput,
    RunReportOutput,
    RunStartInput,
)
from core.errors import NotFound, ValidationFailed
from core.pagination import CursorPagination
from core.serializers import StrictInputSerializer
from core.uploads import limit_uploads
from tenants.api_base import TenantAPIView

PAGINATION_PARAMETERS = ("cursor", "page_size")


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


def _import_limit_message(name: str) -> str:
    return f"Import files are limited to {filesizeformat(case_files.MAX_IMPORT_BYTES)}."


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

    url_object_lookup = (selectors.suite_get, "suite_id")

    @extend_schema(responses=RegressionSuiteOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(self.suite_body(self.url_object))

    @extend_schema(request=RegressionSuiteUpdateInput, responses=RegressionSuiteOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
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

    url_object_lookup = (selectors.suite_get, "suite_id")

    pagination_class = CaseCursorPagination

    @extend_schema(responses=RegressionCaseOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        cases = selectors.case_list(tenant=self.actor.tenant, suite=self.url_object)
        return self.paginated(cases, RegressionCaseOutput)

    @extend_schema(request=RegressionCaseInput, responses={201: RegressionCaseOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.url_object
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

    url_object_lookup = (selectors.case_get, "case_id")

    @extend_schema(responses=RegressionCaseOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(RegressionCaseOutput(self.url_object).data)

    @extend_schema(request=RegressionCaseInput, responses=RegressionCaseOutput)
    def patch(self, request: Request, id: uuid.UUID) -> Response:
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

    url_object_lookup = (selectors.suite_get, "suite_id")

    parser_classes = [JSONParser, MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before anything can read the body: the size limit must be in place while a file streams in.
        limit_uploads(request._request, limit=case_files.MAX_IMPORT_BYTES, message=_import_limit_message)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": CaseImportUploadInput, "application/json": CaseImportContentInput},
        responses={201: CaseImportOutput},
    )
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.url_object
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
        file_format = data.validated_data.get("format") or case_files.format_of(uploaded.name or "")
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

    url_object_lookup = (selectors.suite_get, "suite_id")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # ``format`` names the export's format here, not a DRF renderer; errors are still JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[CaseExportInput],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Columns: " + ", ".join(case_files.CASE_FIELDS)
            ),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One case a line."),
        },
    )
    def get(self, request: Request, id: uuid.UUID) -> HttpResponse:
        suite = self.url_object
        export_format = _query(request, CaseExportInput)["format"]
        response = HttpResponse(
            case_files.cases_export(tenant=self.actor.tenant, suite=suite, export_format=export_format),
            content_type=EXPORT_FORMATS[export_format],
        )
        filename = f"{slugify(suite.name) or 'suite'}-cases.{export_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class CaseFromMessageView(RegressionAPIView):
    """A case from a conversation with the suite's bot: the visitor's question; for a good answer, the
    documents it cited become required citations; a question the bot declined, one it must decline. The
    answer of the day is kept in the notes."""

    url_object_lookup = (selectors.suite_get, "suite_id")

    @extend_schema(request=CaseFromMessageInput, responses={201: RegressionCaseOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.url_object
        data = CaseFromMessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        message_id = data.validated_data["message_id"]
        try:
            chat_selectors.message_get(tenant=self.actor.tenant, message_id=message_id)
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

    url_object_lookup = (selectors.suite_get, "suite_id")

    @extend_schema(responses=RegressionRunOutput(many=True))
    def get(self, request: Request, id: uuid.UUID) -> Response:
        runs = selectors.run_list(tenant=self.actor.tenant, suite=self.url_object)
        return self.paginated(runs, RegressionRunOutput)

    @extend_schema(request=RunStartInput, responses={202: RegressionRunOutput})
    def post(self, request: Request, id: uuid.UUID) -> Response:
        suite = self.url_object
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

    url_object_lookup = (selectors.run_get, "run_id")

    @extend_schema(responses=RegressionRunOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        return Response(self.run_body(self.url_object))


class RunReportView(RegressionAPIView):
    """The run side by side: a column per configuration with its totals, a row per case with each
    configuration's answer and checks. Against the live column, regressions come first."""

    url_object_lookup = (selectors.run_get, "run_id")

    @extend_schema(responses=RunReportOutput)
    def get(self, request: Request, id: uuid.UUID) -> Response:
        run = self.url_object
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

    url_object_lookup = (bot_selectors.bot_get, "bot_id")

    @extend_schema(parameters=[BOT_ID, ModelGateInput], responses=ModelGateOutput)
    def get(self, request: Request, id: str) -> Response:
        bot = self.url_object
        model = _query(request, ModelGateInput)["model"]
        gate = selectors.model_gate(tenant=self.actor.tenant, bot=bot, candidate_model=model)
        return Response(ModelGateOutput(_gate_body(gate)).data)
