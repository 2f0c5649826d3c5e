"""core.markdown and the |markdown filter: answers as safe Markdown, by the widget's rules.

The hostile corpus is what a model, a visitor or a poisoned document could put in an answer; the
rendered HTML is parsed back (lxml) so the assertions look at elements and attributes, not at strings.
"""

from __future__ import annotations

import pytest
from django.template import Context, Template
from lxml import html as lxml_html

from core.markdown import render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)></svg>",
    "<style>body{display:none}</style>",
    "[click](javascript:alert(1))",
    "[click](JavaScript:alert(1))",
    "[click](jav&#x09;ascript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](%6Aavascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "[click](//evil.example/path)",
    "[click](/app/settings/)",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![tracker](https://evil.example/pixel.png)",
    '![x](https://evil.example/x.png "title" onerror="alert(1)")',
    "[![img](https://evil.example/i.png)](https://evil.example/)",
    '[x](https://ok.example/ "a" onclick="alert(1)")',
    "**bold <b onmouseover=alert(1)>x</b>**",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<!-- comment --><div>block html</div>",
    "[ref]: javascript:alert(1)\n\n[ref]",
]

EVENT_ATTRIBUTE_PREFIX = "on"
ALLOWED_TAGS = {
    "div", "p", "br", "strong", "em", "s", "code", "pre", "ul", "ol", "li", "blockquote", "hr", "a", "span",
}  # fmt: skip


def elements(rendered: str) -> list[lxml_html.HtmlElement]:
    root = lxml_html.fragment_fromstring(rendered or "<p></p>", create_parent="div")
    return list(root.iter())


@pytest.mark.parametrize("source", HOSTILE)
def test_a_hostile_answer_renders_no_script_no_foreign_link_and_no_image(source: str) -> None:
    rendered = render_markdown(source)
    for node in elements(rendered):
        assert node.tag in ALLOWED_TAGS, (source, rendered)
        for name in node.attrib:
            assert not name.lower().startswith(EVENT_ATTRIBUTE_PREFIX), (source, rendered)
            assert name in {"href", "target", "rel", "class", "aria-label", "start"}, (source, rendered)
        if node.tag == "a":
            assert node.get("href", "").startswith("https://"), (source, rendered)
            assert node.get("target") == "_blank"
            assert set(node.get("rel", "").split()) >= {"noopener", "nofollow", "ugc"}
    assert "<img" not in rendered and "<script" not in rendered.lower()


def test_raw_html_is_shown_as_the_text_it_is() -> None:
    rendered = render_markdown("Try <b>this</b> & <script>alert(1)</script>")

    assert rendered == "<p>Try &lt;b&gt;this&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_a_refused_link_keeps_its_words_as_text() -> None:
    rendered = render_markdown("[Open the portal](javascript:alert(1)) now")

    assert "<a" not in rendered
    assert "[Open the portal](javascript:alert(1)) now" in rendered


def test_an_image_shows_its_alt_text_and_loads_nothing() -> None:
    rendered = render_markdown("Here: ![the returns form](https://cdn.example/form.png)")

    assert '<span class="gw-img">[Image: the returns form]</span>' in rendered
    assert "cdn.example" not in rendered


def test_the_markdown_an_answer_uses_renders_as_in_the_widget() -> None:
    answer = (
        "## Returns\n"
        "You can return items **within 30 days** [1].\n"
        "Keep the receipt.\n\n"
        "1. Pack it\n2. Ship it to [our depot](https://shop.example/depot)\n\n"
        "- free\n- ~~paid~~\n\n"
        "> quoted\n\n"
        "See https://shop.example/returns for more.\n\n"
        "```\nlabel: RMA-1\n```"
    )
    root = lxml_html.fragment_fromstring(render_markdown(answer), create_parent="div")

    assert root.xpath("string(p[@class='gw-h'])") == "Returns"  # a heading is a bold line, not an <h2>
    assert not root.xpath("//h1|//h2|//h3")
    assert root.xpath("string(.//strong)") == "within 30 days"
    assert root.xpath(".//span[@class='gw-ref']/text()") == ["1"]
    assert root.xpath(".//br")  # a single newline stays a line break
    assert [li.text_content() for li in root.xpath(".//ol/li")] == ["Pack it", "Ship it to our depot"]
    assert root.xpath("string(.//s)") == "paid"
    assert root.xpath("string(.//blockquote)").strip() == "quoted"
    assert root.xpath(".//a/@href") == ["https://shop.example/depot", "https://shop.example/returns"]
    assert root.xpath("string(.//pre/code)") == "label: RMA-1\n"


def test_a_citation_mark_inside_code_or_a_link_stays_as_written() -> None:
    root = lxml_html.fragment_fromstring(
        render_markdown("`items[1]` and [see [2]](https://a.example)"), create_parent="div"
    )

    assert root.xpath("string(.//code)") == "items[1]"
    assert root.xpath("string(.//a)") == "see [2]"
    assert not root.xpath(".//span[@class='gw-ref']")


def test_the_template_filter_renders_and_marks_safe_only_what_core_markdown_made() -> None:
    template = Template("{% load answer_markdown %}<div>{{ answer|markdown }}</div>")

    rendered = template.render(Context({"answer": "**Yes** <script>x</script>"}))

    assert rendered == "<div><p><strong>Yes</strong> &lt;script&gt;x&lt;/script&gt;</p>\n</div>"
    assert template.render(Context({"answer": None})) == "<div></div>"
