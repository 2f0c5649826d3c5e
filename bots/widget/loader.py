"""The loader served at ``/widget.js``: ``static/widget/loader.js`` with the panel's content-hashed static
path written in, gzipped once per process, with its ETag."""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage

PANEL_PLACEHOLDER = "__GROUNDWORK_PANEL_PATH__"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


def _build_loader() -> Asset:
    path = finders.find("widget/loader.js")
    if not path:
        raise FileNotFoundError("static/widget/loader.js")
    with open(path, encoding="utf-8") as source:
        text = source.read()
    # The panel is a hashed static file (long-lived caching); the loader names its current version.
    body = text.replace(PANEL_PLACEHOLDER, staticfiles_storage.url("widget/panel.js")).encode()
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
    )


@functools.cache
def _cached_loader() -> Asset:
    return _build_loader()


def loader() -> Asset:
    """``/widget.js``: built once per process, or on every request while developing."""
    return _build_loader() if settings.DEBUG else _cached_loader()
