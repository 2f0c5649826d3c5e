"""Bytes of a sniffed kind → a ``ParsedDocument`` of clean sections with their headings and pages.

``parse`` takes bytes and a kind, never a file name or a path. It runs within the bounds of
``knowledge.ingestion.parsers.limits`` and ends in one of two ways: a document with at least one
section of text, or an ``IngestionError`` whose message the tenant reads as the failure reason
(password-protected, damaged, empty, too large, too slow). Errors the libraries raise on malformed
input are reported as damage; they are logged for us with their traceback.

This runs in whatever process calls it; the pipeline calls it in a box (``knowledge.ingestion.box.
parse_in_box``), so a file that exhausts memory, hangs or crashes a parser fails alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from knowledge.ingestion import IngestionError, ParsedDocument, Section
from knowledge.ingestion.clean import clean
from knowledge.ingestion.parsers.delimited import parse_csv
from knowledge.ingestion.parsers.docx import parse_docx
from knowledge.ingestion.parsers.html import parse_html
from knowledge.ingestion.parsers.limits import MAX_TEXT_CHARACTERS, Deadline, int_limit
from knowledge.ingestion.parsers.markdown import parse_markdown
from knowledge.ingestion.parsers.pdf import parse_pdf
from knowledge.ingestion.sniff import KINDS, decode_text

logger = logging.getLogger(__name__)

_KIND_NAMES = {
    "pdf": "PDF",
    "docx": "Word document",
    "html": "page",
    "markdown": "Markdown document",
    "text": "text",
    "csv": "CSV file",
}
HEADING_PATH_MAX_CHARACTERS = 500  # Chunk.heading_path's column, joined with " > "
HEADING_MAX_CHARACTERS = 150
EMPTY_MESSAGE = "This {name} contains no text we can read."
EMPTY_PDF_MESSAGE = (
    "This PDF contains no text we can read (a scanned PDF needs OCR, which Groundwork does not do yet)."
)


def kind_name(kind: str) -> str:
    """What reasons call a document of ``kind`` ("PDF", "Word document", "page", ...)."""
    return _KIND_NAMES.get(kind, "document")


def parse(data: bytes, *, kind: str, source_url: str = "") -> ParsedDocument:
    """Parse ``data`` as ``kind`` (one of ``sniff.KINDS``); ``source_url`` anchors an HTML page's sections."""
    if kind not in KINDS:
        raise IngestionError(f"Groundwork cannot read documents of type {kind!r}.")
    deadline = Deadline()
    name = _KIND_NAMES[kind]
    try:
        document = _parse_kind(data, kind=kind, source_url=source_url, deadline=deadline)
    except IngestionError:
        raise
    except MemoryError as error:
        raise IngestionError(f"This {name} is too large to read.") from error
    except Exception as error:
        logger.warning("parsing a %s failed", kind, exc_info=True)
        raise IngestionError(f"This {name} could not be read; it may be damaged.") from error
    return _finished(document, name=name)


def _parse_kind(data: bytes, *, kind: str, source_url: str, deadline: Deadline) -> ParsedDocument:
    parsers: dict[str, Callable[[bytes, Deadline], ParsedDocument]] = {
        "pdf": parse_pdf,
        "docx": parse_docx,
        "markdown": parse_markdown,
        "csv": parse_csv,
        "text": _parse_text,
    }
    if kind == "html":
        return parse_html(data, deadline, source_url=source_url)
    return parsers[kind](data, deadline)


def _parse_text(data: bytes, deadline: Deadline) -> ParsedDocument:
    return ParsedDocument(kind="text", sections=[Section(text=decode_text(data))])


def parse_qa(pairs: Iterable[Mapping[str, str] | tuple[str, str]]) -> ParsedDocument:
    """Question-and-answer pairs as a document: one section each, the question as its heading.

    The question also opens the section's text, so the chunk that retrieval finds and shows reads as
    a question and its answer, and its embedding is close to the way visitors ask.
    Takes ``{"question": ..., "answer": ...}`` mappings or ``(question, answer)`` tuples.
    """
    sections: list[Section] = []
    for pair in pairs:
        if isinstance(pair, Mapping):
            question, answer = pair.get("question", ""), pair.get("answer", "")
        else:
            question, answer = pair
        question = " ".join(clean(question).split())
        answer = clean(answer)
        if not question or not answer:
            continue
        sections.append(Section(text=f"{question}\n\n{answer}", heading_path=(question,)))
    if not sections:
        raise IngestionError(
            "These questions and answers contain no pair with both a question and an answer."
        )
    return _finished(ParsedDocument(kind="qa", sections=sections), name="list of questions and answers")


def fit_heading_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """``path`` shortened until its label ("A > B > C") fits ``Chunk.heading_path``'s column.

    Each heading is cut to ``HEADING_MAX_CHARACTERS``; if the label is still too long, levels below the
    top one are dropped from the middle, so the label keeps the document's top level and the heading
    the text is directly under.
    """
    headings = [
        heading if len(heading) <= HEADING_MAX_CHARACTERS else heading[: HEADING_MAX_CHARACTERS - 1] + "…"
        for heading in path
        if heading
    ]
    while len(headings) > 2 and len(" > ".join(headings)) > HEADING_PATH_MAX_CHARACTERS:
        del headings[1]
    label = " > ".join(headings)
    if len(label) > HEADING_PATH_MAX_CHARACTERS:
        headings = [heading[: (HEADING_PATH_MAX_CHARACTERS - 3) // 2] for heading in headings]
    return tuple(headings)


def _finished(document: ParsedDocument, *, name: str) -> ParsedDocument:
    """``document`` with clean, non-empty sections, within the text limit; refused when there is none."""
    sections: list[Section] = []
    total = 0
    max_characters = int_limit("MAX_TEXT_CHARACTERS", MAX_TEXT_CHARACTERS)
    for section in document.sections:
        text = clean(section.text, dehyphenate=document.kind == "pdf")
        if not text:
            continue
        total += len(text)
        if total > max_characters:
            raise IngestionError(
                f"This {name} holds more than {max_characters:,} characters of text, the most Groundwork "
                "takes from one document; split it into smaller files and upload those."
            )
        sections.append(
            Section(
                text=text,
                heading_path=fit_heading_path(section.heading_path),
                page_number=section.page_number,
                anchor=section.anchor,
            )
        )
    if not sections:
        raise IngestionError(EMPTY_PDF_MESSAGE if document.kind == "pdf" else EMPTY_MESSAGE.format(name=name))
    return ParsedDocument(
        kind=document.kind,
        sections=sections,
        title=" ".join(clean(document.title).split())[:300],
        pages=document.pages,
    )
