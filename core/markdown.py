"""Answers as safe Markdown on the dashboard, by the same rules as the widget (static/widget/panel.js).

A model's answer, a visitor's question and a document's passage are untrusted text. They are rendered
with markdown-it-py with raw HTML switched off, so ``<script>`` or ``<img onerror>`` in an answer is
shown as text, and with these rules, the widget's:

- links only to ``http(s)://`` addresses; anything else (``javascript:``, ``data:``, ``vbscript:``,
  relative paths, ``mailto:``) stays the text as written. Links open in a new tab with
  ``rel="noopener noreferrer nofollow ugc"``: a model or a document wrote them, not the tenant;
- never an ``<img>``: an image shows its alt text as ``[Image: alt]``, so no remote image loads
  (the dashboard's CSP allows images only from itself anyway);
- headings become bold lines (an answer is not a page with its own outline), single line breaks stay
  line breaks, ``~~strike~~`` and bare ``https://`` addresses work, and a citation mark ``[1]``
  becomes the same small badge as in the widget.

``render_markdown`` returns HTML that is safe to put in a page as it is; the ``markdown`` template
filter (``{% load answer_markdown %}``) marks it so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

# The only link targets an answer may have: what a visitor can open in a browser tab and nothing
# that runs script or embeds content.
WEB_SCHEMES = frozenset({"http", "https"})
LINK_REL = "noopener noreferrer nofollow ugc"
# A citation mark as the chat engine writes it: "[1]".
CITATION_MARK = re.compile(r"\[(\d{1,3})\]")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host: the only links an answer may carry."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


def _render_link_open(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[index]
    token.attrSet("target", "_blank")
    token.attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, index, options, env)


def _render_image(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    # Never an <img>: the alt text stands in for it, as in the widget.
    alt = renderer.renderInlineAsText(tokens[index].children or [], options, env)
    label = f"[Image: {alt}]" if alt else "[Image]"
    return f'<span class="gw-img">{_escape(label)}</span>'


def _render_heading_open(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    return '<p class="gw-h">'


def _render_heading_close(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    return "</p>\n"


def _render_citation_mark(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    number = _escape(tokens[index].content)
    return f'<span class="gw-ref" aria-label="source {number}">{number}</span>'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _citation_marks(state: StateCore) -> None:
    """Split "[1]" out of text (outside links and code) into citation_mark tokens."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            if token.type == "link_open":
                in_link += 1
            elif token.type == "link_close":
                in_link -= 1
            if token.type != "text" or in_link or not CITATION_MARK.search(token.content):
                children.append(token)
                continue
            at = 0
            for match in CITATION_MARK.finditer(token.content):
                if match.start() > at:
                    text = Token("text", "", 0)
                    text.content = token.content[at : match.start()]
                    children.append(text)
                mark = Token("citation_mark", "", 0)
                mark.content = match.group(1)
                children.append(mark)
                at = match.end()
            if at < len(token.content):
                rest = Token("text", "", 0)
                rest.content = token.content[at:]
                children.append(rest)
        block.children = children


def _build() -> MarkdownIt:
    # html=False: raw HTML in the source is text. breaks=True: a single newline is a line break, as
    # models write lists of lines and as the widget shows them.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    parser.enable(["linkify", "strikethrough"])
    # Every link (written, autolinked <…> or bare) passes through here; a refused one stays text.
    parser.validateLink = is_web_url  # type: ignore[method-assign]
    parser.core.ruler.push("citation_marks", _citation_marks)
    rules: dict[str, Any] = {
        "link_open": _render_link_open,
        "image": _render_image,
        "heading_open": _render_heading_open,
        "heading_close": _render_heading_close,
        "citation_mark": _render_citation_mark,
    }
    for name, rule in rules.items():
        parser.add_render_rule(name, rule)
    return parser


_PARSER = _build()


def render_markdown(text: str | None) -> str:
    """An answer's Markdown as safe HTML (see the module's rules); "" for no text."""
    if not text:
        return ""
    return _PARSER.render(str(text))
