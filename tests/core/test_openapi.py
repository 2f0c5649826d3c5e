"""The API's errors in its OpenAPI schema (core/openapi.py): each operation documents the problem+json
errors it can answer, from what it takes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def errors_of(schema: dict[str, Any], path: str, method: str) -> set[int]:
    responses = schema["paths"][path][method]["responses"]
    return {int(status) for status, response in responses.items() if response.get("content") == PROBLEM}


def test_each_operation_documents_the_problems_it_can_answer() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert errors_of(schema, "/api/v1/tenant", "get") == {401, 403, 429}
    assert errors_of(schema, "/api/v1/bots", "get") == {400, 401, 403, 429}
    assert errors_of(schema, "/api/v1/bots/{id}", "get") == {401, 403, 404, 429}
    assert errors_of(schema, "/api/v1/bots/{id}", "delete") == {401, 403, 404, 409, 429}
    assert errors_of(schema, "/api/v1/bots", "post") == {400, 401, 403, 404, 409, 413, 415, 429}
    # The widget's public API needs no secret key, but refuses origins and visitor tokens.
    assert errors_of(schema, "/public/v1/bots/{key}/sessions", "post") >= {401, 403, 404}
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]


def test_a_documented_success_is_never_replaced() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert "application/json" in schema["paths"]["/api/v1/bots"]["post"]["responses"]["201"]["content"]
