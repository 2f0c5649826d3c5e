"""What conversations, messages and citations look like on the dashboard, as plain dictionaries the
templates show. Everything a visitor, a document or a model wrote stays untrusted text: templates rely on
autoescaping and never mark it safe."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse

from bots.models import (
    Channel,
    Conversation,
    Message,
    MessageOutcome,
)
from bots.presentation import avatar_tone
from core.formatting import duration_label
from knowledge.presentation import web_link
from providers.presentation import compact_count, is_built_in_model, spend_label

CHANNEL_ICONS: dict[str, str] = {
    Channel.PLAYGROUND: "joystick",
    Channel.API: "code-slash",
    Channel.OPENAI: "braces",
    Channel.WIDGET: "window-sidebar",
}


OUTCOME_TONES: dict[str, str] = {
    MessageOutcome.NO_ANSWER: "warning",
    MessageOutcome.CANCELLED: "neutral",
    MessageOutcome.ERROR: "danger",
    MessageOutcome.REFUSED: "danger",
}


def present_citation(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation (or a retrieved passage) stored by the engine, with where it came from as a link only
    to an http(s) address or to the document's page in the dashboard."""
    source = str(citation.get("source") or "")
    anchor = str(citation.get("anchor") or "")
    link = web_link(anchor) or web_link(source)
    if link and anchor.startswith("#") and link == source:
        link += anchor
    page = citation.get("page_number")
    document_id = str(citation.get("document_id") or "")
    try:
        document_url = reverse("dashboard:knowledge_document", args=[uuid.UUID(document_id)])
    except ValueError:
        document_url = ""
    score = citation.get("score")
    return {
        "number": citation.get("number") or 0,
        "title": str(citation.get("title") or "Untitled"),
        "source": link or source,
        "link": link,
        "location": f"page {page}" if page else "",
        "snippet": str(citation.get("snippet") or ""),
        "text": str(citation.get("text") or citation.get("snippet") or ""),
        "heading_path": str(citation.get("heading_path") or ""),
        "score": round(float(score), 3) if isinstance(score, int | float) else None,
        "vector_rank": citation.get("vector_rank"),
        "text_rank": citation.get("text_rank"),
        "document_url": document_url,
    }


def present_message(message: Message, names: dict[str, str]) -> dict[str, Any]:
    is_answer = message.role == "assistant"
    return {
        "message": message,
        "is_answer": is_answer,
        "citations": [present_citation(citation) for citation in message.citations] if is_answer else [],
        "model_name": names.get(message.model_ref, message.model_ref),
        "cost_label": spend_label(
            message.cost_usd,
            tokens=message.input_tokens + message.output_tokens,
            built_in=is_built_in_model(message.model_ref),
        ),
        "latency_label": duration_label(message.latency_ms),
        "first_token_label": duration_label(message.time_to_first_token_ms),
        "tokens_label": (
            f"{compact_count(message.input_tokens)} in · {compact_count(message.output_tokens)} out"
        ),
        "outcome_tone": OUTCOME_TONES.get(message.outcome, ""),
        "outcome_label": message.get_outcome_display() if message.outcome else "",
    }


def present_conversation(conversation: Conversation, *, tokens: int | None = None) -> dict[str, Any]:
    """A conversation in the list or at the top of its page. Its cost reads as the tokens its answers
    used when it cost nothing (``tokens``, or the ``token_total`` chat selectors' list annotates), or
    "free (built-in model)"."""
    if tokens is None:
        tokens = getattr(conversation, "token_total", None)
    return {
        "conversation": conversation,
        "tone": avatar_tone(conversation.bot),
        "channel_icon": CHANNEL_ICONS.get(conversation.channel, "chat"),
        "cost_label": spend_label(
            conversation.cost_usd,
            tokens=tokens,
            built_in=is_built_in_model(conversation.bot.chat_model),
        ),
        "title": conversation.title or "Untitled conversation",
    }
