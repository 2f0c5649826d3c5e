"""HTML: the page's main content as sections under its h1-h4 headings, navigation and chrome left out.

Where the page marks its content (``<main>``, ``role="main"``, or a single ``<article>``), that element
is read as it is, minus navigation, asides, forms' controls, scripts and anything hidden: documentation
and help-centre pages mark their content this way, and reading it directly keeps every heading. Where
it does not, trafilatura (Apache-2.0) decides what the main content is by its text-density heuristics.
Either way, the headings' ``id``s come from the original page, so a citation links to the heading.

lxml's HTML parser resolves no external entities and loads nothing from the network.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
from collections import deque
from configparser import ConfigParser
from urllib.parse import quote

import lxml.html
import trafilatura
import trafilatura.settings
from lxml import etree

from knowledge.ingestion import ParsedDocument, Section
from knowledge.ingestion.clean import clean
from knowledge.ingestion.parsers.limits import Deadline
from knowledge.ingestion.sniff import decode_text

logger = logging.getLogger(__name__)

ANCHOR_MAX_LENGTH = 300  # Chunk.anchor's column
HEADING_PATH_TAGS = frozenset({"h1", "h2", "h3", "h4"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Never content: page chrome, code, media, form controls, and the document head.
_SKIPPED_TAGS = frozenset(
    {
        "head", "script", "style", "noscript", "template", "nav", "aside", "svg", "math", "iframe",
        "object", "embed", "canvas", "button", "select", "input", "textarea", "option", "dialog",
        "audio", "video", "map", "picture", "img", "label",
    }
)  # fmt: skip
_SKIPPED_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "toolbar", "dialog"}
)
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p",
        "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "center",
    }
)  # fmt: skip
# Class and id names of site chrome, as whole names or as a part of one ("main-nav", "sidebar-left").
# "header" is not among them: an article's header holds its title.
_BOILERPLATE_NAME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|sidebar|footer|breadcrumbs?|cookies?|consent|banner|"
    r"social|share|sharing|related|advert\w*|ads?|topbar|toolbar|pagination|pager|skip|subscribe|"
    r"newsletter|comments?)(?=$|[\s_-])",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*>")


def html_tree(data: bytes) -> lxml.html.HtmlElement | None:
    """The page's element tree (the crawler reads its links from the same tree), or None if empty."""
    text = _XML_DECLARATION.sub("", decode_html(data), count=1)
    # Comments and processing instructions go at parse time: their tails are page text, and lxml's
    # tree walk would otherwise skip them along with the comment.
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        return lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError):
        return None


def parse_html(data: bytes, deadline: Deadline, *, source_url: str = "") -> ParsedDocument:
    page = html_tree(data)
    if page is None:
        return ParsedDocument(kind="html")
    deadline.check()
    anchors = _AnchorIndex(page)
    title = _title(page)
    builder = _SectionBuilder(anchors, page_url=source_url)
    # The anchors and the title are read first: the path without landmarks edits the tree.
    root = _main_element(page)
    if root is not None:
        # An article's <header> holds its title; its <footer> holds tags, share buttons and the like.
        _walk(root, builder, also_skip=frozenset({"footer"}))
    else:
        _remove_chrome(page)
        extracted = _trafilatura_body(page, source_url)
        deadline.check()
        if extracted is not None and (_has_headings(extracted) or not _has_headings(page)):
            _walk(extracted, builder, also_skip=frozenset())
        elif (body := page.find("body")) is not None:
            # trafilatura found nothing, or fell back to one of its paragraph-only extractors, which
            # happens when no element's class names say "content": the page itself, minus its chrome,
            # keeps the headings that the citations need.
            _remove_boilerplate_blocks(body)
            _walk(body, builder, also_skip=frozenset())
    builder.finish()
    return ParsedDocument(kind="html", sections=builder.sections, title=title or builder.first_heading)


def decode_html(data: bytes) -> str:
    """The page as text: a BOM, then UTF-8, then the page's own ``<meta charset>``, then a guess."""
    if not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            declared = _META_CHARSET.search(data[:4096])
            if declared:
                try:
                    return data.decode(declared.group(1).decode("ascii"), errors="replace")
                except LookupError:
                    pass
    return decode_text(data)


def _main_element(page: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    for candidate in page.xpath("//main | //*[@role='main']"):
        if not _hidden(candidate):
            return candidate
    articles = [article for article in page.xpath("//article") if not _hidden(article)]
    return articles[0] if len(articles) == 1 else None


@functools.cache
def _trafilatura_config() -> ConfigParser:
    config = trafilatura.settings.use_config()
    # By default trafilatura discards an extraction under 250 characters and falls back to a crude
    # whole-page text that includes the navigation; a short FAQ page is still a page worth reading.
    for option in (
        "MIN_EXTRACTED_SIZE",
        "MIN_OUTPUT_SIZE",
        "MIN_EXTRACTED_COMM_SIZE",
        "MIN_OUTPUT_COMM_SIZE",
    ):
        config.set("DEFAULT", option, "1")
    return config


def _remove_chrome(page: lxml.html.HtmlElement) -> None:
    """Take out what is never content before trafilatura weighs the rest.

    Its fallbacks for pages it finds little in keep whatever text is left, navigation included. A
    page-level header or footer goes too; one inside an article or section is that part's own.
    """
    doomed = [
        element
        for element in page.iter()
        if isinstance(element.tag, str)
        and (
            element.tag in _SKIPPED_TAGS - {"head"}
            or element.get("role", "").lower() in _SKIPPED_ROLES
            or _hidden(element)
            or (element.tag in {"header", "footer"} and not _inside_content(element))
        )
    ]
    for element in doomed:
        # drop_tree keeps the element's tail, which is the text that follows it in its parent.
        if element.getparent() is not None:
            element.drop_tree()


def _remove_boilerplate_blocks(body: lxml.html.HtmlElement) -> None:
    """Take out blocks whose class or id names them as site chrome ("sidebar", "site-footer", ...)."""
    doomed = [
        element
        for element in body.iter()
        if isinstance(element.tag, str)
        and element is not body
        and _BOILERPLATE_NAME.search(f"{element.get('class', '')} {element.get('id', '')}")
    ]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


def _has_headings(element: lxml.html.HtmlElement) -> bool:
    return any(True for _ in element.iter(*HEADING_PATH_TAGS))


def _inside_content(element: lxml.html.HtmlElement) -> bool:
    return any(ancestor.tag in {"article", "section"} for ancestor in element.iterancestors())


def _trafilatura_body(page: lxml.html.HtmlElement, source_url: str) -> lxml.html.HtmlElement | None:
    try:
        extracted = trafilatura.extract(
            page,
            url=source_url or None,
            output_format="html",
            include_formatting=True,
            include_tables=True,
            include_links=False,
            include_images=False,
            include_comments=False,
            favor_recall=True,
            deduplicate=False,
            with_metadata=False,
            config=_trafilatura_config(),
        )
    except Exception:
        # The page is still read (as a whole, minus its chrome) when the heuristics trip over it.
        logger.warning("trafilatura could not extract the main content", exc_info=True)
        return None
    if not extracted:
        return None
    try:
        return lxml.html.document_fromstring(extracted).find("body")
    except (etree.ParserError, ValueError):
        return None


def _title(page: lxml.html.HtmlElement) -> str:
    element = page.find(".//title")
    title = " ".join(element.text_content().split()) if element is not None else ""
    if not title:
        for meta in page.xpath("//meta[@property='og:title']/@content"):
            title = " ".join(str(meta).split())
            break
    return clean(title)


def _hidden(element: lxml.html.HtmlElement) -> bool:
    return (
        element.get("hidden") is not None
        or element.get("aria-hidden", "").lower() == "true"
        or bool(_HIDDEN_STYLE.search(element.get("style", "")))
    )


def _inline_text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


class _AnchorIndex:
    """The ``id`` to link to for each heading of the original page, found by the heading's text.

    Headings are matched by text because trafilatura's output keeps no attributes; repeated headings
    ("Overview" under each product) are handed out in page order.
    """

    def __init__(self, page: lxml.html.HtmlElement) -> None:
        self._ids: dict[str, deque[str]] = {}
        for heading in page.iter(*_HEADING_TAGS):
            self._ids.setdefault(_inline_text(heading).casefold(), deque()).append(_heading_id(heading))

    def take(self, text: str) -> str:
        queue = self._ids.get(text.casefold())
        return queue.popleft() if queue else ""


def _heading_id(heading: lxml.html.HtmlElement) -> str:
    if heading.get("id"):
        return str(heading.get("id"))
    for inner in heading.iter():
        target = inner.get("id") or (inner.get("name") if inner.tag == "a" else None)
        if target:
            return str(target)
    parent = heading.getparent()
    # <section id="refunds"><h2>Refunds</h2>...: the section is the link target of its heading.
    if parent is not None and parent.get("id") and _first_element_child(parent) is heading:
        return str(parent.get("id"))
    return ""


def _first_element_child(element: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    for child in element:
        if isinstance(child.tag, str):
            return child
    return None


class _SectionBuilder:
    """Collects lines of text into sections, one per heading of levels 1-4."""

    def __init__(self, anchors: _AnchorIndex, *, page_url: str) -> None:
        self.sections: list[Section] = []
        self.first_heading = ""
        self._anchors = anchors
        self._page_anchor = _anchor(page_url, "")
        self._page_url = page_url
        self._stack: list[tuple[int, str, str]] = []  # level, text, anchor
        self._lines: list[str] = []
        self._inline: list[str] = []
        self._prefix = ""

    def add_text(self, text: str) -> None:
        self._inline.append(text)

    def end_line(self) -> None:
        line = " ".join("".join(self._inline).split())
        self._inline.clear()
        if line:
            self._lines.append(self._prefix + line)
            self._prefix = ""

    def start_list_item(self) -> None:
        self.end_line()
        self._prefix = "- "

    def add_lines(self, text: str) -> None:
        self.end_line()
        self._lines.append(text)

    def heading(self, level: int, text: str) -> None:
        self.end_line()
        self._flush()
        self.first_heading = self.first_heading or text
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        identifier = self._anchors.take(text)
        if identifier:
            anchor = _anchor(self._page_url, identifier)
        else:
            anchor = self._stack[-1][2] if self._stack else self._page_anchor
        self._stack.append((level, text, anchor))

    def finish(self) -> None:
        self.end_line()
        self._flush()

    def _flush(self) -> None:
        text = clean("\n".join(self._lines))
        self._lines.clear()
        if text:
            self.sections.append(
                Section(
                    text=text,
                    heading_path=tuple(heading for _, heading, _ in self._stack),
                    anchor=self._stack[-1][2] if self._stack else self._page_anchor,
                )
            )


def _anchor(page_url: str, identifier: str) -> str:
    """``page_url#identifier`` when it fits the column, else the fragment alone (or the page alone)."""
    base = page_url.split("#", 1)[0]
    if not identifier:
        return base if len(base) <= ANCHOR_MAX_LENGTH else ""
    fragment = "#" + quote(identifier, safe="-._~!$&'()*+,;=:@/?")
    if base and len(base) + len(fragment) <= ANCHOR_MAX_LENGTH:
        return base + fragment
    return fragment[:ANCHOR_MAX_LENGTH]


def _walk(root: lxml.html.HtmlElement, builder: _SectionBuilder, *, also_skip: frozenset[str]) -> None:
    """Feed ``root``'s readable text to ``builder`` in document order, one start and end event at a time."""
    skipped = _SKIPPED_TAGS | also_skip
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "end":
            if tag in _BLOCK_TAGS:
                builder.end_line()
            if element is not root and element.tail:
                builder.add_text(element.tail)
            continue
        if not tag or tag in skipped or element.get("role", "").lower() in _SKIPPED_ROLES or _hidden(element):
            walker.skip_subtree()
        elif tag in _HEADING_TAGS:
            text = _inline_text(element)
            if tag in HEADING_PATH_TAGS and text:
                builder.heading(int(tag[1]), text)
            else:
                builder.add_lines(text)
            walker.skip_subtree()
        elif tag == "pre":
            builder.add_lines(element.text_content())
            walker.skip_subtree()
        elif tag == "tr":
            cells = [
                _inline_text(cell)
                for cell in element
                if isinstance(cell.tag, str) and cell.tag in ("td", "th")
            ]
            if any(cells):
                builder.add_lines(" | ".join(cells))
            walker.skip_subtree()
        elif tag == "br":
            builder.end_line()
        else:
            if tag == "li":
                builder.start_list_item()
            elif tag in _BLOCK_TAGS:
                builder.end_line()
            if element.text:
                builder.add_text(element.text)
