"""The one guarded way Groundwork fetches anything from a URL a tenant gave it.

A URL from a tenant is an attack on our own network until proven otherwise (SSRF): the cloud metadata
service at 169.254.169.254, the database on 10.x, the admin port on 127.0.0.1. So:

- only ``http`` and ``https``;
- every address a host name resolves to must be a public unicast address — checked when the connection
  is made, on the address actually connected to, so DNS rebinding between a check and the connection
  cannot slip through; IPv4-mapped IPv6 (``::ffff:127.0.0.1``) and numeric forms (``2130706433``) are
  unwrapped by the resolver and checked like any other address;
- redirects are followed by hand, at most ``MAX_REDIRECTS``, each hop going through the same checks;
- a time cap for the whole fetch and a size cap enforced while the body streams in.

``FETCH_ALLOW_LOOPBACK`` (off by default, on only in tests that serve pages from 127.0.0.1) admits the
loopback addresses and nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore2
import httpx2
from django.conf import settings

MAX_REDIRECTS = 5
USER_AGENT = "GroundworkBot/1.0 (+https://github.com/groundwork; knowledge base fetcher)"


class FetchRefused(Exception):
    """The URL or one of its redirects points somewhere Groundwork will not go, or breaks a cap."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class HostNotResolved(FetchRefused):
    """DNS had no answer for the host (which may be temporary, unlike a private address)."""


@dataclass(frozen=True)
class FetchResult:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    elapsed_seconds: float


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def resolve_public_addresses(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Every address ``host`` resolves to, if all are allowed; else FetchRefused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise HostNotResolved(f"The host {host} could not be resolved.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not _address_allowed(address, allow_loopback):
            raise FetchRefused(
                f"{host} points to a private or reserved address ({address}); it is not fetched."
            )
        addresses.append(str(address))
    return addresses


def check_url(url: str) -> str:
    """``url`` as submitted, if it may be fetched later; FetchRefused (readable) if it never may.

    Run where a tenant submits a URL, so the obvious refusals (another scheme, a private address, a
    host that resolves to one) are answered at once and nothing is stored. A host that does not resolve
    now is accepted: DNS may be down for a moment, and :func:`fetch` checks every address again anyway.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"Only http:// and https:// addresses can be fetched, not “{url[:200]}”.", url=url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise FetchRefused(f"“{url[:200]}” has an invalid port.", url=url) from None
    try:
        resolve_public_addresses(parts.hostname, port, allow_loopback=settings.FETCH_ALLOW_LOOPBACK)
    except HostNotResolved:
        pass
    except FetchRefused as refused:
        refused.url = url
        raise
    return url


class _GuardedBackend(httpcore2.SyncBackend):
    """httpcore's network backend, connecting only to checked addresses (TLS still uses the host name)."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.NetworkStream:
        addresses = resolve_public_addresses(host, port, allow_loopback=self.allow_loopback)
        return super().connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )


class _GuardedTransport(httpx2.HTTPTransport):
    def __init__(self, allow_loopback: bool) -> None:
        super().__init__(trust_env=False)
        # httpx2 has no public way to choose httpcore2's network backend; its pool is replaced with one
        # that keeps the same TLS settings (pinned versions, covered by tests/knowledge/test_fetching.py).
        self._pool = httpcore2.ConnectionPool(
            ssl_context=self._pool._ssl_context, network_backend=_GuardedBackend(allow_loopback)
        )


def _client(timeout: float, allow_loopback: bool) -> httpx2.Client:
    transport = _GuardedTransport(allow_loopback)
    return httpx2.Client(
        transport=transport,
        timeout=httpx2.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def fetch(
    url: str, *, max_bytes: int | None = None, timeout: float | None = None, accept: str = "*/*"
) -> FetchResult:
    """GET ``url`` under every guard above. Raises FetchRefused with a message a tenant can read."""
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    timeout = timeout or settings.FETCH_TIMEOUT_SECONDS
    allow_loopback = settings.FETCH_ALLOW_LOOPBACK
    started = time.monotonic()
    current = url
    with _client(timeout, allow_loopback) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchRefused(
                    f"Only http:// and https:// addresses can be fetched, not “{current[:200]}”.", url=current
                )
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                raise FetchRefused(f"Fetching took longer than {timeout:g} seconds.", url=current)
            try:
                with client.stream(
                    "GET", current, headers={"Accept": accept}, timeout=httpx2.Timeout(remaining)
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise FetchRefused(
                            f"The page is {declared:,} bytes; the limit is {max_bytes:,}.", url=current
                        )
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise FetchRefused(
                                f"The page is larger than the {max_bytes:,}-byte limit.", url=current
                            )
                        if time.monotonic() - started > timeout:
                            raise FetchRefused(f"Fetching took longer than {timeout:g} seconds.", url=current)
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=response.status_code,
                        content_type=response.headers.get("content-type", ""),
                        body=bytes(body),
                        elapsed_seconds=time.monotonic() - started,
                    )
            except FetchRefused as refused:
                refused.url = refused.url or current
                raise
            except httpx2.TimeoutException:
                raise FetchRefused(f"Fetching took longer than {timeout:g} seconds.", url=current) from None
            except httpx2.HTTPError as error:
                raise FetchRefused(
                    f"The page could not be fetched ({type(error).__name__}).", url=current
                ) from None
    raise FetchRefused(f"More than {MAX_REDIRECTS} redirects.", url=current)
