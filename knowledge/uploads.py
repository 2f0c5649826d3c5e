"""The knowledge upload limit, ``KNOWLEDGE_MAX_FILE_BYTES``, on core's streaming size-limited handler."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from core.uploads import limit_uploads
from knowledge.ingestion.sniff import display_name


def limit_message(name: str = "") -> str:
    subject = display_name(name) if name else "The file"
    limit = filesizeformat(settings.KNOWLEDGE_MAX_FILE_BYTES)
    return f"{subject} is larger than the {limit} limit; split it or compress its images."


def limit_knowledge_uploads(request: HttpRequest) -> None:
    """Install the knowledge upload limit on ``request`` before anything reads its body."""
    limit_uploads(request, limit=settings.KNOWLEDGE_MAX_FILE_BYTES, message=limit_message)
