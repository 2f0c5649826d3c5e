from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination as BaseCursorPagination
from rest_framework.request import Request

from core.errors import ValidationFailed


class CursorPagination(BaseCursorPagination):
    """One pagination everywhere: ``?cursor=`` links in ``next``/``previous``, newest first."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as refused:
            # DRF answers a cursor it cannot read with 404, as if a page were missing; the cursor is the
            # client's input, so it is a 400 that names the field (found by the schema fuzz).
            raise ValidationFailed.on(
                "cursor", "This is not a cursor the API gave: follow the `next` and `previous` links."
            ) from refused
