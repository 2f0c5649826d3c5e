"""Encryption at rest for provider keys: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

``FIELD_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys, newest first. New values are
encrypted with the first; every listed key still decrypts, so rotation is: put a new key in front,
deploy, run ``manage.py reencrypt_provider_keys``, then drop the old key. In development, with the
variable unset, one key is generated once under ``var/``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db.models import QuerySet


class DecryptionFailed(Exception):
    """No configured key decrypts this value (a key was removed before re-encryption)."""


@cache
def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()]
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(key) for key in keys])


def reset_key_cache() -> None:
    """Forget the parsed keys (after the setting changes, e.g. in a rotation test)."""
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionFailed("no configured encryption key decrypts this value") from None


def reencrypt(token: str) -> str:
    """The same plaintext under the current primary key (MultiFernet.rotate)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionFailed("no configured encryption key decrypts this value") from None


def reencrypt_column(queryset: QuerySet[Any], field: str) -> int:
    """Re-encrypt ``field`` of every row of ``queryset`` that holds a value, under the current primary
    key (after a key rotation), each row locked while it changes; how many rows changed. The caller
    decides the scope (a platform rotation spans every tenant)."""
    count = 0
    for row in queryset.exclude(**{field: ""}).select_for_update():
        setattr(row, field, reencrypt(getattr(row, field)))
        row.save(update_fields=[field])
        count += 1
    return count
