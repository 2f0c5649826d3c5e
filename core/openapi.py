"""The API's errors in its OpenAPI schema.

Every error under ``/api/`` and ``/public/`` is an RFC 9457 problem (``core.problems``), but
drf-spectacular documents only the successful answers. ``document_problems``, a postprocessing hook,
adds to each operation the error statuses it can answer, all with the one ``Problem`` shape, so that a
client generated from the schema (and the schema fuzz in tests/security/test_api_fuzz.py) knows them.
Which statuses an operation can answer follows from what it takes: a body can be malformed, too large or
of the wrong media type; a path id can name nothing; a secret key can be missing or lack the role.
"""

from __future__ import annotations

from typing import Any

from core.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem; extension members (such as OpenAI's `error`) may follow.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "The invalid fields, each with its messages.",
            "additionalProperties": True,
        },
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The request is invalid: `detail` says why, `errors` names the fields.",
    401: "No valid secret API key.",
    403: "Not allowed: the key's role, or on the public API the page's origin or the visitor's token.",
    404: "Nothing here with an id (or name) the request gave; another organisation's is the same answer.",
    409: "The change clashes with the current state: `detail` says how.",
    413: "The request body is larger than this endpoint accepts.",
    415: "The request body's media type is not one this endpoint reads.",
    429: "Too many requests, or over a budget or quota: `detail` says which, `Retry-After` when to retry.",
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses ``operation`` can answer, from what it takes."""
    statuses = [429]  # rate limits, budgets and quotas may refuse any request
    if method != "get":
        statuses.append(409)
    # A path id that names nothing is a 404 (below), whatever its form; query and body are validated.
    validated = [parameter for parameter in operation.get("parameters", []) if parameter.get("in") != "path"]
    if validated or "requestBody" in operation:
        statuses.append(400)
    if operation.get("security") or path.startswith("/public/"):
        statuses += [401, 403]
    if "{" in path or "requestBody" in operation:  # a path or a body can name what is not there
        statuses.append(404)
    if "requestBody" in operation:
        statuses += [413, 415]
    return sorted(statuses)


def document_problems(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the ``Problem`` component and each operation's errors."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(str(status), {"content": problem, "description": DESCRIPTIONS[status]})
    return result
