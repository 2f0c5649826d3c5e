"""The case file format, both ways: CSV (lists joined by "|", formula cells defused) or JSON Lines, read
by the import (every bad line named, up to ten) and written by the export, which it reads back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from bots.models import (
    RegressionSuite,
)
from bots.regression.selectors import case_list
from core.errors import ValidationFailed
from core.spreadsheets import csv_line, undefused
from tenants.models import Tenant

MAX_IMPORT_BYTES = 2 * 1024 * 1024
IMPORT_FORMATS = ("csv", "jsonl")
FORMAT_BY_EXTENSION = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# The columns of an import or export file, in order.
CASE_FIELDS = ("question", "expected_facts", "required_document_ids", "must_refuse", "notes")


def format_of(filename: str) -> str | None:
    """The file's format by its name's extension (for the API and the dashboard alike), or None."""
    name = filename.lower()
    return next((kind for extension, kind in FORMAT_BY_EXTENSION.items() if name.endswith(extension)), None)


def case_export_rows(*, tenant: Tenant, suite: RegressionSuite) -> Iterator[dict[str, Any]]:
    """The cases as the import reads them back."""
    for case in case_list(tenant=tenant, suite=suite):
        yield {
            "question": case.question,
            "expected_facts": list(case.expected_facts),
            "required_document_ids": [str(identifier) for identifier in case.required_document_ids],
            "must_refuse": case.must_refuse,
            "notes": case.notes,
        }


def cases_export(*, tenant: Tenant, suite: RegressionSuite, export_format: str) -> str:
    """The suite's cases in a file the import reads back: JSON Lines, or CSV with lists joined by "|" and
    cells that a spreadsheet would run as a formula prefixed with ' (the import takes it off again)."""
    rows = case_export_rows(tenant=tenant, suite=suite)
    if export_format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    lines = [csv_line(CASE_FIELDS)]
    for row in rows:
        cells = []
        for name in CASE_FIELDS:
            value = row[name]
            if isinstance(value, list):
                value = "|".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            cells.append(value)
        lines.append(csv_line(cells))
    return "".join(lines)


TRUE_WORDS = {"true", "yes", "1", "y"}


FALSE_WORDS = {"false", "no", "0", "n", ""}


def parse_cases(content: bytes, file_format: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Rows of a CSV (header: question, expected_facts, required_document_ids, must_refuse, notes; lists
    separated by "|", so a fact cannot contain one there) or JSON Lines file (one object per line with
    those keys, lists as arrays), with the (field, message) problems of the lines that could not be read.
    A file that cannot be read at all is refused here."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ValidationFailed.on(
            "file", f"Import files are limited to {MAX_IMPORT_BYTES // 1024 // 1024} MB."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.on("file", "The file is not UTF-8 text.") from None
    rows: list[dict[str, Any]] = []
    problems: list[tuple[str, str]] = []  # (field, message) for every bad line: a file is fixed in one go
    if file_format == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            problem = _jsonl_problem(line)
            if problem:
                problems.append(("file", f"Line {number}: {problem}"))
            else:
                rows.append({**json.loads(line), "_line": number})
    elif file_format == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = set(reader.fieldnames or [])
        if "question" not in header:
            raise ValidationFailed.on("file", "The CSV needs a header row with at least a “question” column.")
        unknown = header - set(CASE_FIELDS)
        if unknown:
            raise ValidationFailed.on("file", f"Unknown CSV columns: {', '.join(sorted(unknown))}.")
        for number, record in enumerate(reader, start=2):
            record = {name: undefused(value) for name, value in record.items() if name}
            values: dict[str, Any] = {"_line": number, "question": record.get("question") or ""}
            for list_field in ("expected_facts", "required_document_ids"):
                if record.get(list_field):
                    values[list_field] = [part for part in record[list_field].split("|") if part.strip()]
            refuse = (record.get("must_refuse") or "").strip().lower()
            if refuse not in TRUE_WORDS | FALSE_WORDS:
                problems.append(
                    ("file", f"Line {number}: must_refuse is “{refuse[:20]}”; use true or false.")
                )
                continue
            values["must_refuse"] = refuse in TRUE_WORDS
            values["notes"] = record.get("notes") or ""
            rows.append(values)
    else:
        raise ValidationFailed.on("format", "Import CSV or JSONL.")
    if not rows and not problems:
        raise ValidationFailed.on("file", "The file holds no cases.")
    return rows, problems


def _jsonl_problem(line: str) -> str:
    try:
        row = json.loads(line)
    except ValueError:
        return "not valid JSON."
    if not isinstance(row, dict):
        return "expected a JSON object."
    unknown = set(row) - set(CASE_FIELDS)
    if unknown:
        return f"unknown fields {', '.join(sorted(unknown))}."
    for list_field in ("expected_facts", "required_document_ids"):
        if list_field in row and not isinstance(row[list_field], list):
            return f"{list_field} must be a list."
    return ""


MAX_REPORTED_PROBLEMS = 10


def line_number(message: str) -> int:
    number = message.removeprefix("Line ").partition(":")[0]
    return int(number) if number.isdigit() else 0


def file_refusal(problems: list[tuple[str, str]]) -> ValidationFailed:
    """One refusal naming every bad line (up to ten), each under the field it is about."""
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = len(problems) - len(shown)
    message = (
        " ".join(text for _, text in shown)
        + (f" And {more} more." if more else "")
        + " Nothing was imported."
    )
    field_errors: dict[str, list[str]] = {}
    for field_name, text in shown:
        field_errors.setdefault(field_name, []).append(text)
    return ValidationFailed(message, field_errors=field_errors)
