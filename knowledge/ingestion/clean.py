"""Text cleaning between parse and chunk: one normal form for every source type.

``clean`` is idempotent and keeps the text's structure (paragraph breaks, line breaks, the leading
indentation of code), because the chunker cuts at paragraph and line breaks first. The parsers call it
on every section, so a ``ParsedDocument`` arrives at the chunker already clean; calling it again is
harmless.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

# Characters that carry nothing a reader sees. PDFium marks a hyphen it removed at a line end with
# U+0002 (``get_text_bounded``) or U+FFFE (``get_text_range``) and has already joined the two halves,
# so dropping the marker is the whole de-hyphenation for PDFium's output. Zero-width characters and the
# soft hyphen break words apart for the tokenizer and for full-text search.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\ufffe\ufffc"),
    None,
)
# Typographic ligatures as fonts emit them: NFC leaves them alone (only NFKC would split them), and
# "ﬁnd" then neither matches a search for "find" nor tokenizes like it.
_LIGATURES = {
    ord("\ufb00"): "ff",
    ord("\ufb01"): "fi",
    ord("\ufb02"): "fl",
    ord("\ufb03"): "ffi",
    ord("\ufb04"): "ffl",
    ord("\ufb05"): "st",
    ord("\ufb06"): "st",
}
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
# Every other control character (C0 and C1, DEL) except tab and newline, which stay as layout.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# Any horizontal space (tab, no-break space, the Unicode space separators) inside a line becomes one
# space; at the start of a line it is kept, since it is a code block's or a list's indentation.
_INNER_SPACE = re.compile(r"(?<=\S)[^\S\n]+")
# Deeper indentation than this carries no structure, only bulk.
_MAX_INDENTATION = 32
_BLANK_LINES = re.compile(r"\n\n+")  # lines are right-stripped before, so blank lines are empty
# A word broken by a real hyphen at a line end (text from other PDF producers, or typed text):
# "exam-\nple". Joined only when a lowercase letter follows, so "e-mail-\nBased" and "1990-\n2000"
# are left alone.
_HYPHENATED_BREAK = re.compile(r"(?<=[^\W\d_])-\n[^\S\n]*(?=[^\W\d_])")
_DIGITS = re.compile(r"\d+")
# Running headers and footers are short; a long line that repeats at a page's edge is content.
_EDGE_LINE_MAX_CHARACTERS = 120


def clean(text: str, *, dehyphenate: bool = False) -> str:
    """``text`` in NFC, with one kind of line break, no control or invisible characters, and tidy spaces.

    ``dehyphenate`` joins words split by a hyphen at a line break, which is right for PDF text and
    wrong for Markdown or CSV, where a line ending in "-" means what it says.
    """
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = text.translate(_INVISIBLE).translate(_LIGATURES)
    text = _CONTROL.sub("", text)
    if dehyphenate:
        text = _HYPHENATED_BREAK.sub(_join_if_lowercase, text)
    text = _INNER_SPACE.sub(" ", text)
    # Line by line with str methods, not a "[ \t]+$" pattern: that one backtracks through every run
    # of spaces it cannot end at, which is quadratic in a line of indentation.
    text = "\n".join(map(_tidy_line, text.split("\n")))
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n").rstrip()


def _tidy_line(line: str) -> str:
    """``line`` without trailing space, its indentation in plain spaces (a tab as four), at most 32."""
    line = line.rstrip()
    body = line.lstrip()
    depth = len(line) - len(body)
    if not depth or (depth <= _MAX_INDENTATION and line.startswith(" " * depth)):
        return line
    indentation = "".join(
        "    " if character == "\t" else " " for character in line[: min(depth, _MAX_INDENTATION)]
    )
    return indentation[:_MAX_INDENTATION] + body


def _join_if_lowercase(match: re.Match[str]) -> str:
    following = match.string[match.end()]
    return "" if following.islower() else match.group(0)


def strip_repeated_lines(pages: Sequence[str], *, edge_lines: int = 2, min_share: float = 0.5) -> list[str]:
    """Pages without their running headers and footers.

    A line counts as a header or footer when it is among the first or last ``edge_lines`` lines of at
    least ``min_share`` of the pages (and of three pages at least), compared with its digits masked, so
    "Page 3 of 40" matches "Page 4 of 40". Such lines repeat in every chunk otherwise and drown the
    page's own words in retrieval. Body lines are never touched, only the edges.
    """
    if len(pages) < 3:
        return list(pages)
    split_pages = [page.split("\n") for page in pages]
    occurrences: Counter[str] = Counter()
    for lines in split_pages:
        edges = {_edge_key(line) for line in (*lines[:edge_lines], *lines[-edge_lines:])}
        occurrences.update(key for key in edges if key)
    threshold = max(3, int(len(pages) * min_share + 0.5))
    repeated = {
        key
        for key, count in occurrences.items()
        if count >= threshold and len(key) <= _EDGE_LINE_MAX_CHARACTERS
    }
    if not repeated:
        return list(pages)
    cleaned: list[str] = []
    for lines in split_pages:
        head = [line for line in lines[:edge_lines] if _edge_key(line) not in repeated]
        middle = lines[edge_lines:-edge_lines] if len(lines) > 2 * edge_lines else []
        tail_start = max(edge_lines, len(lines) - edge_lines)
        tail = [line for line in lines[tail_start:] if _edge_key(line) not in repeated]
        cleaned.append("\n".join([*head, *middle, *tail]).strip("\n"))
    return cleaned


def _edge_key(line: str) -> str:
    return _DIGITS.sub("#", line.strip()).casefold()
