"""Fetching a URL a tenant gave: knowledge pages and crawls, under the guards of ``core.outbound``.

- only ``http`` and ``https``;
- every address a host name resolves to must pass ``core.outbound.address_allowed`` — checked when the
  connection is made, on the address actually connected to, so DNS rebinding between a check and the
  connection cannot slip through; IPv4-mapped IPv6 (``::ffff:127.0.0.1``), the other IPv6 forms that
  carry an IPv4 address, and numeric forms (``2130706433``) are checked like any other address;
- redirects are followed by hand, at most ``MAX_REDIRECTS``, each hop going through the same checks;
- a time cap for the whole fetch and a size cap enforced while the body streams in.

``FETCH_ALLOW_LOOPBACK`` (off by default, on only in tests that serve pages from 127.0.0.1) admits the
loopback addresses and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx2
from django.conf import settings

from core import outbound

MAX_REDIRECTS = 5
USER_AGENT = "GroundworkBot/1.0 (+https://github.com/groundwork; knowledge base fetcher)"

# The guard's refusals, under the names the knowledge app has always used (crawling and the pipeline
# catch them): one class, so a refusal raised by the transport is caught like one raised here.
FetchRefused = outbound.OutboundRefused
HostNotResolved = outbound.HostNotResolved


@dataclass(frozen=True)
class FetchResult:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    elapsed_seconds: float


def _policy(allow_loopback: bool) -> outbound.AddressPolicy:
    return outbound.AddressPolicy(allow_loopback=allow_loopback, refused_action="fetched")


def resolve_public_addresses(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Every address ``host`` resolves to, if all are allowed; else FetchRefused."""
    return [str(address) for address in outbound.resolve_allowed(host, port, _policy(allow_loopback))]


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


def _limits(max_bytes: int, seconds: float, timeout: float) -> outbound.ResponseLimits:
    """The caps of one hop: the bytes of one page, and what is left of the whole fetch's time."""
    return outbound.ResponseLimits(
        max_bytes=max_bytes,
        seconds=seconds,
        too_large=f"The page is larger than the {max_bytes:,}-byte limit.",
        too_slow=f"Fetching took longer than {timeout:g} seconds.",
    )


def _client(timeout: float, max_bytes: int, allow_loopback: bool) -> httpx2.Client:
    transport = outbound.GuardedTransport(
        policy=_policy(allow_loopback), limits=_limits(max_bytes, timeout, timeout)
    )
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
    with _client(timeout, max_bytes, allow_loopback) as client:
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
                # The transport cuts the body at max_bytes and at the time left, while it streams in.
                with (
                    outbound.response_limits(_limits(max_bytes, remaining, timeout)),
                    client.stream(
                        "GET", current, headers={"Accept": accept}, timeout=httpx2.Timeout(remaining)
                    ) as response,
                ):
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    body = response.read()
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
