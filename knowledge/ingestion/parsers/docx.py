"""Word (.docx) text in reading order with python-docx, headings from the paragraph styles.

A paragraph is a heading when its style is "Heading N" or "Title", or when its style (or the paragraph
itself) sets an outline level, which is how Word's localised and custom heading styles are marked.
Tables become one line per row. Content controls (``w:sdt``), which some templates wrap the whole body
in, are read through; the table of contents Word generates is skipped, since its entries repeat the
headings with page numbers that mean nothing here.

The zip is inspected before python-docx opens it: its central directory states every entry's size,
and Python's zipfile never inflates an entry past its stated size, so checking the stated sizes and
ratios bounds what extraction can allocate.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as WordDocument
from docx.oxml.ns import qn
from docx.styles.style import CharacterStyle
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from knowledge.ingestion import IngestionError, ParsedDocument, Section
from knowledge.ingestion.clean import clean
from knowledge.ingestion.parsers.limits import (
    ZIP_MAX_ENTRIES,
    ZIP_MAX_RATIO,
    ZIP_MAX_UNCOMPRESSED_BYTES,
    ZIP_RATIO_MIN_BYTES,
    Deadline,
    int_limit,
)

DAMAGED_MESSAGE = "This Word document could not be read; it may be damaged."
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_BODY_OUTLINE_LEVEL = 9  # Word's "body text" outline level
_DEADLINE_EVERY_BLOCKS = 500


def check_zip_limits(data: bytes) -> None:
    """Refuse a zip bomb by the sizes its directory states, before a single entry is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise IngestionError(DAMAGED_MESSAGE) from error
    if len(infos) > int_limit("ZIP_MAX_ENTRIES", ZIP_MAX_ENTRIES):
        raise IngestionError(f"This Word document has {len(infos):,} parts, more than any real document has.")
    if any(info.flag_bits & 0x1 for info in infos):
        raise IngestionError(
            "This Word document is password-protected; remove the password in Word and upload it again."
        )
    total = sum(info.file_size for info in infos)
    max_total = int_limit("ZIP_MAX_UNCOMPRESSED_BYTES", ZIP_MAX_UNCOMPRESSED_BYTES)
    max_ratio = int_limit("ZIP_MAX_RATIO", ZIP_MAX_RATIO)
    ratio_floor = int_limit("ZIP_RATIO_MIN_BYTES", ZIP_RATIO_MIN_BYTES)
    suspicious = any(
        info.file_size > ratio_floor and info.file_size > max_ratio * max(info.compress_size, 1)
        for info in infos
    )
    if total > max_total or suspicious:
        raise IngestionError(
            "This Word document unpacks to far more data than its size suggests (a so-called zip bomb), "
            "so Groundwork did not open it."
        )


def parse_docx(data: bytes, deadline: Deadline) -> ParsedDocument:
    check_zip_limits(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:
        # python-docx raises its own PackageNotFoundError, lxml's syntax errors and plain KeyErrors
        # from deep inside for malformed packages; all of them mean the same to the tenant.
        raise IngestionError(DAMAGED_MESSAGE) from error
    return _read(document, deadline)


def _read(document: WordDocument, deadline: Deadline) -> ParsedDocument:
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    first_heading = ""
    title_paragraph = ""

    def flush() -> None:
        text = clean("\n".join(lines))
        if text:
            sections.append(Section(text=text, heading_path=tuple(heading for _, heading in stack)))
        lines.clear()

    for count, block in enumerate(_blocks(document)):
        if count % _DEADLINE_EVERY_BLOCKS == 0:
            deadline.check()
        if isinstance(block, Table):
            lines.extend(_table_lines(block))
            continue
        text = " ".join(clean(block.text).split())
        if not text:
            continue
        style_name = _style_name(block)
        if style_name.lower().startswith("toc"):
            continue
        level = _heading_level(block)
        if level is None:
            lines.append(f"- {text}" if _is_list_item(block, style_name) else text)
            continue
        flush()
        if level == 0:
            title_paragraph = title_paragraph or text
        first_heading = first_heading or text
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
    flush()
    core_title = " ".join(clean(document.core_properties.title or "").split())
    return ParsedDocument(
        kind="docx", sections=sections, title=core_title or title_paragraph or first_heading
    )


def _blocks(document: WordDocument) -> Iterator[Paragraph | Table]:
    """Paragraphs and tables of the body in reading order, through content controls."""
    body = document.element.body
    pending = list(reversed(list(body.iterchildren())))
    # An explicit stack instead of recursion: content controls can nest, and a crafted file could nest
    # them deeper than Python's recursion limit.
    while pending:
        element = pending.pop()
        if element.tag == qn("w:p"):
            yield Paragraph(element, document)
        elif element.tag == qn("w:tbl"):
            yield Table(element, document)
        elif element.tag == qn("w:sdt"):
            content = element.find(qn("w:sdtContent"))
            if content is not None:
                pending.extend(reversed(list(content.iterchildren())))


def _style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
    except (KeyError, ValueError):
        return ""
    return (style.name or "") if style is not None else ""


def _heading_level(paragraph: Paragraph) -> int | None:
    """0 for a Title, 1-9 for headings, None for body text."""
    name = _style_name(paragraph)
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.fullmatch(name.strip())
    if match:
        return int(match.group(1))
    outline_level = _outline_level(paragraph._p.pPr)
    if outline_level is None:
        try:
            style: CharacterStyle | None = paragraph.style
        except (KeyError, ValueError):
            style = None
        depth = 0
        while style is not None and outline_level is None and depth < 20:
            outline_level = _outline_level(style.element.pPr)
            style = style.base_style
            depth += 1
    if outline_level is None or outline_level >= _BODY_OUTLINE_LEVEL:
        return None
    return outline_level + 1


def _outline_level(properties: etree._Element | None) -> int | None:
    if properties is None:
        return None
    element = properties.find(qn("w:outlineLvl"))
    if element is None:
        return None
    try:
        return int(element.get(qn("w:val"), ""))
    except ValueError:
        return None


def _is_list_item(paragraph: Paragraph, style_name: str) -> bool:
    properties = paragraph._p.pPr
    numbered = properties is not None and properties.find(qn("w:numPr")) is not None
    return numbered or style_name.lower().startswith("list")


def _table_lines(table: Table) -> list[str]:
    lines: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans; show it once.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(clean(cell.text).split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return lines
