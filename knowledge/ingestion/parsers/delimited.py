"""CSV (and tab- or semicolon-separated) tables: one block of "column: value" lines per row.

Each row carries its column names, so a chunk holding rows from the middle of a long table still says
what each value is, without its header row.
"""

from __future__ import annotations

import csv
import io

from knowledge.ingestion import IngestionError, ParsedDocument, Section
from knowledge.ingestion.clean import clean
from knowledge.ingestion.parsers.limits import Deadline
from knowledge.ingestion.sniff import csv_delimiter, decode_text

_DEADLINE_EVERY_ROWS = 5_000


def parse_csv(data: bytes, deadline: Deadline) -> ParsedDocument:
    text = decode_text(data)
    delimiter = csv_delimiter(text) or _header_delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    blocks: list[str] = []
    try:
        header: list[str] | None = None
        for row_number, row in enumerate(reader):
            if row_number % _DEADLINE_EVERY_ROWS == 0:
                deadline.check()
            values = [" ".join(clean(value).split()) for value in row]
            if not any(values):
                continue
            if header is None:
                header = values
                continue
            names = [*header, *(f"Column {index + 1}" for index in range(len(header), len(values)))]
            lines = [
                f"{name or f'Column {index + 1}'}: {value}"
                for index, (name, value) in enumerate(zip(names, values, strict=False))
                if value
            ]
            blocks.append("\n".join(lines))
    except csv.Error as error:
        raise IngestionError(f"This CSV file could not be read; it may be damaged ({error}).") from error
    if header is not None and not blocks:
        # A header alone: still the file's only text, and better than refusing it as empty.
        blocks.append(", ".join(name for name in header if name))
    return ParsedDocument(kind="csv", sections=[Section(text="\n\n".join(blocks))] if blocks else [])


def _header_delimiter(text: str) -> str:
    """For a table too ragged for the sniffer: the candidate that splits the header line most often."""
    header = text.lstrip().split("\n", 1)[0]
    return max((",", ";", "\t", "|"), key=header.count)
