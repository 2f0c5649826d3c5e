"""Size limits on uploads, enforced while a file streams in rather than after it has been stored.

Django's own handlers spool an upload to memory or a temporary file whatever its size; the handler here
runs first and stops the upload as soon as the declared body or the bytes received so far pass the
view's limit. (Under ASGI the whole body is also capped before Django reads it: ``config.asgi``.) Views
install it with :func:`limit_uploads` before they touch ``request.FILES``.

Upload handlers cannot be changed once the body has been parsed, and Django's CSRF middleware parses
it (to read ``csrfmiddlewaretoken``) before the view runs: a dashboard view that takes uploads is
therefore ``csrf_exempt`` and runs the CSRF check itself right after installing the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest

from core.errors import GroundworkError

# Room for a multipart body's boundaries, headers and small fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(GroundworkError):
    status = 413
    title = "Upload too large"


class SizeLimitedUploadHandler(FileUploadHandler):
    """Refuses a file once more than ``limit`` bytes of it have arrived; ``message(file_name)`` says so
    (the name is empty when the declared body alone is already too large)."""

    def __init__(self, request: HttpRequest | None, *, limit: int, message: Callable[[str], str]) -> None:
        super().__init__(request)
        self.limit = limit
        self.message = message
        self.received = 0

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, *args: Any, **kwargs: Any
    ) -> None:
        if content_length > self.limit + MULTIPART_OVERHEAD_BYTES:
            raise UploadTooLarge(self.message(""))

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise UploadTooLarge(self.message(self.file_name or ""))
        return raw_data  # the next handler (memory or temporary file) stores it

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file object


def limit_uploads(request: HttpRequest, *, limit: int, message: Callable[[str], str]) -> None:
    """Install the limit on ``request``; call before anything reads ``request.FILES`` or ``POST``."""
    if not any(isinstance(handler, SizeLimitedUploadHandler) for handler in request.upload_handlers):
        request.upload_handlers.insert(0, SizeLimitedUploadHandler(request, limit=limit, message=message))
