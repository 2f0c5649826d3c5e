"""PDF text by page with PDFium (pypdfium2): fast, and the reader Chrome uses on the same hostile input.

Every section carries the 1-based number of the page its text is on. Headings come from the PDF's
outline (bookmarks) where it has one: an entry's title is looked for on its target page and the text
is cut there, so the part of a page before a new chapter keeps the previous chapter's path. Without an
outline, sections have page numbers and no heading path; guessing headings from font sizes would cost
a call per character and still be a guess.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

from knowledge.ingestion import IngestionError, ParsedDocument, Section
from knowledge.ingestion.clean import clean, strip_repeated_lines
from knowledge.ingestion.parsers.limits import PDF_MAX_PAGES, Deadline, int_limit

logger = logging.getLogger(__name__)

# Outlines deeper or longer than this are not navigation a person wrote; the rest is ignored.
OUTLINE_MAX_DEPTH = 8
OUTLINE_MAX_ENTRIES = 5_000
_WORD_PROCESSOR_TITLE_PREFIX = re.compile(r"^Microsoft (?:Word|PowerPoint) - ", re.IGNORECASE)

ENCRYPTED_MESSAGE = (
    "This PDF is password-protected; remove the password (for example by printing it to a new PDF) "
    "and upload it again."
)
DAMAGED_MESSAGE = "This PDF could not be read; it may be damaged."


@dataclass(frozen=True)
class _OutlineEntry:
    page_index: int
    level: int
    title: str


def parse_pdf(data: bytes, deadline: Deadline) -> ParsedDocument:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium_raw.FPDF_ERR_PASSWORD:
            raise IngestionError(ENCRYPTED_MESSAGE) from error
        if error.err_code == pdfium_raw.FPDF_ERR_SECURITY:
            raise IngestionError(
                "This PDF is protected by a security handler Groundwork cannot open; save an "
                "unprotected copy and upload that."
            ) from error
        raise IngestionError(DAMAGED_MESSAGE) from error
    try:
        page_count = len(document)
        max_pages = int_limit("PDF_MAX_PAGES", PDF_MAX_PAGES)
        if page_count > max_pages:
            raise IngestionError(
                f"This PDF has {page_count:,} pages; Groundwork reads at most {max_pages:,} pages from one "
                "file. Split it into smaller files and upload those."
            )
        pages = _page_texts(document, page_count, deadline)
        outline = _outline(document, page_count)
        title = _title(document)
    finally:
        document.close()
    cleaned_pages = strip_repeated_lines([clean(text, dehyphenate=True) for text in pages])
    return ParsedDocument(
        kind="pdf", sections=_sections(cleaned_pages, outline), title=title, pages=page_count
    )


def _page_texts(document: pdfium.PdfDocument, page_count: int, deadline: Deadline) -> list[str]:
    texts: list[str] = []
    unreadable = 0
    for index in range(page_count):
        deadline.check()
        try:
            page = document[index]
        except pdfium.PdfiumError:
            # One broken page should not cost the reader the other pages; the citations of the rest
            # stay right because each page keeps its own number.
            logger.info("PDF page %d could not be loaded; skipped", index + 1)
            unreadable += 1
            texts.append("")
            continue
        try:
            text_page = page.get_textpage()
            try:
                texts.append(text_page.get_text_bounded())
            finally:
                text_page.close()
        except pdfium.PdfiumError:
            logger.info("PDF page %d has no readable text layer; skipped", index + 1)
            unreadable += 1
            texts.append("")
        finally:
            page.close()
    if page_count and unreadable == page_count:
        raise IngestionError(DAMAGED_MESSAGE)
    return texts


def _outline(document: pdfium.PdfDocument, page_count: int) -> list[_OutlineEntry]:
    entries: list[_OutlineEntry] = []
    try:
        # get_toc detects circular bookmark chains itself; the depth bound stops a deep malicious tree.
        for bookmark in document.get_toc(max_depth=OUTLINE_MAX_DEPTH):
            if len(entries) >= OUTLINE_MAX_ENTRIES:
                break
            destination = bookmark.get_dest()
            page_index = destination.get_index() if destination is not None else None
            title = " ".join(clean(bookmark.get_title()).split())
            if page_index is None or not 0 <= page_index < page_count or not title:
                continue
            entries.append(_OutlineEntry(page_index=page_index, level=bookmark.level, title=title))
    except pdfium.PdfiumError:
        logger.info("PDF outline could not be read; headings skipped")
        return []
    # Outline order is the author's; text order is the pages'. A stable sort keeps the author's order
    # among the entries of one page.
    return sorted(entries, key=lambda entry: entry.page_index)


def _title(document: pdfium.PdfDocument) -> str:
    try:
        metadata = document.get_metadata_dict(skip_empty=True)
    except pdfium.PdfiumError:
        return ""
    title = " ".join(clean(metadata.get("Title", "")).split())
    return _WORD_PROCESSOR_TITLE_PREFIX.sub("", title)


def _sections(pages: list[str], outline: list[_OutlineEntry]) -> list[Section]:
    sections: list[Section] = []
    stack: list[_OutlineEntry] = []
    entries_by_page: dict[int, list[_OutlineEntry]] = {}
    for entry in outline:
        entries_by_page.setdefault(entry.page_index, []).append(entry)
    for index, text in enumerate(pages):
        page_number = index + 1
        cursor = 0
        for entry in entries_by_page.get(index, []):
            found = _title_pattern(entry.title).search(text, cursor)
            start = found.start() if found else cursor
            if text[cursor:start].strip():
                sections.append(
                    Section(
                        text=text[cursor:start].strip(), heading_path=_path(stack), page_number=page_number
                    )
                )
            while stack and stack[-1].level >= entry.level:
                stack.pop()
            stack.append(entry)
            cursor = start
        if text[cursor:].strip():
            sections.append(
                Section(text=text[cursor:].strip(), heading_path=_path(stack), page_number=page_number)
            )
    return sections


def _title_pattern(title: str) -> re.Pattern[str]:
    # The title as it appears in the page's text: the same words, with any line break or spacing
    # between them.
    return re.compile(r"\s+".join(re.escape(word) for word in title.split()), re.IGNORECASE)


def _path(stack: list[_OutlineEntry]) -> tuple[str, ...]:
    return tuple(entry.title for entry in stack)
