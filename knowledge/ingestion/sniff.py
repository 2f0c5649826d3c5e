"""What a document is, from its bytes: the upload's name and the server's Content-Type are claims.

``sniff`` decides by content: magic numbers for binary formats (a zip is Word only when it holds
``word/document.xml``), markup for HTML, a consistent delimiter structure for CSV, heading, list and
fence syntax for Markdown. The file name matters twice and never as a path: its extension breaks the
tie between plain text and Markdown, and ``check_declared_type`` refuses a name that claims another
type than the content (``report.pdf`` that is really an HTML login page).

The table of refused signatures only names what we refuse, so the message can say "a PNG image"
rather than "unknown"; what we accept is decided by the checks below it, not by a library's guess.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from itertools import islice
from typing import NoReturn

import charset_normalizer

from knowledge.ingestion import IngestionError

PDF = "pdf"
DOCX = "docx"
HTML = "html"
MARKDOWN = "markdown"
TEXT = "text"
CSV = "csv"
KINDS = (PDF, DOCX, HTML, MARKDOWN, TEXT, CSV)
TEXT_LIKE_KINDS = frozenset({HTML, MARKDOWN, TEXT, CSV})

SUPPORTED_TYPES_SENTENCE = "Groundwork reads PDF, Word (.docx), HTML, Markdown, plain text and CSV."

KIND_DESCRIPTIONS = {
    PDF: "a PDF document",
    DOCX: "a Word document (.docx)",
    HTML: "an HTML page",
    MARKDOWN: "a Markdown document",
    TEXT: "plain text",
    CSV: "a CSV table",
}

# How much of a document the text checks look at: enough for any header, bounded for a 50 MB upload.
SNIFF_BYTES = 64 * 1024
CSV_SNIFF_RECORDS = 50
# A zip's central directory is read to tell Word from other zips; more entries than this is not a
# Word file anyone wrote, and listing millions of names is itself a way to exhaust memory.
MAX_ZIP_ENTRIES = 10_000

# (offset, signature, what it is). Checked in order; the first match wins.
_REFUSED_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"BM", "a BMP image"),
    (0, b"\x00\x00\x01\x00", "an icon image"),
    (8, b"WEBP", "a WebP image"),
    (8, b"WAVE", "a WAV audio"),
    (8, b"AVI ", "an AVI video"),
    (4, b"ftypheic", "a HEIC image"),
    (4, b"ftypavif", "an AVIF image"),
    (4, b"ftyp", "an MP4 or QuickTime video"),
    (0, b"ID3", "an MP3 audio"),
    (0, b"OggS", "an Ogg audio or video"),
    (0, b"fLaC", "a FLAC audio"),
    (0, b"\x1aE\xdf\xa3", "a Matroska or WebM video"),
    (0, b"MZ", "a Windows program"),
    (0, b"\x7fELF", "a Linux program"),
    (0, b"\xcf\xfa\xed\xfe", "a macOS program"),
    (0, b"\xce\xfa\xed\xfe", "a macOS program"),
    (0, b"\xca\xfe\xba\xbe", "a macOS program or Java class"),
    (0, b"\x00asm", "a WebAssembly module"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"BZh", "a bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"(\xb5/\xfd", "a Zstandard archive"),
    (0, b"7z\xbc\xaf'\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (257, b"ustar", "a tar archive"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (0, b"{\\rtf", "an RTF document"),
    (0, b"%!PS", "a PostScript document"),
    (0, b"wOFF", "a web font"),
    (0, b"wOF2", "a web font"),
)
PDF_SIGNATURE = b"%PDF-"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_UTF_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Extensions and the kinds they claim. Text-like kinds stand in for each other (a .txt of Markdown,
# a .md that is prose, a .csv with one column), so any text-like extension accepts any text-like kind.
_EXTENSION_KINDS: dict[str, frozenset[str]] = {
    "pdf": frozenset({PDF}),
    "docx": frozenset({DOCX}),
    **dict.fromkeys(("html", "htm", "xhtml", "md", "markdown", "txt", "text", "csv", "tsv"), TEXT_LIKE_KINDS),
}
_EXTENSION_DESCRIPTIONS = {
    "pdf": "a PDF document",
    "docx": "a Word document (.docx)",
    "doc": "a legacy Word document (.doc)",
    "xls": "an Excel workbook",
    "xlsx": "an Excel workbook",
    "ppt": "a PowerPoint presentation",
    "pptx": "a PowerPoint presentation",
    "odt": "an OpenDocument text",
    "rtf": "an RTF document",
    "epub": "an EPUB e-book",
    "zip": "a zip archive",
    "png": "a PNG image",
    "jpg": "a JPEG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "svg": "an SVG image",
    "exe": "a Windows program",
}
_TEXT_LIKE_EXTENSION_DESCRIPTION = "a text file"

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_LEADING_NOISE = re.compile(r"\A(?:\s+|<\?xml[^>]*>|<!--.*?-->)*", re.DOTALL)
_HTML_DOCUMENT_START = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>/]", re.IGNORECASE)
_HTML_FRAGMENT_START = re.compile(
    r"<(?:p|div|h[1-6]|section|article|main|table|ul|ol|title|meta|link|style|script)[\s>/]", re.IGNORECASE
)
_HTML_CLOSING_TAG = re.compile(
    r"</(?:p|div|h[1-6]|li|td|tr|table|section|article|a|span|ul|ol)>", re.IGNORECASE
)
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_SETEXT_HEADING = re.compile(r"^[^\s].*\n {0,3}(?:=+|-{2,})[ \t]*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)", re.MULTILINE)
# Every repetition is bounded and cannot run over the next opening marker: the sniffer reads untrusted
# text, and an unbounded ".*?" or "[^\]]+" tried from each of 64 KB of "[" or "**" takes quadratic time.
_LINK = re.compile(r"!?\[[^\[\]\n]{1,300}\]\([^()\s]{1,2000}(?:\s+\"[^\"\n]{0,300}\")?\)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_TABLE_ROW = re.compile(r"^ {0,3}\|.*\|[ \t]*$", re.MULTILINE)
# The line under a Markdown table's header: "| --- | :---: |" or "--- | ---".
_TABLE_DELIMITER_ROW = re.compile(
    r"^ {0,3}\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$", re.MULTILINE
)
_EMPHASIS = re.compile(r"(?<![\w*])(?:\*\*|__)[^\s*_][^\n*_]{0,100}?[^\s*_](?:\*\*|__)(?![\w*])")
_CSV_DELIMITERS = (",", ";", "\t", "|")
_SENTENCE_ENDINGS = (".", "!", "?", ":")


def sniff(data: bytes, *, filename: str = "") -> str:
    """The kind of ``data``: "pdf", "docx", "html", "markdown", "text" or "csv".

    Raises ``IngestionError`` for anything else, naming what the file is when we can tell. ``filename``
    is only shown in messages and its extension breaks the tie between plain text and Markdown.
    """
    name = display_name(filename)
    if not data.strip():
        raise IngestionError(f"{name} is empty; there is nothing to read.")
    if PDF_SIGNATURE in data[:1024]:
        # The PDF specification lets junk precede the header; readers accept it within the first 1 KB.
        return PDF
    if data.startswith(_ZIP_SIGNATURES):
        return _sniff_zip(data, name)
    if data.startswith(_OLE_SIGNATURE):
        # Office encrypts a .docx by wrapping it in this older container; the stream's name is stored
        # in UTF-16 in the container's directory.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise IngestionError(
                f"{name} is a password-protected Office file; remove the password and upload it again."
            )
        _refuse(name, "a legacy Office (.doc, .xls, .ppt) file")
    sample = _decode_sample(data)
    if sample is not None:
        return _sniff_text(sample, name, extension(filename), truncated=len(data) > SNIFF_BYTES)
    # Text is decided before signatures: some signatures are printable ("BM", "MZ", "ID3"), and a note
    # that starts with "BMW" is text. Binary formats carry NUL or control bytes early on.
    for offset, signature, description in _REFUSED_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            _refuse(name, description)
    _refuse(name, "a binary file of a type we do not recognise, not a document")


def _sniff_zip(data: bytes, name: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise IngestionError(f"{name} could not be read; it may be damaged.") from error
    if len(infos) > MAX_ZIP_ENTRIES:
        raise IngestionError(
            f"{name} is a zip archive with {len(infos):,} entries; {SUPPORTED_TYPES_SENTENCE}"
        )
    names = {info.filename for info in infos}
    if "word/document.xml" in names:
        return DOCX
    if any(entry.startswith("xl/") for entry in names):
        _refuse(name, "an Excel workbook (.xlsx)")
    if any(entry.startswith("ppt/") for entry in names):
        _refuse(name, "a PowerPoint presentation (.pptx)")
    if "mimetype" in names and "META-INF/container.xml" in names:
        _refuse(name, "an EPUB e-book")
    if "mimetype" in names:
        _refuse(name, "an OpenDocument file")
    _refuse(name, "a zip archive")


def _sniff_text(text: str, name: str, file_extension: str, *, truncated: bool) -> str:
    start = _LEADING_NOISE.sub("", text[:4096], count=1)
    head = start[:512].lower()
    if _HTML_DOCUMENT_START.match(start):
        return HTML
    if head.startswith("<svg") or (text.lstrip().startswith("<?xml") and "<svg" in head):
        _refuse(name, "an SVG image")
    if text.lstrip().startswith("<?xml"):
        _refuse(name, "an XML file")
    if head.startswith("{\\rtf"):
        _refuse(name, "an RTF document")
    if head.startswith("%!ps"):
        _refuse(name, "a PostScript document")
    markdown_strong = _markdown_strong_signals(text)
    if (
        _HTML_FRAGMENT_START.match(start)
        and len(_HTML_CLOSING_TAG.findall(text)) >= 2
        and not markdown_strong
    ):
        return HTML
    if markdown_strong:
        return MARKDOWN
    if not _LIST_ITEM.match(text) and csv_delimiter(text, truncated=truncated) is not None:
        return CSV
    if file_extension in {"md", "markdown"}:
        # Only the tie-break between text and Markdown: prose without Markdown syntax reads the same
        # either way, and the author's own choice of extension decides.
        return MARKDOWN
    if _markdown_weak_signals(text) >= 2:
        return MARKDOWN
    return TEXT


def _markdown_strong_signals(text: str) -> bool:
    return bool(
        _ATX_HEADING.search(text)
        or _FENCE.search(text)
        or ("](" in text and _LINK.search(text))
        or _SETEXT_HEADING.search(text)
        or _TABLE_DELIMITER_ROW.search(text)
    )


def _markdown_weak_signals(text: str) -> int:
    """Lists, tables and emphasis each occur in plain notes too; several kinds together mean Markdown."""
    kinds = (_LIST_ITEM, _TABLE_ROW, _EMPHASIS)
    return sum(1 for pattern in kinds if pattern.search(text))


def csv_delimiter(text: str, *, truncated: bool = False) -> str | None:
    """The delimiter of ``text`` if it is a table: every record has the same number of fields, at least 2.

    Needs a header and at least two records below it (one comma-separated line under another is as
    likely two sentences), short header fields, strict quoting, and lines that do not all end like
    sentences. Tab-separated text needs only one
    record under its header: tabs between words do not happen in prose. ``truncated`` says ``text`` is
    the start of a longer document, so its last record may be cut short and is not judged.
    """
    for delimiter in _CSV_DELIMITERS:
        first_line = text.lstrip("\n").split("\n", 1)[0]
        if delimiter not in first_line:
            continue
        if delimiter == "|" and first_line.lstrip().startswith("|"):
            continue  # a Markdown table
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
        try:
            records = [
                record for record in islice(reader, CSV_SNIFF_RECORDS + 1) if any(map(str.strip, record))
            ]
        except csv.Error:
            continue
        if truncated or len(records) > CSV_SNIFF_RECORDS:
            records = records[:-1]
        minimum_records = 2 if delimiter == "\t" else 3
        if len(records) < minimum_records:
            continue
        width = len(records[0])
        if width < 2 or any(len(record) != width for record in records):
            continue
        header = records[0]
        named = sum(1 for field in header if field.strip())
        if any(len(field) > 100 for field in header) or named * 2 < width:
            continue
        if all(record[-1].rstrip().endswith(_SENTENCE_ENDINGS) for record in records):
            continue  # lines of prose, each with the same number of commas
        return delimiter
    return None


def _decode_sample(data: bytes) -> str | None:
    """The first ``SNIFF_BYTES`` as text, or None when they are not text in any encoding we know."""
    sample = data[:SNIFF_BYTES]
    encoding = _bom_encoding(sample)
    if encoding is not None:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=True)
    elif b"\x00" in sample:
        return None
    else:
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(data) <= SNIFF_BYTES)
        except UnicodeDecodeError:
            text = _decode_legacy(sample)
    if text and len(_CONTROL_CHARACTERS.findall(text)) > len(text) * 0.01:
        return None
    return text


def decode_text(data: bytes) -> str:
    """``data`` as text: by its byte-order mark, else as UTF-8, else in the legacy encoding it looks like."""
    encoding = _bom_encoding(data)
    if encoding is not None:
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_legacy(data)


def _decode_legacy(data: bytes) -> str:
    """Text in a single-byte or East Asian legacy encoding, as charset-normalizer detects it.

    Short Western European texts fit several code pages equally well (é is the same byte in cp1250 and
    cp1252, and è is not); among equally good guesses Windows-1252 wins, as the most common. When
    nothing fits, Windows-1252 and then Latin-1 (which decodes any byte) still give the reader the
    words, rather than refusing a document the sniffer found to be text.
    """
    results = charset_normalizer.from_bytes(data)
    best = results.best()
    if best is not None:
        for match in results:
            if match.chaos == best.chaos and match.coherence == best.coherence and match.encoding == "cp1252":
                return str(match)
        return str(best)
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _UTF_BOMS:
        if data.startswith(bom):
            return encoding
    return None


def check_declared_type(kind: str, filename: str) -> None:
    """Refuse ``filename`` when its extension claims another type than the sniffed ``kind``.

    Unknown extensions and names without one claim nothing. Text-like extensions accept every text-like
    kind. A binary claim that the content contradicts is refused: a "report.pdf" that is an HTML page
    is usually a login or error page saved in place of the real file.
    """
    file_extension = extension(filename)
    if not file_extension:
        return
    accepted = _EXTENSION_KINDS.get(file_extension)
    if accepted is not None and kind in accepted:
        return
    if accepted is None and file_extension not in _EXTENSION_DESCRIPTIONS:
        return
    claimed = _EXTENSION_DESCRIPTIONS.get(file_extension, _TEXT_LIKE_EXTENSION_DESCRIPTION)
    raise IngestionError(
        f"{display_name(filename)} is named as {claimed} but contains {KIND_DESCRIPTIONS[kind]}; "
        "upload the original file or give it the right extension."
    )


def extension(filename: str) -> str:
    """The lower-case extension of the last component of ``filename``; the name is never a path here."""
    base = re.split(r"[/\\]", filename)[-1]
    stem, dot, suffix = base.rpartition(".")
    return suffix.lower() if dot and stem.strip(".") else ""


def display_name(filename: str) -> str:
    """``filename`` as it may appear in a message: its last component, printable, at most 80 characters."""
    base = re.split(r"[/\\]", filename)[-1]
    base = "".join(character for character in base if character.isprintable()).strip()
    if not base:
        return "This file"
    return f'"{base[:77]}..."' if len(base) > 80 else f'"{base}"'


def _refuse(name: str, description: str) -> NoReturn:
    raise IngestionError(f"{name} is {description}; {SUPPORTED_TYPES_SENTENCE}")
