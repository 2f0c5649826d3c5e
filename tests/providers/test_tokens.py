"""The offline token counter against true OpenAI counts and OpenAI's reported usage.

The fixture (data/token_counts.json) was made by data/make_token_counts.py with OpenAI's tiktoken 0.14.0
and OpenAI's encoding files (hash-checked); the counter under test is a different implementation
(bpe-openai), so agreement here is a measurement, not a tautology.

Measured error, asserted below:
- every text (English, code, nine other languages, emoji, URLs, numbers, whitespace): exact, both encodings;
- long documents counted in pieces: exact when words end somewhere in each 40,000 characters (English,
  Chinese); at most one token per blind cut in an unbroken run of letters (+1 of 41,538 measured);
- chat prompts: equal to the prompt_tokens OpenAI's API reported for the Cookbook's example.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from providers.adapters.base import ChatMessage
from providers.tokens import count_message_tokens, count_tokens, encoding_for_model

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "token_counts.json").read_text(encoding="utf-8")
)
ENCODINGS = ("o200k_base", "cl100k_base")
KINDS = sorted({text["kind"] for text in FIXTURE["texts"]})
ROOT = Path(__file__).resolve().parents[2]
PIECE_CHARACTERS = 40_000  # providers.tokens._PIECE_CHARACTERS, restated: the tests below rely on it


def texts_of_kind(kind: str) -> list[dict[str, Any]]:
    return [text for text in FIXTURE["texts"] if text["kind"] == kind]


def test_fixture_covers_prose_code_and_other_languages() -> None:
    assert set(KINDS) == {"english", "code", "non-english", "mixed"}
    assert all(len(texts_of_kind(kind)) >= 5 for kind in KINDS)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind", KINDS)
def test_text_counts_are_exact(kind: str, encoding: str) -> None:
    errors = {
        text["label"]: count_tokens(text["text"], encoding=encoding) - text[encoding]
        for text in texts_of_kind(kind)
    }
    assert errors == dict.fromkeys(errors, 0), f"{kind}/{encoding}: counted minus true, per text: {errors}"


def english_texts() -> list[str]:
    return [text["text"] for text in texts_of_kind("english")]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_document_counted_in_pieces_is_exact(encoding: str) -> None:
    long_text = "\n\n".join(english_texts() * FIXTURE["long_text"]["repeat"])
    assert len(long_text) == FIXTURE["long_text"]["characters"] > 10 * PIECE_CHARACTERS
    assert count_tokens(long_text, encoding=encoding) == FIXTURE["long_text"][encoding]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_long_text_without_spaces_is_cut_at_word_ends_and_stays_exact(encoding: str) -> None:
    chinese = next(text["text"] for text in FIXTURE["texts"] if text["label"] == "chinese")
    long_text = chinese * FIXTURE["long_cjk_text"]["repeat"]
    assert " " not in long_text and len(long_text) > 2 * PIECE_CHARACTERS
    assert count_tokens(long_text, encoding=encoding) == FIXTURE["long_cjk_text"][encoding]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_unbroken_run_of_letters_is_off_by_at_most_one_token_per_cut(encoding: str) -> None:
    entry = FIXTURE["unbroken_letters"]
    letters = "".join(
        chr(ord("a") + (index * index + 7 * index) % 26) for index in range(entry["characters"])
    )
    blind_cuts = math.ceil(len(letters) / PIECE_CHARACTERS) - 1
    error = count_tokens(letters, encoding=encoding) - entry[encoding]
    assert abs(error) <= blind_cuts, f"{error} tokens off over {blind_cuts} cuts"


def test_special_token_markup_counts_as_text() -> None:
    # A visitor typing tiktoken's control tokens gets them counted as characters, not an exception.
    markup = next(text for text in FIXTURE["texts"] if text["label"] == "special token markup")
    assert "<|endoftext|>" in markup["text"]
    assert count_tokens(markup["text"]) == markup["o200k_base"]


@pytest.mark.parametrize(
    "report", FIXTURE["reported_chat_usage"]["reports"], ids=lambda report: report["model"]
)
def test_chat_prompt_count_equals_openai_reported_usage(report: dict[str, Any]) -> None:
    messages = FIXTURE["reported_chat_usage"]["messages"]
    counted = count_message_tokens(messages, encoding=report["encoding"])
    assert counted == report["prompt_tokens_reported"], (
        f"{report['model']}: counted {counted}, OpenAI reported {report['prompt_tokens_reported']}"
    )


def test_chat_messages_count_like_openai_style_dicts() -> None:
    messages = [
        ChatMessage(role="system", content="Answer from the passages only."),
        ChatMessage(role="user", content="How do I reset my password?"),
        ChatMessage(role="assistant", content="Open Settings, then Security."),
    ]
    as_dicts = [{"role": message.role, "content": message.content} for message in messages]
    counted = count_message_tokens(messages)
    assert counted == count_message_tokens(as_dicts)
    # 3 per message around role and content, 3 to prime the reply: the overhead OpenAI bills.
    content = sum(count_tokens(message.content) + count_tokens(message.role) for message in messages)
    assert counted == content + 3 * len(messages) + 3
    assert count_message_tokens([]) == 3


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-5", "o200k_base"),
        ("gpt-5-nano", "o200k_base"),
        ("gpt-4.1-mini", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("text-embedding-ada-002", "cl100k_base"),
        ("claude-haiku-4-5", "o200k_base"),  # not OpenAI's: an estimate with the current encoding
        ("llama3.1:8b", "o200k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


def test_counts_without_any_network_access() -> None:
    """In a fresh process whose sockets cannot connect or resolve, the counter still loads and counts."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from providers.tokens import count_tokens\n"
        "print(count_tokens('tiktoken is great!', encoding='cl100k_base'))\n"
    )
    environment = {**os.environ, "TIKTOKEN_CACHE_DIR": "/nonexistent", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # 6 on cl100k_base is the count OpenAI's Cookbook shows for this string.
    assert result.stdout.split()[0] == "6"
