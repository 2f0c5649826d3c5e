"""Parsing each supported type into sections with the right headings and pages, and failing cleanly.

The good corpus checks structure: page numbers match the pages text was written on, heading paths
match the document's outline, navigation and page chrome are absent. The bad corpus checks that every
hostile or broken input ends in an ``IngestionError`` with a reason a tenant can read, quickly and
within bounded memory.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from pytest_django.fixtures import Settings

from knowledge.ingestion import ChunkDraft, IngestionError, ParsedDocument
from knowledge.ingestion.chunk import chunk
from knowledge.ingestion.clean import clean, strip_repeated_lines
from knowledge.ingestion.parse import fit_heading_path, parse, parse_qa
from knowledge.ingestion.parsers import limits
from knowledge.ingestion.sniff import check_declared_type, sniff
from tests.knowledge import corpus


def section_with(document: ParsedDocument, words: str) -> int:
    """The index of the one section containing ``words``."""
    found = [index for index, section in enumerate(document.sections) if words in section.text]
    assert len(found) == 1, (words, [section.text[:60] for section in document.sections])
    return found[0]


def all_text(document: ParsedDocument) -> str:
    return "\n".join(section.text for section in document.sections)


# --- PDF ---------------------------------------------------------------------------------------------


def test_pdf_sections_carry_the_page_their_text_is_on_and_the_outline_headings() -> None:
    document = parse(corpus.handbook_pdf(), kind="pdf")

    assert document.kind == "pdf"
    assert document.pages == 3
    assert document.title == "Employee handbook"
    expected = {
        "pgone": (1, ("Introduction",)),
        "pgtwo": (2, ("Introduction",)),  # page 2 before the "Leave" heading still belongs to it
        "pgleave": (2, ("Leave",)),
        "pgsick": (3, ("Leave", "Sick leave")),
    }
    for tag, (page, path) in expected.items():
        sections = [section for section in document.sections if f"case {tag} " in section.text]
        assert sections, tag
        for section in sections:
            assert (section.page_number, section.heading_path) == (page, path), tag
            other_tags = set(expected) - {tag}
            assert not any(f"case {other} " in section.text for other in other_tags)
    assert all(section.page_number is not None for section in document.sections)


def test_pdf_text_is_cleaned_of_running_headers_footers_and_line_break_hyphens() -> None:
    text = all_text(parse(corpus.handbook_pdf(), kind="pdf"))

    assert "ACME Corporation handbook" not in text
    assert "Page 1 of 3" not in text and "Page 3 of 3" not in text
    assert "an example of a hyphenated line break" in text
    assert "exam-" not in text


def test_pdf_without_outline_has_page_numbers_on_every_section() -> None:
    document = parse(corpus.pages_pdf(4), kind="pdf")

    assert [section.page_number for section in document.sections] == [1, 2, 3, 4]
    for section in document.sections:
        assert f"case pg{section.page_number} " in section.text
        assert section.heading_path == ()


def test_pdf_with_only_an_owner_password_is_read() -> None:
    # Permissions-only encryption (no password to open) is what most "protected" PDFs use.
    document = parse(
        corpus.make_pdf([corpus.PdfPage(lines=["Readable words."])], owner_password="x"), kind="pdf"
    )
    assert all_text(document) == "Readable words."


def test_encrypted_pdf_fails_with_a_reason() -> None:
    data = corpus.make_pdf([corpus.PdfPage(lines=["Secret words."])], user_password="open sesame")
    with pytest.raises(IngestionError, match=r"^This PDF is password-protected"):
        parse(data, kind="pdf")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(corpus.handbook_pdf()[:2000], id="truncated"),
        pytest.param(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", id="garbage"),
        pytest.param(b"%PDF-", id="header-only"),
    ],
)
def test_corrupt_pdf_fails_as_damaged(data: bytes) -> None:
    with pytest.raises(IngestionError, match=r"^This PDF could not be read; it may be damaged\."):
        parse(data, kind="pdf")


def test_pdf_without_text_fails_saying_ocr_is_needed() -> None:
    with pytest.raises(IngestionError) as raised:
        parse(corpus.blank_pdf(), kind="pdf")
    assert raised.value.message == (
        "This PDF contains no text we can read (a scanned PDF needs OCR, which Groundwork does not do yet)."
    )


def test_pdf_over_the_page_cap_is_refused_before_reading(settings: Settings) -> None:
    settings.INGESTION_PDF_MAX_PAGES = 3
    parse(corpus.pages_pdf(3), kind="pdf")
    with pytest.raises(IngestionError, match=r"This PDF has 4 pages; Groundwork reads at most 3 pages"):
        parse(corpus.pages_pdf(4), kind="pdf")


def test_pdf_claiming_a_million_pages_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(IngestionError, match=r"This PDF has 1,000,000 pages; Groundwork reads at most 2,000"):
        parse(corpus.claimed_pages_pdf(1_000_000), kind="pdf")
    assert time.perf_counter() - started < 1.0


def test_parsing_stops_when_the_time_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that moves 10 s on every look: a 30 s budget runs out after a few pages.
    ticks: Iterator[float] = (10.0 * step for step in range(1_000))
    monkeypatch.setattr(limits.time, "monotonic", lambda: next(ticks))
    monkeypatch.setattr(limits, "PARSE_SECONDS", 30.0)
    with pytest.raises(IngestionError, match=r"took longer than 30 seconds to read"):
        parse(corpus.pages_pdf(10), kind="pdf")


def test_text_beyond_the_document_limit_is_refused(settings: Settings) -> None:
    settings.INGESTION_MAX_TEXT_CHARACTERS = 1_000
    with pytest.raises(IngestionError, match=r"holds more than 1,000 characters of text"):
        parse(("A sentence of filler words. " * 100).encode(), kind="text")


# --- Word ----------------------------------------------------------------------------------------------


def test_docx_heading_styles_become_heading_paths() -> None:
    document = parse(corpus.handbook_docx(), kind="docx")

    assert document.title == "Returns handbook"
    paths = {
        "within thirty days": ("Returns",),
        "original payment method": ("Returns", "Refunds"),
        "Card refunds take five days": ("Returns", "Refunds", "Timelines"),
        "free for another size": ("Returns", "Exchanges"),
        "Medium | None": ("Returns", "Exchanges"),
        "every weekday": ("Shipping",),
    }
    for words, path in paths.items():
        assert document.sections[section_with(document, words)].heading_path == path, words
    timelines = document.sections[section_with(document, "Card refunds")]
    assert timelines.text == "- Card refunds take five days.\n- Bank transfers take ten days."
    text = all_text(document)
    assert "........" not in text  # the generated table of contents is skipped
    assert all(section.page_number is None for section in document.sections)


def test_zip_bomb_docx_is_refused_quickly_without_inflating_it() -> None:
    bomb = corpus.zip_bomb_docx(64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # 64 MB of XML in well under 1 MB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(IngestionError, match=r"zip bomb"):
            parse(bomb, kind="docx")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 8 * 1024 * 1024


def test_zip_bomb_that_understates_its_sizes_still_cannot_inflate() -> None:
    bomb = corpus.understated_zip_bomb_docx()
    tracemalloc.start()
    try:
        with pytest.raises(IngestionError, match=r"could not be read; it may be damaged"):
            parse(bomb, kind="docx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_xml_entity_bomb_in_a_docx_is_not_expanded() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            text = all_text(parse(corpus.billion_laughs_docx(), kind="docx"))
        except IngestionError as error:
            text = error.message
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "lollol" not in text
    assert elapsed < 2.0
    assert peak < 32 * 1024 * 1024


def test_docx_over_the_total_size_limit_is_refused(settings: Settings) -> None:
    settings.INGESTION_ZIP_MAX_UNCOMPRESSED_BYTES = 10_000
    with pytest.raises(IngestionError, match=r"zip bomb"):
        parse(corpus.handbook_docx(), kind="docx")


def test_encrypted_zip_entries_fail_as_password_protected() -> None:
    with pytest.raises(IngestionError, match=r"^This Word document is password-protected"):
        parse(corpus.encrypted_flag_docx(), kind="docx")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(corpus.docx_with_broken_xml, id="broken-xml"),
        pytest.param(lambda: corpus.zip_of({"word/document.xml": b"<w:document/>"}), id="no-package-parts"),
        pytest.param(lambda: b"PK\x03\x04 not really a zip", id="not-a-zip"),
    ],
)
def test_corrupt_docx_fails_as_damaged(make: Callable[[], bytes]) -> None:
    with pytest.raises(IngestionError, match=r"could not be read; it may be damaged"):
        parse(make(), kind="docx")


def test_docx_without_text_fails_as_empty() -> None:
    with pytest.raises(IngestionError, match=r"^This Word document contains no text we can read\.$"):
        parse(corpus.empty_docx(), kind="docx")


# --- HTML ----------------------------------------------------------------------------------------------


def test_html_main_content_keeps_headings_and_anchors_and_drops_chrome() -> None:
    document = parse(
        corpus.HELP_PAGE.encode(), kind="html", source_url="https://example.com/help/returns#top"
    )

    assert document.title == "Returns policy | Acme Help"
    expected = {
        "within 30 days of delivery. Items must be unused.": (("Returns",), "#returns"),
        "original payment method": (("Returns", "Refunds"), "#refunds"),
        "- Card refunds take 3 to 5 days.\n- Bank transfers": (
            ("Returns", "Refunds", "Timelines"),
            "#timelines",
        ),
        "Exchanges are free.\nSizes only.": (("Returns", "Exchanges"), "#exchanges"),
        "Size | Fee\nM | 0 EUR": (("Returns", "Exchanges"), "#exchanges"),
        # No id of its own: the nearest heading above it with one is where a link can point.
        "Phone:\n  +1 555 0100": (("Returns", "Contact us"), "#returns"),
    }
    for words, (path, fragment) in expected.items():
        section = document.sections[section_with(document, words)]
        assert section.heading_path == path, words
        assert section.anchor == f"https://example.com/help/returns{fragment}", words
    text = all_text(document)
    for chrome in (
        corpus.NAVIGATION_TEXT,
        corpus.FOOTER_TEXT,
        corpus.SCRIPT_TEXT,
        "Help breadcrumb",
        "cookies banner",
        "Hidden text",
        "Invisible paragraph",
        "aside text",
        "Send button",
        "input value",
        "Was this article helpful",
        "color: red",
    ):
        assert chrome not in text, chrome


def test_html_without_landmarks_uses_trafilatura_and_still_finds_heading_anchors() -> None:
    document = parse(corpus.DIV_SOUP_PAGE.encode(), kind="html")

    assert document.title == "Billing help"
    assert [section.heading_path for section in document.sections] == [
        ("Billing",),
        ("Billing", "Cards"),
        ("Billing", "Cards", "Expired cards"),
        ("Billing", "Invoices"),
    ]
    assert [section.anchor for section in document.sections] == ["#billing", "#cards", "#cards", "#invoices"]
    text = all_text(document)
    assert corpus.NAVIGATION_TEXT not in text
    assert corpus.FOOTER_TEXT not in text
    assert "Getting started guide" not in text


def test_html_whose_headings_trafilatura_drops_is_read_from_the_page_itself() -> None:
    document = parse(corpus.SECTIONED_DIV_PAGE.encode(), kind="html", source_url="https://example.com/ship")

    assert [(section.heading_path, section.anchor) for section in document.sections] == [
        (("Domestic",), "https://example.com/ship#domestic"),
        (("Abroad",), "https://example.com/ship#abroad"),
        (("Abroad", "Customs"), "https://example.com/ship#abroad"),
    ]
    assert "two working days" in document.sections[0].text
    text = all_text(document)
    assert corpus.NAVIGATION_TEXT not in text
    assert corpus.FOOTER_TEXT not in text
    assert "Other help topics" not in text


def test_html_declared_charset_is_honoured() -> None:
    page = (
        '<html><head><meta charset="windows-1252"><title>Caf\u00e9</title></head>'
        "<body><main><p>Cr\u00e8me br\u00fbl\u00e9e \u2013 \u20ac5</p></main></body></html>"
    )
    document = parse(page.encode("cp1252"), kind="html")
    assert document.title == "Caf\u00e9"
    assert all_text(document) == "Cr\u00e8me br\u00fbl\u00e9e \u2013 \u20ac5"


def test_html_with_only_navigation_fails_as_empty() -> None:
    with pytest.raises(IngestionError, match=r"^This page contains no text we can read\.$"):
        parse(corpus.NAVIGATION_ONLY_PAGE.encode(), kind="html")


# --- Markdown, CSV, text, Q&A --------------------------------------------------------------------------


def test_markdown_headings_become_heading_paths() -> None:
    document = parse(corpus.GUIDE_MARKDOWN.encode(), kind="markdown")

    assert document.title == "Installation guide"  # from the front matter
    assert [(section.heading_path, section.text.splitlines()[0]) for section in document.sections] == [
        ((), "Some words before any heading."),
        (("Guide",), "Welcome to the **guide**."),
        (("Guide", "Install groundwork", "Linux"), "```bash"),
        (("Guide", "Usage"), "- Run it."),
        (("Guide", "Setext heading"), "Under the setext heading."),
    ]
    linux = document.sections[section_with(document, "pip install")]
    assert "# this is a shell comment, not a heading" in linux.text
    assert "> # A heading inside a quote is content" in linux.text
    assert "title:" not in all_text(document)


def test_markdown_title_falls_back_to_the_first_top_level_heading() -> None:
    document = parse(b"Intro.\n\n## Minor\n\nText.\n\n# Main title\n\nMore.", kind="markdown")
    assert document.title == "Main title"


def test_csv_rows_become_column_value_blocks() -> None:
    document = parse(corpus.PRODUCTS_CSV.encode(), kind="csv")

    assert len(document.sections) == 1
    assert document.sections[0].text == (
        "product: Widget\nprice: 9.99\nnotes: Small, blue\n\n"
        "product: Gadget\nprice: 19.99\nnotes: Needs batteries\n\n"
        "product: Gizmo\nprice: 4.50"
    )


def test_csv_rows_longer_than_the_header_name_their_extra_columns() -> None:
    document = parse(b"name;city\nAda;London;1815\nGrace;New York;\n", kind="csv")
    assert (
        document.sections[0].text == "name: Ada\ncity: London\nColumn 3: 1815\n\nname: Grace\ncity: New York"
    )


def test_text_in_a_legacy_encoding_is_decoded() -> None:
    document = parse(corpus.PLAIN_TEXT.encode("latin-1"), kind="text")
    assert document.sections[0].text == corpus.PLAIN_TEXT
    assert parse(corpus.PLAIN_TEXT.encode("utf-16"), kind="text").sections[0].text == corpus.PLAIN_TEXT


@pytest.mark.parametrize("data", [b"", b"   \n\n\t  ", b"\x00\x01\x02\x03", "\u200b\u00ad\ufeff".encode()])
def test_text_without_readable_characters_fails_as_empty(data: bytes) -> None:
    with pytest.raises(IngestionError, match=r"^This text contains no text we can read\.$"):
        parse(data, kind="text")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(IngestionError, match="cannot read documents of type 'exe'"):
        parse(b"MZ", kind="exe")


def test_qa_pairs_become_one_section_each_under_their_question() -> None:
    document = parse_qa(
        [
            {"question": "How long do refunds take?", "answer": "Five  working days."},
            ("Do you ship abroad?", "Yes, to the EU."),
            {"question": "  ", "answer": "An answer without a question is skipped."},
        ]
    )
    assert document.kind == "qa"
    assert [(section.heading_path, section.text) for section in document.sections] == [
        (("How long do refunds take?",), "How long do refunds take?\n\nFive working days."),
        (("Do you ship abroad?",), "Do you ship abroad?\n\nYes, to the EU."),
    ]
    with pytest.raises(IngestionError, match="no pair with both a question and an answer"):
        parse_qa([{"question": "Only a question?", "answer": ""}])


def test_heading_paths_fit_the_chunk_column() -> None:
    path = fit_heading_path(("Top", *(f"Level {level} " + "x" * 140 for level in range(2, 8)), "Leaf"))
    assert len(" > ".join(path)) <= 500
    assert path[0] == "Top" and path[-1] == "Leaf"
    assert fit_heading_path(("A", "B")) == ("A", "B")


# --- the bad-input corpus through every stage ----------------------------------------------------------


def ingest(data: bytes, filename: str) -> list[ChunkDraft]:
    """The stages an upload goes through, in the pipeline's order."""
    kind = sniff(data, filename=filename)
    check_declared_type(kind, filename)
    return chunk(parse(data, kind=kind))


@pytest.mark.parametrize(
    ("filename", "make", "reason"),
    [
        ("huge.pdf", lambda: corpus.claimed_pages_pdf(1_000_000), "has 1,000,000 pages"),
        ("photo.pdf", corpus.png_bytes, '"photo.pdf" is a PNG image; Groundwork reads PDF'),
        (
            "report.pdf",
            lambda: corpus.HELP_PAGE.encode(),
            "named as a PDF document but contains an HTML page",
        ),
        ("old.doc", corpus.ole_bytes, "is a legacy Office (.doc, .xls, .ppt) file"),
        ("archive.zip", lambda: corpus.zip_of({"a.txt": b"a"}), "is a zip archive"),
        (
            "locked.pdf",
            lambda: corpus.make_pdf([corpus.PdfPage(["x"])], user_password="pw"),
            "password-protected",
        ),
        ("locked.docx", lambda: corpus.ole_bytes(encrypted=True), "password-protected Office file"),
        ("broken.pdf", lambda: corpus.handbook_pdf()[:1500], "could not be read; it may be damaged"),
        ("broken.docx", corpus.docx_with_broken_xml, "could not be read; it may be damaged"),
        ("empty.txt", lambda: b"", "is empty"),
        ("scan.pdf", corpus.blank_pdf, "a scanned PDF needs OCR"),
        ("blank.docx", corpus.empty_docx, "contains no text we can read"),
        ("bomb.docx", corpus.zip_bomb_docx, "zip bomb"),
        ("../../etc/passwd.pdf", lambda: corpus.png_bytes(), '"passwd.pdf" is a PNG image'),
        ("..\\..\\boot.ini.docx", corpus.zip_bomb_docx, "zip bomb"),
    ],
)
def test_bad_input_corpus_fails_cleanly(filename: str, make: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(IngestionError) as raised:
        ingest(make(), filename)
    assert reason in raised.value.message
    assert "etc/" not in raised.value.message and "\\" not in raised.value.message


@pytest.mark.parametrize(
    ("filename", "make"),
    [
        ("handbook.pdf", corpus.handbook_pdf),
        ("handbook.docx", corpus.handbook_docx),
        ("help.html", lambda: corpus.HELP_PAGE.encode()),
        ("guide.md", lambda: corpus.GUIDE_MARKDOWN.encode()),
        ("products.csv", lambda: corpus.PRODUCTS_CSV.encode()),
        ("hours.txt", lambda: corpus.PLAIN_TEXT.encode("latin-1")),
    ],
)
def test_good_corpus_ingests_through_every_stage(filename: str, make: Callable[[], bytes]) -> None:
    drafts = ingest(make(), filename)
    assert drafts
    assert [draft.position for draft in drafts] == list(range(len(drafts)))


# --- cleaning ------------------------------------------------------------------------------------------


def test_clean_normalises_text() -> None:
    raw = (
        "Cafe\u0301 \ufb01ne\u00a0\u00a0print\x07\r\n"  # decomposed é, ligature, no-break spaces, a bell
        "zero\u200bwidth soft\u00adhyphen   spaced\t\ttabs   \r\n\r\n\r\n\n"
        "    indented code\x0c\n"
        "exam\x02ple from PDFium\u2028next line"
    )
    assert clean(raw) == (
        "Café fine print\n"
        "zerowidth softhyphen spaced tabs\n\n"
        "    indented code\n\n"
        "example from PDFium\nnext line"
    )


def test_clean_keeps_indentation_as_plain_spaces() -> None:
    assert clean("def f():\n\treturn 1\n\u00a0\u00a0 x") == "def f():\n    return 1\n   x"
    assert clean("  - item\n      nested") == "  - item\n      nested"


def test_clean_is_idempotent_and_dehyphenates_only_when_asked() -> None:
    text = "A hyphen-\nated word, an e-mail-\nBased term and 1990-\n2000."
    assert clean(text) == text
    assert clean(text, dehyphenate=True) == "A hyphenated word, an e-mail-\nBased term and 1990-\n2000."
    for sample in (text, corpus.PLAIN_TEXT, corpus.GUIDE_MARKDOWN):
        assert clean(clean(sample, dehyphenate=True), dehyphenate=True) == clean(sample, dehyphenate=True)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(" " * 1_000_000 + "x", id="indentation"),
        pytest.param("a" + " " * 1_000_000 + "x", id="inner-spaces"),
        pytest.param("a" + " " * 1_000_000, id="trailing-spaces"),
        pytest.param("\n \t" * 300_000, id="blank-lines"),
        pytest.param("exam-\n" * 300_000, id="hyphens"),
    ],
)
def test_cleaning_hostile_text_takes_linear_time(text: str) -> None:
    started = time.perf_counter()
    cleaned = clean(text, dehyphenate=True)
    assert time.perf_counter() - started < 1.0
    assert len(cleaned) <= len(text)
    assert not any(len(line) - len(line.lstrip()) > 32 for line in cleaned.splitlines())


def test_repeated_edge_lines_are_stripped_only_when_they_repeat() -> None:
    bodies = [
        "Ducks swim.",
        "Geese fly south.\nSwans stay.",
        "Herons wait.\nGulls steal chips.",
        "Owls hoot.",
    ]
    pages = [f"Acme manual\n{body}\nPage {number} of 4" for number, body in enumerate(bodies, start=1)]
    assert strip_repeated_lines(pages) == bodies
    two_pages = pages[:2]
    assert strip_repeated_lines(two_pages) == two_pages
    varied = ["Intro\nAlpha", "Setup\nBeta", "Usage\nGamma"]
    assert strip_repeated_lines(varied) == varied
