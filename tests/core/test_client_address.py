"""core.client_address: X-Forwarded-For (and -Proto) are believed only from configured trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.client_address import client_address
from core.middleware import UntrustedForwardingMiddleware


def _request(peer: str, forwarded: str | None = None) -> Any:
    request = RequestFactory().get("/", REMOTE_ADDR=peer)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says(settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_address(_request("198.51.100.9", "1.2.3.4")) == "198.51.100.9"


def test_a_header_from_an_untrusted_peer_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(_request("198.51.100.9", "1.2.3.4")) == "198.51.100.9"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The visitor forged "1.2.3.4"; the proxy appended the address it really saw.
    assert client_address(_request("10.1.2.3", "1.2.3.4, 203.0.113.7")) == "203.0.113.7"


def test_a_chain_of_trusted_proxies_is_walked(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.0.0/16"]
    assert client_address(_request("10.1.2.3", "203.0.113.7, 192.168.1.1")) == "203.0.113.7"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("203.0.113.7:5000", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not-an-address", "10.1.2.3"),
        ("", "10.1.2.3"),
    ],
)
def test_forwarded_forms(settings: Any, forwarded: str, expected: str) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(_request("10.1.2.3", forwarded)) == expected


def test_an_unreadable_peer_is_unknown(settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_address(_request("")) == "unknown"


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen: list[bool] = []

    def view(request: Any) -> HttpResponse:
        seen.append(request.is_secure())
        return HttpResponse()

    middleware = UntrustedForwardingMiddleware(view)
    for peer in ("10.1.2.3", "198.51.100.9"):
        request = _request(peer)
        request.META["HTTP_X_FORWARDED_PROTO"] = "https"
        middleware(request)
    assert seen == [True, False]
