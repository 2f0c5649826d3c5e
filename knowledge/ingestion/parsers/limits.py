"""The bounds a single document is parsed within, so one hostile upload cannot stall or sink a worker.

Each default can be overridden in settings as ``INGESTION_<NAME>`` (for example
``INGESTION_PDF_MAX_PAGES = 500``). They are read at call time, so a test or an operator changes them
without a restart of the code that imported this module.

These checks run between units of work (pages, paragraphs, rows). A library call that hangs or
balloons inside one unit (PDFium on one pathological page) is bounded by the box the pipeline parses
in (``knowledge.ingestion.box``: address space, CPU time, wall clock); the checks here make the common
cases fail fast with a reason of their own.
"""

from __future__ import annotations

import time

from django.conf import settings

from knowledge.ingestion import IngestionError

PDF_MAX_PAGES = 2_000
# Wall-clock budget for parsing one document, all formats.
PARSE_SECONDS = 120.0
# A .docx is a zip: refused before anything is extracted when its entries claim more than this in
# total (text, styles and images together), or when any sizeable entry is compressed more than
# ZIP_MAX_RATIO to one. Real Word XML compresses about 10:1; a zip bomb's entries 1,000:1 and more.
ZIP_MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_BYTES = 1024 * 1024
ZIP_MAX_ENTRIES = 10_000
# The most text one document may yield (about 2.5 million tokens, or 6,000 chunks of 400 tokens):
# beyond it the embedding alone would occupy a worker for a long time, and the user is better served
# by splitting the document.
MAX_TEXT_CHARACTERS = 10_000_000


def limit(name: str, default: int | float) -> int | float:
    """``settings.INGESTION_<name>`` if set, else ``default``."""
    if not settings.configured:
        return default
    value = getattr(settings, f"INGESTION_{name}", default)
    return type(default)(value)


def int_limit(name: str, default: int) -> int:
    return int(limit(name, default))


class Deadline:
    """The time budget of one parse; ``check`` between units of work raises once it is spent."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = float(limit("PARSE_SECONDS", PARSE_SECONDS)) if seconds is None else seconds
        self._end = time.monotonic() + self.seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise IngestionError(
                f"This document took longer than {self.seconds:g} seconds to read, the most Groundwork "
                "spends on one file; split it into smaller files and upload those."
            )
