"""The REST API's contract for its clients: the OpenAPI schema, as data, equals the reviewed snapshot in
``tests/data/openapi.yaml``. A change of paths, operations, parameters or shapes fails here until the
snapshot is regenerated on purpose (``python manage.py spectacular --file tests/data/openapi.yaml``).
Object keys are compared without their order (a serializer's field order is not part of the contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from drf_spectacular.generators import SchemaGenerator

SNAPSHOT = Path(__file__).parent / "data" / "openapi.yaml"


def as_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: sorted(item) if key == "required" and isinstance(item, list) else as_data(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [as_data(item) for item in value]
    return value


def test_the_openapi_schema_is_the_reviewed_snapshot() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Through YAML and back, as the snapshot was written, so both hold the same plain types.
    current = yaml.safe_load(yaml.safe_dump(schema, default_flow_style=False, allow_unicode=True))
    snapshot = yaml.safe_load(SNAPSHOT.read_text())

    assert set(current["paths"]) == set(snapshot["paths"])
    for path, operations in snapshot["paths"].items():
        assert as_data(current["paths"][path]) == as_data(operations), path
    assert set(current["components"]["schemas"]) == set(snapshot["components"]["schemas"])
    for name, component in snapshot["components"]["schemas"].items():
        assert as_data(current["components"]["schemas"][name]) == as_data(component), name
    assert as_data(current) == as_data(snapshot)
