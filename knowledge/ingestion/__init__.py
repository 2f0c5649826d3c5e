"""The ingestion pipeline's stages: fetch → sniff → parse → clean → chunk → embed → store.

The data passed between stages is plain and immutable, so each stage is testable alone:
``parse`` turns bytes into a ``ParsedDocument`` (sections with their headings and pages), ``chunk``
turns that into ``ChunkDraft``s sized in tokens. Stages raise ``IngestionError`` with a message a
tenant can read; the pipeline stores it as the document's failure reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class IngestionError(Exception):
    """A document cannot be ingested; ``message`` says why in words a tenant understands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, on one page (PDF) or at one anchor (HTML, crawl)."""

    text: str
    heading_path: tuple[str, ...] = ()
    page_number: int | None = None
    anchor: str = ""


@dataclass(frozen=True)
class ParsedDocument:
    kind: str  # "pdf", "docx", "html", "markdown", "text", "csv", "qa"
    sections: list[Section] = field(default_factory=list)
    title: str = ""
    pages: int = 0


@dataclass(frozen=True)
class ChunkDraft:
    position: int
    text: str
    token_count: int
    heading_path: tuple[str, ...] = ()
    page_number: int | None = None
    anchor: str = ""

    @property
    def heading_label(self) -> str:
        return " > ".join(self.heading_path)
