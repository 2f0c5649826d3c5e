"""Strict input: serializers that refuse fields they do not know, for bodies and query strings alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework import serializers

from core.errors import RequestRefused, ValidationFailed


class StrictInputSerializer(serializers.Serializer):
    """Input serializer that rejects fields it does not know, instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """A JSON body's values, checked by ``serializer_class``; a domain error (400) otherwise, for the
    endpoints that answer outside DRF."""
    if not isinstance(data, dict):
        raise RequestRefused(400, "Send a JSON object.")
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise ValidationFailed("The request has invalid fields.", field_errors=dict(serializer.errors))
    return dict(serializer.validated_data)


def validated_query(
    query: Mapping[str, str], serializer_class: type[serializers.Serializer], *, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """A query string's values, checked by ``serializer_class`` (DRF's ValidationError, a 400, otherwise);
    ``ignore`` names parameters another part reads, such as the paginator's ``cursor`` and ``page_size``."""
    skipped = set(ignore)
    serializer = serializer_class(data={name: value for name, value in query.items() if name not in skipped})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
