"""The type of a document comes from its bytes; the file name is a claim, checked and never a path."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from knowledge.ingestion import IngestionError
from knowledge.ingestion.sniff import (
    SUPPORTED_TYPES_SENTENCE,
    check_declared_type,
    csv_delimiter,
    display_name,
    extension,
    sniff,
)
from tests.knowledge import corpus


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(corpus.handbook_pdf(), "pdf", id="pdf"),
        pytest.param(
            b"\n\n  garbage before the header %PDF-1.7\n" + corpus.pages_pdf(1)[9:],
            "pdf",
            id="pdf-late-header",
        ),
        pytest.param(corpus.handbook_docx(), "docx", id="docx"),
        pytest.param(corpus.HELP_PAGE.encode(), "html", id="html-document"),
        pytest.param(
            b"<p>First paragraph</p>\n<p>Second <a href='/x'>link</a></p>", "html", id="html-fragment"
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            "html",
            id="xhtml",
        ),
        pytest.param(corpus.GUIDE_MARKDOWN.encode(), "markdown", id="markdown"),
        pytest.param(corpus.PRODUCTS_CSV.encode(), "csv", id="csv"),
        pytest.param(b"name;city\nAda;London\nGrace;New York\n", "csv", id="semicolon-csv"),
        pytest.param(b"name\tcity\nAda\tLondon\n", "csv", id="tab-separated"),
        pytest.param(corpus.PLAIN_TEXT.encode(), "text", id="text"),
        pytest.param(corpus.PLAIN_TEXT.encode("latin-1"), "text", id="latin-1-text"),
        pytest.param(corpus.PLAIN_TEXT.encode("utf-16"), "text", id="utf-16-text-with-bom"),
        pytest.param(b"BMW service notes\nOil change every 15,000 km.", "text", id="text-starting-like-bmp"),
        pytest.param(b"MZ is a postcode prefix.\nIt is not a program.", "text", id="text-starting-like-exe"),
    ],
)
def test_sniff_recognises_supported_types_by_content(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
    if kind != "text":
        # A name changes nothing but the tie between plain text and Markdown.
        assert sniff(data, filename="misleading.md") == kind


def test_prose_with_commas_is_text_not_csv() -> None:
    prose = b"Hello, world.\nThanks for writing, Bob.\nSee you soon, I hope.\n"
    assert sniff(prose) == "text"
    assert csv_delimiter(prose.decode()) is None


def test_a_markdown_table_is_not_a_pipe_separated_csv() -> None:
    table = b"| size | fee |\n| --- | --- |\n| M | 0 |\n| L | 5 |\n"
    assert sniff(table) == "markdown"


def test_csv_with_quoted_line_breaks_is_csv() -> None:
    data = b'question,answer\n"How long?","Five days.\nOr ten."\n"Cost?",Free\n"Where?",Online\n'
    assert sniff(data) == "csv"


def test_markdown_extension_only_breaks_the_tie_between_text_and_markdown() -> None:
    prose = b"Just a few sentences.\n\nNothing that looks like markup at all."
    assert sniff(prose, filename="notes.txt") == "text"
    assert sniff(prose, filename="notes.md") == "markdown"
    # Syntax decides without any name, and a .md name does not make a CSV or a page Markdown.
    assert sniff(b"# Title\n\nBody text.") == "markdown"
    assert sniff(corpus.PRODUCTS_CSV.encode(), filename="products.md") == "csv"
    assert sniff(corpus.HELP_PAGE.encode(), filename="page.md") == "html"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[" * 65_536, id="brackets"),
        pytest.param(b"[" * 65_536 + b"](x)", id="brackets-then-link"),
        pytest.param(b"[a](" * 16_384, id="unclosed-links"),
        pytest.param(b"**x " * 16_384, id="emphasis-markers"),
        pytest.param(b"a,b" + b"," * 65_536, id="commas"),
        pytest.param(b"<p>" * 20_000, id="open-tags"),
        pytest.param(b" " * 65_536 + b"x", id="leading-spaces"),
    ],
)
def test_sniffing_hostile_text_takes_linear_time(data: bytes) -> None:
    started = time.perf_counter()
    sniff(data)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("data", "what"),
    [
        pytest.param(corpus.png_bytes(), "a PNG image", id="png"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32, "a JPEG image", id="jpeg"),
        pytest.param(b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 16, "a GIF image", id="gif"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 64, "a Windows program", id="exe"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "a Linux program", id="elf"),
        pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00" * 16, "a gzip archive", id="gzip"),
        pytest.param(corpus.zip_of({"notes.txt": b"hello"}), "a zip archive", id="zip"),
        pytest.param(corpus.zip_of({"xl/workbook.xml": b"<workbook/>"}), "an Excel workbook", id="xlsx"),
        pytest.param(
            corpus.zip_of({"ppt/presentation.xml": b"<p/>"}), "a PowerPoint presentation", id="pptx"
        ),
        pytest.param(corpus.ole_bytes(), "a legacy Office (.doc, .xls, .ppt) file", id="legacy-doc"),
        pytest.param(b"{\\rtf1\\ansi Hello}", "an RTF document", id="rtf"),
        pytest.param(
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG image", id="svg"
        ),
        pytest.param(b'<?xml version="1.0"?><feed><entry/></feed>', "an XML file", id="xml"),
        pytest.param(bytes(range(256)) * 4, "a binary file", id="unknown-binary"),
    ],
)
def test_unsupported_types_are_refused_by_name(data: bytes, what: str) -> None:
    with pytest.raises(IngestionError) as raised:
        sniff(data, filename="upload.pdf")
    assert raised.value.message.startswith(f'"upload.pdf" is {what}')
    assert raised.value.message.endswith(SUPPORTED_TYPES_SENTENCE)


def test_password_protected_word_file_is_named_as_such() -> None:
    with pytest.raises(IngestionError, match="password-protected Office file"):
        sniff(corpus.ole_bytes(encrypted=True), filename="secret.docx")


def test_empty_and_whitespace_only_files_are_refused() -> None:
    for data in (b"", b" \n\t\r\n "):
        with pytest.raises(IngestionError, match="is empty"):
            sniff(data, filename="blank.txt")


def test_damaged_zip_is_refused_as_damaged() -> None:
    with pytest.raises(IngestionError, match="could not be read; it may be damaged"):
        sniff(b"PK\x03\x04" + b"\x00" * 100, filename="report.docx")


@pytest.mark.parametrize(
    ("kind", "filename"),
    [
        ("pdf", "report.pdf"),
        ("pdf", "REPORT.PDF"),
        ("docx", "letter.docx"),
        ("markdown", "notes.txt"),
        ("text", "readme.md"),
        ("csv", "data.txt"),
        ("html", "page.htm"),
        ("text", "data.csv"),
        ("pdf", "no-extension"),
        ("pdf", "archive.tar.unknownext"),
        ("pdf", ".pdf"),
        ("html", ""),
    ],
)
def test_declared_type_that_matches_or_claims_nothing_is_accepted(kind: str, filename: str) -> None:
    check_declared_type(kind, filename)


@pytest.mark.parametrize(
    ("kind", "filename", "message"),
    [
        ("html", "report.pdf", '"report.pdf" is named as a PDF document but contains an HTML page'),
        (
            "pdf",
            "letter.docx",
            '"letter.docx" is named as a Word document (.docx) but contains a PDF document',
        ),
        ("text", "photo.png", '"photo.png" is named as a PNG image but contains plain text'),
        ("pdf", "notes.txt", '"notes.txt" is named as a text file but contains a PDF document'),
        (
            "docx",
            "old.doc",
            '"old.doc" is named as a legacy Word document (.doc) but contains a Word document',
        ),
    ],
)
def test_declared_type_that_contradicts_the_content_is_refused(
    kind: str, filename: str, message: str
) -> None:
    with pytest.raises(IngestionError) as raised:
        check_declared_type(kind, filename)
    assert raised.value.message.startswith(message)


def test_names_are_shown_by_their_last_component_only() -> None:
    assert display_name("../../etc/passwd.pdf") == '"passwd.pdf"'
    assert display_name("C:\\Users\\me\\..\\secret.docx") == '"secret.docx"'
    assert display_name("evil\x00name\x1b[31m.pdf") == '"evilname[31m.pdf"'
    assert display_name("") == "This file"
    assert display_name("a" * 300 + ".pdf").endswith('..."')
    assert len(display_name("a" * 300 + ".pdf")) <= 82
    assert extension("../../etc/passwd.pdf") == "pdf"
    assert extension("archive.tar.gz") == "gz"
    assert extension("dir.v2/README") == ""


@pytest.fixture
def file_opens() -> Iterator[list[str]]:
    """Every path opened while the test runs, by any code, seen through Python's audit hooks."""
    opened: list[str] = []
    recording = [True]

    def hook(event: str, arguments: tuple[Any, ...]) -> None:
        if recording[0] and event == "open" and arguments and isinstance(arguments[0], str | bytes):
            opened.append(str(arguments[0]))

    # Audit hooks cannot be removed; this one stops recording when the test ends.
    sys.addaudithook(hook)
    yield opened
    recording[0] = False


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd.pdf",
        "/etc/passwd",
        "..\\..\\windows\\win.ini.pdf",
        "report.pdf\x00.html",
        "~/.ssh/id_rsa",
    ],
)
def test_traversal_file_names_never_reach_the_file_system(filename: str, file_opens: list[str]) -> None:
    from knowledge.ingestion.parse import parse

    data = corpus.pages_pdf(1)
    kind = sniff(data, filename=filename)
    assert kind == "pdf"
    messages: list[str] = []
    try:
        check_declared_type(kind, filename)
    except IngestionError as error:
        messages.append(error.message)
    assert not any("/" in message or "\\" in message for message in messages)
    document = parse(data, kind=kind)
    assert document.pages == 1
    touched = [path for path in file_opens if any(part in path for part in ("passwd", "win.ini", "id_rsa"))]
    assert touched == []
