"""The ingestion test corpus, made in code: one document of each supported type, and the bad inputs.

Nothing binary is committed. PDFs are written with reportlab (BSD; it also encrypts), Word documents
with python-docx, zips with the standard library. Each good document has a known structure (its
headings, its pages, words that occur on one page only) that the tests check the parsed result against.
"""

from __future__ import annotations

import io
import struct
import textwrap
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from reportlab.lib import pdfencrypt
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

# --- PDF ---------------------------------------------------------------------------------------------


@dataclass
class PdfPage:
    lines: list[str]
    # (outline level, title): an outline entry pointing at this page; its title is drawn as a line of
    # its own where it appears in ``lines``.
    outline: list[tuple[int, str]] = field(default_factory=list)


def make_pdf(
    pages: Sequence[PdfPage],
    *,
    title: str = "",
    header: str = "",
    footer: str = "",
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A PDF with the given lines on each page, optional running header and footer ("{page}" replaced)."""
    buffer = io.BytesIO()
    encrypt = None
    if user_password is not None or owner_password is not None:
        encrypt = pdfencrypt.StandardEncryption(
            user_password or "", ownerPassword=owner_password or "owner", canCopy=0
        )
    pdf = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt, invariant=True)
    if title:
        pdf.setTitle(title)
    _, height = A4
    for number, page in enumerate(pages, start=1):
        if header:
            pdf.drawString(72, height - 40, header.format(page=number, pages=len(pages)))
        text = pdf.beginText(72, height - 80)
        text.setFont("Helvetica", 10)
        for line in page.lines:
            text.textLine(line)
        pdf.drawText(text)
        if footer:
            pdf.drawString(72, 30, footer.format(page=number, pages=len(pages)))
        for index, (level, entry_title) in enumerate(page.outline):
            key = f"page-{number}-{index}"
            pdf.bookmarkPage(key)
            pdf.addOutlineEntry(entry_title, key, level=level)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def page_sentences(tag: str, count: int) -> list[str]:
    """``count`` sentences whose every one names ``tag``, wrapped into lines that fit an A4 page."""
    subjects = ["Holiday requests", "Travel costs", "Laptop repairs", "Parking permits", "Team lunches"]
    sentences = [
        f"{subjects[index % len(subjects)]} for case {tag} number {index} are approved by the "
        f"office manager within {index % 7 + 2} working days."
        for index in range(count)
    ]
    return textwrap.wrap(" ".join(sentences), width=95)


def handbook_pdf() -> bytes:
    """Three pages, an outline (Introduction; Leave > Sick leave), a running header and footer.

    Page 2 holds the end of the introduction, then the "Leave" heading mid-page. A word split by a
    hyphen across a line break ("exam-" / "ple") is on page 1.
    """
    page_one = PdfPage(
        lines=[
            "Introduction",
            *page_sentences("pgone", 12),
            "This sentence ends with an exam-",
            "ple of a hyphenated line break.",
        ],
        outline=[(0, "Introduction")],
    )
    page_two = PdfPage(
        lines=[
            *page_sentences("pgtwo", 4),
            "Leave",
            *page_sentences("pgleave", 8),
        ],
        outline=[(0, "Leave")],
    )
    page_three = PdfPage(lines=["Sick leave", *page_sentences("pgsick", 10)], outline=[(1, "Sick leave")])
    return make_pdf(
        [page_one, page_two, page_three],
        title="Employee handbook",
        header="ACME Corporation handbook - internal",
        footer="Page {page} of {pages}",
    )


def pages_pdf(count: int) -> bytes:
    """``count`` pages, each with sentences naming its own number ("pg1", "pg2", ...)."""
    return make_pdf([PdfPage(lines=page_sentences(f"pg{number}", 6)) for number in range(1, count + 1)])


def blank_pdf(pages: int = 2) -> bytes:
    """Pages without any text, as a scan without OCR is."""
    return make_pdf([PdfPage(lines=[]) for _ in range(pages)])


def claimed_pages_pdf(claimed: int) -> bytes:
    """A hand-written PDF with one real page whose page tree claims ``claimed`` pages."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % claimed,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    output = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    cross_reference = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        output += b"%010d 00000 n \n" % offset
    output += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        cross_reference,
    )
    return bytes(output)


# --- Word ----------------------------------------------------------------------------------------------


def handbook_docx() -> bytes:
    """Title, Heading 1-3 structure, a list, a table, a generated table of contents, a custom heading.

    Structure: Returns > Refunds > Timelines; Returns > Exchanges; Shipping (a custom style marked with
    outline level 0, as localised Word versions mark their heading styles).
    """
    document = docx.Document()
    document.core_properties.title = "Returns handbook"
    toc_style = document.styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Returns ........ 1", style=toc_style)
    document.add_heading("Returns", level=1)
    document.add_paragraph("Customers may return any item within thirty days of delivery.")
    document.add_heading("Refunds", level=2)
    document.add_paragraph("Refunds go back to the original payment method.")
    document.add_heading("Timelines", level=3)
    document.add_paragraph("Card refunds take five days.", style="List Bullet")
    document.add_paragraph("Bank transfers take ten days.", style="List Bullet")
    document.add_heading("Exchanges", level=2)
    document.add_paragraph("Exchanges are free for another size.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Size"
    table.cell(0, 1).text = "Fee"
    table.cell(1, 0).text = "Medium"
    table.cell(1, 1).text = "None"
    custom = document.styles.add_style("Kapitel", WD_STYLE_TYPE.PARAGRAPH)
    outline_level = OxmlElement("w:outlineLvl")
    outline_level.set(qn("w:val"), "0")
    custom.element.get_or_add_pPr().append(outline_level)
    document.add_paragraph("Shipping", style=custom)
    document.add_paragraph("Parcels leave the warehouse every weekday.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def empty_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("   ")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_with_broken_xml() -> bytes:
    """A real .docx whose main part is not well-formed XML."""
    source = zipfile.ZipFile(io.BytesIO(handbook_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "word/document.xml":
                content = content[: len(content) // 2]
            target.writestr(info.filename, content)
    return buffer.getvalue()


def billion_laughs_docx() -> bytes:
    """A .docx whose main part defines nested XML entities that would expand to gigabytes."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    document_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<!DOCTYPE w:document [{''.join(entities)}]>\n"
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Laughs: &lol9;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    source = zipfile.ZipFile(io.BytesIO(handbook_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = document_xml if info.filename == "word/document.xml" else source.read(info.filename)
            target.writestr(info.filename, content)
    return buffer.getvalue()


def zip_bomb_docx(uncompressed_bytes: int = 64 * 1024 * 1024) -> bytes:
    """A .docx-shaped zip whose word/document.xml inflates from about 64 KB to ``uncompressed_bytes``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            block = b" " * (1024 * 1024)
            for _ in range(uncompressed_bytes // len(block)):
                entry.write(block)
    return buffer.getvalue()


def understated_zip_bomb_docx() -> bytes:
    """A zip bomb whose directory lies: word/document.xml claims 1,000 bytes and inflates to 64 MB.

    The stated sizes pass every check; what is being tested is that reading the entry never inflates
    past what the directory states.
    """
    data = bytearray(zip_bomb_docx())
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("word/document.xml")
    stated = 1_000
    # Zip64 entries keep their real sizes in an extra field; rewrite both the local header and the
    # central directory record of the entry so that every size it states is ``stated``.
    _set_sizes(data, info.header_offset, header="local", stated=stated)
    record = archive.start_dir
    while data[record : record + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, record + 28)
        if bytes(data[record + 46 : record + 46 + name_length]) == b"word/document.xml":
            _set_sizes(data, record, header="central", stated=stated)
        record += 46 + name_length + extra_length + comment_length
    return bytes(data)


def _set_sizes(data: bytearray, offset: int, *, header: str, stated: int) -> None:
    size_offset = 22 if header == "local" else 24
    name_length_offset = 26 if header == "local" else 28
    fixed_length = 30 if header == "local" else 46
    current = struct.unpack_from("<I", data, offset + size_offset)[0]
    if current != 0xFFFFFFFF:
        struct.pack_into("<I", data, offset + size_offset, stated)
        return
    name_length, extra_length = struct.unpack_from("<HH", data, offset + name_length_offset)
    extra = offset + fixed_length + name_length
    end = extra + extra_length
    while extra < end:
        tag, size = struct.unpack_from("<HH", data, extra)
        if tag == 0x0001:  # Zip64: uncompressed size first
            struct.pack_into("<Q", data, extra + 4, stated)
        extra += 4 + size


def encrypted_flag_docx() -> bytes:
    """A .docx whose entries are marked as encrypted (traditional zip encryption)."""
    data = bytearray(handbook_docx())
    position = 0
    while (position := bytes(data).find(b"PK\x03\x04", position)) != -1:
        data[position + 6] |= 0x01
        position += 4
    position = 0
    while (position := bytes(data).find(b"PK\x01\x02", position)) != -1:
        data[position + 8] |= 0x01
        position += 4
    return bytes(data)


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- HTML ----------------------------------------------------------------------------------------------

NAVIGATION_TEXT = "Navigation secret menu entry"
FOOTER_TEXT = "Footer copyright notice text"
SCRIPT_TEXT = "scriptSecretValue"

HELP_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Returns policy | Acme Help</title>
  <style>.x {{ color: red; }}</style>
  <script>var token = "{SCRIPT_TEXT}";</script>
</head>
<body>
  <header><a href="/">Acme</a><nav><ul><li><a href="/shop">{NAVIGATION_TEXT}</a></li></ul></nav></header>
  <div role="dialog" class="cookie-banner">We use cookies banner text</div>
  <main>
    <nav class="breadcrumbs"><a href="/help">Help breadcrumb</a></nav>
    <h1 id="returns">Returns</h1>
    <p>You can return any item within <strong>30 days</strong> of delivery.<!-- a comment --> Items
       must be unused.</p>
    <h2 id="refunds">Refunds</h2>
    <p>Refunds are paid to the original payment method.</p>
    <section id="timelines">
      <h3>Timelines</h3>
      <ul><li>Card refunds take 3 to 5 days.</li><li>Bank transfers take up to 10 days.</li></ul>
      <div hidden>Hidden text that nobody sees</div>
      <p style="display: none">Invisible paragraph text</p>
    </section>
    <h2><a id="exchanges"></a>Exchanges</h2>
    <p>Exchanges are free.<br>Sizes only.</p>
    <table><tr><th>Size</th><th>Fee</th></tr><tr><td>M</td><td>0 EUR</td></tr></table>
    <h2>Contact us</h2>
    <pre>Phone:
  +1 555 0100</pre>
    <form><label>Email</label><input value="input value text"><button>Send button</button></form>
    <aside>Related articles aside text</aside>
    <footer>Was this article helpful?</footer>
  </main>
  <footer>{FOOTER_TEXT}</footer>
  <script>console.log("{SCRIPT_TEXT}")</script>
</body>
</html>
"""

# No <main>, no <article>: trafilatura decides what the content is.
DIV_SOUP_PAGE = f"""<html><head><title>Billing help</title></head><body>
<div class="topbar"><div class="menu"><a href="/">Home</a> | <a href="/pricing">{NAVIGATION_TEXT}</a>
 | <a href="/login">Log in to your account</a></div></div>
<div class="sidebar"><ul><li><a href="/a">Getting started guide</a></li><li><a href="/b">Billing
 questions</a></li></ul></div>
<div class="content">
<h1 id="billing">Billing</h1>
<p>We bill monthly in advance. Invoices are sent by email on the first day of each month to the
 account owner.</p>
<h2 id="cards">Cards</h2>
<p>We accept Visa, Mastercard and American Express. Debit cards work as well as credit cards for all
 plans.</p>
<h3>Expired cards</h3>
<p>When a card expires we retry the payment three times over a week before pausing the account.</p>
<h2 id="invoices">Invoices</h2>
<p>Invoices can be downloaded as PDF from the billing page at any time, including for past years.</p>
</div>
<div class="footer">{FOOTER_TEXT}</div>
</body></html>
"""

# No landmarks and no class name that says "content": trafilatura falls back to a paragraph-only
# extractor here, so the headings come from the page itself.
SECTIONED_DIV_PAGE = f"""<html><head><title>Shipping help</title></head><body>
<div id="site-menu"><a href="/">{NAVIGATION_TEXT}</a></div>
<div class="sidebar-left"><a href="/other">Other help topics</a></div>
<div class="x1"><h2 id="domestic">Domestic</h2><p>Parcels within the country arrive in two working days
 and are tracked from the warehouse to the door.</p></div>
<div class="x1"><h2 id="abroad">Abroad</h2><p>Parcels abroad arrive in five to ten working days,
 depending on customs in the country of delivery.</p></div>
<div class="x1"><h3>Customs</h3><p>Customs fees abroad are paid by the recipient on delivery, in the
 local currency.</p></div>
<div class="site-footer">{FOOTER_TEXT}</div>
</body></html>
"""

NAVIGATION_ONLY_PAGE = f"""<!doctype html><html><head><title>Menu</title></head><body>
<nav><a href="/">{NAVIGATION_TEXT}</a></nav><script>var a = 1;</script></body></html>"""

# --- Markdown, CSV, text -----------------------------------------------------------------------------

GUIDE_MARKDOWN = """---
title: "Installation guide"
tags: [setup]
---

Some words before any heading.

# Guide

Welcome to the **guide**.

## Install `groundwork`

### Linux

```bash
# this is a shell comment, not a heading
pip install groundwork
```

> # A heading inside a quote is content

## Usage

- Run it.
- Open [the dashboard](http://localhost:8000/app/).

Setext heading
--------------

Under the setext heading.
"""

PRODUCTS_CSV = 'product,price,notes\nWidget,9.99,"Small, blue"\nGadget,19.99,Needs batteries\nGizmo,4.50,\n'

PLAIN_TEXT = (
    "Opening hours\n\n"
    "The café is open from eight until six on weekdays, and from nine until four at weekends.\n\n"
    "Crème brûlée is served on Sundays only."
)


def png_bytes() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def ole_bytes(*, encrypted: bool = False) -> bytes:
    directory = "EncryptedPackage".encode("utf-16-le") if encrypted else "WordDocument".encode("utf-16-le")
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + directory + b"\x00" * 256
