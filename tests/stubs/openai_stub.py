"""A stub of OpenAI's HTTP API: chat completions (plain and SSE), embeddings, model listing.

Also stands in for an OpenAI-compatible server (Ollama, vLLM): ``api_key=None`` accepts any key, and
``send_usage = False`` ignores ``stream_options.include_usage`` as some of those servers do.
"""

from __future__ import annotations

import array
import base64
import json
import time
import zlib
from typing import Any

from tests.stubs import Exchange, Fault, RecordedRequest, StubServer, count_words, words

EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_TOKENS = 300_000
DEFAULT_MODEL_IDS = [
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "whisper-1",
    "tts-1",
]
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("service_unavailable", None),
}


def embedding_for(text: str) -> list[float]:
    """The stub's vector for a text: deterministic and exact in float32, so tests can compare it."""
    checksum = zlib.crc32(text.encode())
    return [
        float(len(text)),
        float(checksum % 65536),
        float(count_words(text)),
        1.0,
        float(checksum % 7),
        float(checksum % 11),
        float(checksum % 13),
        0.5,
    ]


def model_version(model: str) -> str:
    return f"{model}-2026-01-01"


class OpenAIStub(StubServer):
    def __init__(self, *, api_key: str | None) -> None:
        super().__init__(api_key=api_key)
        self.send_usage = True
        self.model_ids = list(DEFAULT_MODEL_IDS)
        self.unknown_models: set[str] = set()
        # Vectors are 8 numbers unless a test needs the model's real size (the pipeline checks it):
        # then they are padded with zeros, which leaves every cosine similarity unchanged.
        self.embedding_size: int | None = None

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def route(self, exchange: Exchange, fault: Fault | None) -> None:
        request = exchange.request
        if (request.method, request.path) == ("POST", "/v1/chat/completions"):
            self._chat(exchange, fault)
        elif (request.method, request.path) == ("POST", "/v1/embeddings"):
            self._embeddings(exchange, fault)
        elif (request.method, request.path) == ("GET", "/v1/models"):
            if fault is not None and fault.kind == "cut":
                exchange.drop()
                return
            exchange.send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
                        for model_id in self.model_ids
                    ],
                },
            )
        else:
            exchange.send_json(404, self.error_body(404, "", f"Unknown path {request.path}"))

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        default_type, code = ERROR_TYPES.get(status, ("server_error", None))
        if error_type == "insufficient_quota":
            code = "insufficient_quota"
        return {
            "error": {
                "message": message or f"Stub error {status}",
                "type": error_type or default_type,
                "param": None,
                "code": code,
            }
        }

    # --- chat -----------------------------------------------------------------------------------------

    def _chat(self, exchange: Exchange, fault: Fault | None) -> None:
        body = exchange.request.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            exchange.send_json(400, self.error_body(400, "", "'messages' and 'model' are required."))
            return
        model = body["model"]
        if model in self.unknown_models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            exchange.send_json(404, self.error_body(404, "", message))
            return
        pieces = words(self.answer_for(model, json.dumps(body["messages"], ensure_ascii=False)))
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and limit < len(pieces):
            pieces, finish_reason = pieces[:limit], "length"
        prompt_tokens = sum(count_words(str(message.get("content", ""))) for message in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        created = int(time.time())
        if not body.get("stream"):
            exchange.send_json(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": created,
                    "model": model_version(model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(pieces)},
                            "finish_reason": finish_reason,
                            "logprobs": None,
                        }
                    ],
                    "usage": usage if self.send_usage else None,
                },
            )
            return
        include_usage = self.send_usage and bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            payload = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_version(model),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **({"usage": None} if include_usage else {}),
                **extra,
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in pieces]
        events.append(chunk({}, finish_reason))
        if include_usage:
            final = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_version(model),
                "choices": [],
                "usage": usage,
            }
            events.append(f"data: {json.dumps(final)}\n\n".encode())
        events.append(b"data: [DONE]\n\n")
        error = {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "code": None,
                "param": None,
            }
        }
        exchange.send_events(events, fault, f"data: {json.dumps(error)}\n\n".encode())

    # --- embeddings -----------------------------------------------------------------------------------

    def _embeddings(self, exchange: Exchange, fault: Fault | None) -> None:
        body = exchange.request.body
        if not isinstance(body, dict) or "input" not in body or not body.get("model"):
            exchange.send_json(400, self.error_body(400, "", "'input' and 'model' are required."))
            return
        inputs = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        tokens = sum(count_words(text) for text in inputs)
        problem = ""
        if len(inputs) > MAX_EMBEDDING_INPUTS:
            problem = f"'$.input' is invalid: at most {MAX_EMBEDDING_INPUTS} inputs per request."
        elif tokens > MAX_EMBEDDING_TOKENS:
            problem = f"Requested {tokens} tokens, max {MAX_EMBEDDING_TOKENS} tokens per request."
        elif any(not text for text in inputs):
            problem = "'$.input' is invalid: an input cannot be an empty string."
        if problem:
            exchange.send_json(400, self.error_body(400, "", problem))
            return
        if fault is not None and fault.kind == "cut":
            exchange.drop()
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            vector = embedding_for(text)
            if self.embedding_size:
                vector += [0.0] * (self.embedding_size - len(vector))
            encoded: Any = vector
            if as_base64:  # what the SDK asks for by default: little-endian float32, base64
                encoded = base64.b64encode(array.array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        # The API pairs vectors with inputs by `index`; answering in reverse proves the client does too.
        data.reverse()
        exchange.send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def presented_key(self, request: RecordedRequest) -> str:
        return self.bearer(request)
