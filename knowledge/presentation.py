"""What the knowledge pages show, worked out from domain objects into plain dictionaries for templates:
a document's row and status (icon, stages, percentages, timings from its ``progress`` record), a search
result (rank, readable score, a link to where it came from), the test search's columns and a knowledge
base's counts.

Shared by the dashboard views here and by the chat pages of bots (``MODE_SCORES``, ``web_link``).
Everything that came from a document (titles, file names, URLs, chunk text) stays untrusted: templates
rely on Django's autoescaping, and only http(s) addresses ever become links.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from core.errors import GroundworkError
from knowledge import selectors, services
from knowledge.forms import SearchForm
from knowledge.models import Document, DocumentStatus, KnowledgeBase, RetrievalMode, SourceType
from knowledge.retrieval import SearchResult
from tenants.models import Tenant

STAGES = services.STAGES
STAGE_LABELS = {"fetch": "Fetch", "parse": "Parse", "chunk": "Split", "embed": "Embed", "store": "Store"}
# How much of the bar each stage fills: embedding is where the time goes.
STAGE_WEIGHTS = {"fetch": 15, "parse": 10, "chunk": 5, "embed": 60, "store": 10}
PENDING = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)

FILE_ICONS = {
    "pdf": "file-earmark-pdf",
    "docx": "file-earmark-word",
    "html": "filetype-html",
    "markdown": "markdown",
    "csv": "filetype-csv",
    "text": "file-earmark-text",
}
SOURCE_ICONS: dict[str, str] = {
    SourceType.URL: "globe2",
    SourceType.CRAWL: "diagram-3",
    SourceType.TEXT: "textarea-t",
    SourceType.QA: "patch-question",
}
CONTENT_TYPE_LABELS = {
    "pdf": "PDF",
    "docx": "Word document",
    "html": "HTML",
    "markdown": "Markdown",
    "text": "Plain text",
    "csv": "CSV table",
    "qa": "Questions and answers",
}
MODE_LABELS: dict[str, str] = {
    RetrievalMode.VECTOR: "Vector",
    RetrievalMode.FULL_TEXT: "Full text",
    RetrievalMode.HYBRID: "Hybrid",
}
MODE_SCORES: dict[str, str] = {
    RetrievalMode.VECTOR: "similarity",
    RetrievalMode.FULL_TEXT: "word match",
    RetrievalMode.HYBRID: "fused rank",
}


def _number(value: Any) -> float | None:
    """A number from the progress record (JSON written by the pipeline), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def web_link(url: str) -> str:
    """``url`` if it is an http(s) address a link may point at, else "" (shown as text instead)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def _stage_running_text(document: Document, name: str, done: float | None, total: float | None) -> str:
    counted = done is not None and total
    if name == "fetch":
        if document.source_type == SourceType.CRAWL:
            return f"Crawled {int(done or 0)} of {int(total or 0)} pages" if counted else "Crawling the site"
        if document.source_type == SourceType.URL:
            return "Fetching the page"
        return "Reading the source"
    if name == "embed" and counted:
        return f"Embedding {int(done or 0):,} of {int(total or 0):,}"
    return {
        "parse": "Extracting the text",
        "chunk": "Splitting into passages",
        "embed": "Embedding passages",
        "store": "Saving to the index",
    }.get(name, "Working")


def present_document(document: Document) -> dict[str, Any]:
    """A document with what its row and page show: icon, status, progress by stage, actions."""
    raw: dict[str, Any] = document.progress if isinstance(document.progress, dict) else {}
    recorded: dict[str, Any] = raw["stages"] if isinstance(raw.get("stages"), dict) else {}
    ready = document.status == DocumentStatus.READY
    stages = []
    filled = 0.0
    current_text = ""
    total_seconds = 0.0
    for name in STAGES:
        info: dict[str, Any] = recorded[name] if isinstance(recorded.get(name), dict) else {}
        state = str(info.get("state") or ("done" if ready else "waiting"))
        done, total, seconds = (
            _number(info.get("done")),
            _number(info.get("total")),
            _number(info.get("seconds")),
        )
        if state == "running" and document.status == DocumentStatus.FAILED:
            state = "failed"  # the stage the run stopped in
        if state == "done":
            fraction = 1.0
        elif state == "running":
            fraction = min(1.0, done / total) if done is not None and total else 0.1
            current_text = _stage_running_text(document, name, done, total)
        else:
            fraction = 0.0
        filled += STAGE_WEIGHTS[name] * fraction
        total_seconds += seconds or 0.0
        stages.append(
            {
                "name": name,
                "label": STAGE_LABELS[name],
                "state": state if state in ("done", "running", "failed") else "waiting",
                "done": int(done) if done is not None else None,
                "total": int(total) if total is not None else None,
                "seconds": seconds,
                "percent": int(fraction * 100),
            }
        )
    if document.status == DocumentStatus.QUEUED:
        percent, current_text = 0, selectors.document_wait_reason(document=document)
    elif document.status == DocumentStatus.PROCESSING:
        percent = max(3, min(99, int(filled)))
        current_text = current_text or "Starting"
    else:
        percent = 100 if ready else int(filled)
    is_web = document.is_web_source
    title = document.title
    if is_web and title == document.source_url:
        title = re.sub(r"^https?://", "", title)  # a page named by its address: the address, read easily
    return {
        "document": document,
        "title": title,
        "icon": (
            FILE_ICONS.get(document.content_type, "file-earmark")
            if document.source_type == SourceType.FILE
            else SOURCE_ICONS.get(document.source_type, "file-earmark")
        ),
        "is_pending": document.status in PENDING,
        "percent": percent,
        "current_text": current_text,
        "stages": stages,
        "total_seconds": round(total_seconds, 2) if total_seconds else None,
        "source_link": web_link(document.source_url) if is_web else "",
        "reingest_label": "Re-sync" if is_web else "Re-ingest",
        "content_type_label": CONTENT_TYPE_LABELS.get(document.content_type, document.content_type),
    }


def relevance(score: float, mode: str, best_score: float) -> tuple[int, str]:
    """How relevant a passage is, as a share for a bar (0 to 100) and the words that say it.

    A vector score is a cosine similarity, meaningful on its own ("82% similar"); a full-text rank and
    a fused reciprocal rank mean something only next to the other results, so they are measured
    against the best one of the same search ("best match", "40% of the best match")."""
    if mode == RetrievalMode.VECTOR:
        share = round(100 * min(max(score, 0.0), 1.0))
        return share, f"{share}% similar"
    share = round(100 * score / best_score) if best_score > 0 else 0
    share = min(max(share, 0), 100)
    return share, "best match" if share >= 100 else f"{share}% of the best match"


def present_result(
    result: SearchResult, rank: int, mode: str, source_type: str = "", best_score: float = 0.0
) -> dict[str, Any]:
    """A search result with its place ("#1"), how relevant it is (a bar and its words; the raw score
    stays in a tooltip for those who tune search), and where it came from (a link only to an
    http(s) address: a crawled page, or a web page with the passage's fragment; pasted text and Q&A,
    which have no file or address, are named by their kind)."""
    anchor = result.anchor
    page_url = web_link(anchor)
    source_url = web_link(result.source)
    if page_url:
        link = page_url
    elif source_url:
        link = source_url + anchor if anchor.startswith("#") else source_url
    else:
        link = ""
    location = [f"page {result.page_number}"] if result.page_number else []
    if anchor.startswith("#") and not link:
        location.append(anchor)  # a section of an uploaded HTML file
    kind = SourceType(source_type).label if source_type in SourceType.values else "Document"
    share, relevance_words = relevance(result.score, mode, best_score)
    return {
        "result": result,
        "rank": rank,
        "score_label": MODE_SCORES.get(mode, "score"),
        "relevance": share,
        "relevance_label": relevance_words,
        "link": link,
        "source": link or result.source or kind,
        "source_icon": "link-45deg" if link else SOURCE_ICONS.get(source_type, "file-earmark-text"),
        "location": " · ".join(location),
        "headings": [part.strip() for part in result.heading_path.split(" > ") if part.strip()],
    }


def present_knowledge_base(knowledge_base: KnowledgeBase, model_names: dict[str, str]) -> dict[str, Any]:
    total = getattr(knowledge_base, "document_total", 0) or 0
    ready = getattr(knowledge_base, "documents_ready", 0) or 0
    pending = getattr(knowledge_base, "documents_pending", 0) or 0
    failed = getattr(knowledge_base, "documents_failed", 0) or 0

    def share(count: int) -> int:
        return round(100 * count / total) if total else 0

    return {
        "knowledge_base": knowledge_base,
        "model_name": model_names.get(knowledge_base.embedding_model, knowledge_base.embedding_model),
        "building_model_name": model_names.get(
            knowledge_base.building_embedding_model, knowledge_base.building_embedding_model
        ),
        "documents": total,
        "ready": ready,
        "pending": pending,
        "failed": failed,
        "chunks": getattr(knowledge_base, "chunk_total", 0) or 0,
        "ready_share": share(ready),
        "pending_share": share(pending),
        "failed_share": share(failed),
        "mode_label": MODE_LABELS.get(knowledge_base.retrieval_mode, knowledge_base.retrieval_mode),
    }


def present_search(tenant: Tenant, knowledge_base: KnowledgeBase, form: SearchForm) -> dict[str, Any]:
    """The test search of a knowledge base's page: search it as a bot would, with one mode or all three
    side by side (a column each, with its results or why it could not search)."""
    outcome: dict[str, Any] = {"error": "", "columns": [], "query": ""}
    if not form.is_valid():
        outcome["error"] = form.errors.get("query", ["Check the search settings."])[0]
        return outcome
    query = form.cleaned_data["query"]
    mode = form.cleaned_data["mode"] or knowledge_base.retrieval_mode
    top_k = form.cleaned_data["top_k"] or knowledge_base.retrieval_top_k
    modes = list(RetrievalMode.values) if form.cleaned_data["compare"] else [mode]
    outcome["query"] = query
    outcome["compare"] = len(modes) > 1
    documents = selectors.document_list(tenant=tenant, knowledge_base=knowledge_base)
    vectors: dict[str, list[float]] = {}
    for each in modes:
        try:
            if each != RetrievalMode.FULL_TEXT and not vectors:
                # Embedded once for all the modes that need it (a paid model is paid once).
                vectors = selectors.query_vectors(
                    tenant=tenant, knowledge_bases=[knowledge_base], query=query
                )
            results = selectors.knowledge_search(
                tenant=tenant,
                knowledge_bases=[knowledge_base],
                query=query,
                top_k=top_k,
                mode=each,
                query_vectors=vectors,
            )
        except GroundworkError as error:
            outcome["columns"].append(
                {"mode": each, "label": RetrievalMode(each).label, "error": error.message}
            )
            continue
        best_score = max((result.score for result in results), default=0.0)
        kinds = dict(
            documents.filter(pk__in={result.document_id for result in results}).values_list(
                "pk", "source_type"
            )
        )
        outcome["columns"].append(
            {
                "mode": each,
                "label": RetrievalMode(each).label,
                "error": "",
                "results": [
                    present_result(result, rank, each, kinds.get(result.document_id, ""), best_score)
                    for rank, result in enumerate(results, 1)
                ],
            }
        )
    return outcome
