"""Hostile documents, generated when a test (or bench/ingestion.py --box) needs them: nothing large is
committed. Each is small on disk and expensive to read, or built to break the reader:

- ``inflating_pdf``: a valid one-page PDF whose single FlateDecode content stream inflates to about
  1 GiB (by default) of repeated drawing operators, from about 1 MB of file;
- ``docx_zip_bomb``: a .docx whose document.xml inflates to 1 GiB of repeated paragraphs;
- ``nested_html``: a page of 100,000 nested ``<div>``s around a sentence;
- ``faulting_pdf``: a valid small PDF carrying the test-only fault marker the box honours when
  ``INGESTION_BOX_TEST_FAULTS`` is on (``knowledge.ingestion.box``): the parser crashes or hangs on it;
- ``oversized_text``: plain text above the upload limit.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator

from knowledge.ingestion.box import TEST_FAULT_MARKER

GIB = 1024**3
# One line of drawing operators PDFium has to interpret (a rectangle, stroked): the stream is not just
# bytes to skip but work for the content parser, as in the reported attack.
_DRAWING_LINE = b"0 0 m 10 10 l 20 0 l h S\n"


def _compressed(unit: bytes, total_bytes: int, *, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """zlib of ``prefix`` + ``unit`` repeated to ``total_bytes`` + ``suffix``, built in slices of 16 MB
    so the generator itself never holds the inflated size."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(prefix)]
    block = unit * (16 * 1024 * 1024 // len(unit))
    written = 0
    while written < total_bytes:
        piece = block[: total_bytes - written]
        parts.append(compressor.compress(piece))
        written += len(piece)
    parts.append(compressor.compress(suffix))
    parts.append(compressor.flush())
    return b"".join(parts)


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF from numbered object bodies (1-based, object 1 the catalog), with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _one_page_pdf(content: bytes, *, compressed: bool, comment: bytes = b"") -> bytes:
    stream_dictionary = b"<< /Length %d%s >>" % (
        len(content),
        b" /Filter /FlateDecode" if compressed else b"",
    )
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            stream_dictionary + b"\nstream\n" + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>" + comment,
        ]
    )


def inflating_pdf(inflated_bytes: int = GIB) -> bytes:
    """A one-page PDF whose content stream inflates to ``inflated_bytes`` (about 1 MB per GiB)."""
    text = b"BT /F1 12 Tf 72 720 Td (A page whose drawing never ends.) Tj ET\n"
    return _one_page_pdf(_compressed(_DRAWING_LINE, inflated_bytes, prefix=text), compressed=True)


def readable_pdf(sentence: str = "The refund policy allows returns within thirty days.") -> bytes:
    """A small, valid one-page PDF with one line of text."""
    escaped = sentence.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode()
    return _one_page_pdf(b"BT /F1 12 Tf 72 720 Td (" + escaped + b") Tj ET", compressed=False)


def faulting_pdf(fault: str) -> bytes:
    """A small valid PDF carrying the box's test-only fault marker (``abort``, ``segfault``, ``spin`` or
    ``sleep``); honoured only where ``INGESTION_BOX_TEST_FAULTS`` is on."""
    return _one_page_pdf(
        b"BT /F1 12 Tf 72 720 Td (Fault injection.) Tj ET",
        compressed=False,
        comment=b"\n" + TEST_FAULT_MARKER + fault.encode() + b"\n",
    )


_DOCX_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
_DOCX_RELATIONSHIPS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/></Relationships>'
)
_WORD_NAMESPACE = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_zip_bomb(inflated_bytes: int = GIB) -> bytes:
    """A .docx whose document.xml inflates to ``inflated_bytes`` of one repeated paragraph.

    The zip entry is written with its true sizes, as any zip tool would: the parser's own zip checks
    see the ratio, and the box bounds whatever they would miss.
    """
    paragraph = b"<w:p><w:r><w:t>Refunds are possible within thirty days.</w:t></w:r></w:p>"
    prefix = b'<?xml version="1.0" encoding="UTF-8"?><w:document ' + _WORD_NAMESPACE + b"><w:body>"
    suffix = b"</w:body></w:document>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_CONTENT_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELATIONSHIPS)
        with archive.open("word/document.xml", "w", force_zip64=True) as entry:
            entry.write(prefix)
            for piece in _repeated(paragraph, inflated_bytes):
                entry.write(piece)
            entry.write(suffix)
    return buffer.getvalue()


def _repeated(unit: bytes, total_bytes: int) -> Iterator[bytes]:
    block = unit * (16 * 1024 * 1024 // len(unit))
    written = 0
    while written < total_bytes:
        piece = block[: total_bytes - written]
        yield piece
        written += len(piece)


def nested_html(depth: int = 100_000) -> bytes:
    """A page of ``depth`` nested ``<div>``s around one sentence."""
    return (
        b"<!doctype html><html><head><title>Nested</title></head><body>"
        + b"<div>" * depth
        + b"<p>The deepest sentence of the page.</p>"
        + b"</div>" * depth
        + b"</body></html>"
    )


def oversized_text(size_bytes: int = 30 * 1024 * 1024) -> bytes:
    """Plain text of ``size_bytes``: well-formed sentences, just too many of them."""
    line = b"Refunds are possible within thirty days of purchase.\n"
    return (line * (size_bytes // len(line) + 1))[:size_bytes]
