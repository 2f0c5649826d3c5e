"""Markdown: sections under its headings, parsed by markdown-it-py (CommonMark).

The parser only finds the headings, so that a "#" inside a fenced code block or a quote is not
mistaken for one; each section's text is the source between two headings, as the author wrote it,
because lists, tables and code read better to a person and a model as Markdown than flattened.
"""

from __future__ import annotations

import functools
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.ingestion import ParsedDocument, Section
from knowledge.ingestion.clean import clean
from knowledge.ingestion.parsers.limits import Deadline
from knowledge.ingestion.sniff import decode_text

# A heading longer than this is not a heading anyone reads; its start is enough for a citation.
HEADING_MAX_SOURCE = 1_000
# Characters that can start inline Markdown; a heading without any is its own plain text.
_INLINE_SYNTAX = re.compile(r"[*_`\[\]!<>&\\~]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:(.*)$", re.MULTILINE)


@functools.cache
def _markdown() -> MarkdownIt:
    # Raw HTML stays source text; it is never rendered, so it needs no sanitising here. Only the block
    # structure is parsed: inline parsing of a whole document is the slow part (a megabyte of "[" takes
    # half a minute), and only the headings' own text needs it.
    return MarkdownIt("commonmark", {"html": True}).enable("table").disable("inline")


@functools.cache
def _inline_markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


def parse_markdown(data: bytes, deadline: Deadline) -> ParsedDocument:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    front_matter_title = ""
    front_matter = _FRONT_MATTER.match(text)
    if front_matter:
        title_line = _FRONT_MATTER_TITLE.search(front_matter.group(1))
        front_matter_title = title_line.group(1).strip().strip("\"'") if title_line else ""
        # Blank lines keep the line numbers markdown-it reports in step with ``lines``.
        text = "\n" * front_matter.group(0).count("\n") + text[front_matter.end() :]
    tokens = _markdown().parse(text)
    deadline.check()
    lines = text.split("\n")
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    cursor = 0
    first_heading = ""
    first_top_heading = ""

    def emit(end: int) -> None:
        body = clean("\n".join(lines[cursor:end]))
        if body:
            sections.append(Section(text=body, heading_path=tuple(heading for _, heading in stack)))

    for index, token in enumerate(tokens):
        # Only top-level headings structure the document; one inside a list or a quote is content.
        if token.type != "heading_open" or token.level != 0 or token.map is None:
            continue
        title = " ".join(clean(_plain_text(tokens[index + 1].content)).split())
        start, end = token.map
        emit(start)
        cursor = end
        if not title:
            continue
        level = int(token.tag[1])
        first_heading = first_heading or title
        if level == 1:
            first_top_heading = first_top_heading or title
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
    emit(len(lines))
    return ParsedDocument(
        kind="markdown",
        sections=sections,
        title=clean(front_matter_title) or first_top_heading or first_heading,
    )


def _plain_text(markdown: str) -> str:
    """A heading's words without their Markdown: emphasis, code spans and link texts kept as text."""
    if not _INLINE_SYNTAX.search(markdown):
        return markdown
    parts: list[str] = []
    children: list[Token] = []
    for token in _inline_markdown().parseInline(markdown[:HEADING_MAX_SOURCE]):
        children.extend(token.children or [])
    for child in children:
        if child.type in {"text", "code_inline", "image"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
    return "".join(parts)
