"""``{{ text|markdown }}``: an answer rendered as safe Markdown by core.markdown (the widget's rules)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from core.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    # Safe to mark: core.markdown never passes raw HTML through and only makes http(s) links.
    return mark_safe(render_markdown(text))  # noqa: S308
