"""A stub of Anthropic's HTTP API: the Messages API (plain and SSE) and model listing.

It checks requests the way API version 2026-10-21 (the one anthropic 2.x sends) does where it matters
to Groundwork: ``anthropic-version`` is required, sampling parameters such as ``temperature`` are a 400,
and a ``system`` role inside ``messages`` is a 400 (system prompts go in the top-level ``system``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.stubs import Exchange, Fault, RecordedRequest, StubServer, count_words, words

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
SAMPLING_PARAMETERS = ("temperature", "top_p", "top_k")
DEFAULT_MODELS = [
    ("claude-opus-4-1", "Claude Opus 4.1"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
]


def model_version(model: str) -> str:
    return f"{model}-20251001"


def sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


class AnthropicStub(StubServer):
    # The SDK skips data lines without an event name, so a broken event must carry one to be read.
    malformed_event = b"event: content_block_delta\ndata: {this is not json\n\n"

    def __init__(self, *, api_key: str | None) -> None:
        super().__init__(api_key=api_key)
        self.unknown_models: set[str] = set()

    @property
    def base_url(self) -> str:
        # The Anthropic SDK adds /v1/... itself, so its base URL is the bare origin.
        return self.origin

    def presented_key(self, request: RecordedRequest) -> str:
        # anthropic 2.x sends the key as a bearer token; older clients send x-api-key (which wins).
        return request.headers.get("x-api-key") or self.bearer(request)

    def rejected_key_message(self, request: RecordedRequest) -> str:
        return "invalid x-api-key"

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        kind = error_type or ERROR_TYPES.get(status, "api_error")
        return {
            "type": "error",
            "error": {"type": kind, "message": message or kind.replace("_", " ")},
            "request_id": "req_stub",
        }

    def route(self, exchange: Exchange, fault: Fault | None) -> None:
        request = exchange.request
        if "anthropic-version" not in request.headers:
            exchange.send_json(400, self.error_body(400, "", "anthropic-version: header is required"))
        elif (request.method, request.path) == ("POST", "/v1/messages"):
            self._messages(exchange, fault)
        elif (request.method, request.path) == ("GET", "/v1/models"):
            limit = int(request.query.get("limit", "20"))
            models = [
                {
                    "type": "model",
                    "id": model_id,
                    "display_name": name,
                    "created_at": "2025-10-01T00:00:00Z",
                    "lifecycle": "active",
                }
                for model_id, name in DEFAULT_MODELS
            ]
            page = models[:limit]
            exchange.send_json(
                200,
                {
                    "data": page,
                    "has_more": len(models) > limit,
                    "first_id": page[0]["id"],
                    "last_id": page[-1]["id"],
                },
            )
        else:
            exchange.send_json(404, self.error_body(404, "", f"Unknown path {request.path}"))

    def _messages(self, exchange: Exchange, fault: Fault | None) -> None:
        body = exchange.request.body
        problem = ""
        if not isinstance(body, dict):
            problem = "The request body is not valid JSON."
        elif not body.get("model") or not isinstance(body.get("max_tokens"), int):
            problem = "model and max_tokens: fields required"
        elif not isinstance(body.get("messages"), list):
            problem = "messages: field required"
        elif sampling := [name for name in SAMPLING_PARAMETERS if name in body]:
            problem = f"{sampling[0]}: Extra inputs are not permitted"
        elif roles := [m.get("role") for m in body["messages"] if m.get("role") not in ("user", "assistant")]:
            problem = (
                f'messages: Unexpected role "{roles[0]}". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if problem:
            exchange.send_json(400, self.error_body(400, "", problem))
            return
        assert isinstance(body, dict)
        model = body["model"]
        if model in self.unknown_models:
            exchange.send_json(404, self.error_body(404, "", f"model: {model}"))
            return
        pieces = words(self.answer_for(model, json.dumps(body.get("messages", []), ensure_ascii=False)))
        stop_reason = "end_turn"
        if body["max_tokens"] < len(pieces):
            pieces, stop_reason = pieces[: body["max_tokens"]], "max_tokens"
        system = body.get("system") or ""
        input_tokens = count_words(system if isinstance(system, str) else json.dumps(system)) + sum(
            count_words(str(message.get("content", ""))) for message in body["messages"]
        )
        version = model_version(model)
        if not body.get("stream"):
            exchange.send_json(
                200,
                {
                    "id": "msg_stub",
                    "type": "message",
                    "role": "assistant",
                    "model": version,
                    "content": [{"type": "text", "text": "".join(pieces)}],
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": len(pieces)},
                },
            )
            return
        events = [
            sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_stub",
                        "type": "message",
                        "role": "assistant",
                        "model": version,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                    },
                },
            ),
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            sse("ping", {"type": "ping"}),
        ]
        events += [
            sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            for piece in pieces
        ]
        events += [
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": len(pieces)},
                },
            ),
            sse("message_stop", {"type": "message_stop"}),
        ]
        error_type = fault.error_type if fault is not None and fault.error_type else "overloaded_error"
        error_event = sse("error", {"type": "error", "error": {"type": error_type, "message": "Overloaded"}})
        exchange.send_events(events, fault, error_event)
