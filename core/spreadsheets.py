"""CSV files that open safely in a spreadsheet.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
as a formula, and visitors, documents and models write the cells Groundwork exports. Exports prefix such
a cell with ``'`` (shown as text, never run); imports of Groundwork's own files take the ``'`` off again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """A cell as exported: text a spreadsheet would run gets a leading ``'``; ``None`` is empty."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def undefused(value: str | None) -> str:
    """A cell as it was before :func:`defused`."""
    text = value or ""
    return text[1:] if text[:1] == "'" and text[1:].startswith(FORMULA_PREFIXES) else text


def csv_line(values: Sequence[Any]) -> str:
    """One CSV record (with its line ending), every cell defused."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([defused(value) for value in values])
    return buffer.getvalue()
