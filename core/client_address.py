"""The address of the client behind a request: the one rule every limit and throttle keys on.

``X-Forwarded-For`` is a header anyone can send. It is believed only hop by hop from the right: while
the address that handed us the request is one of ``TRUSTED_PROXIES`` (CIDRs, empty by default), the
address it says it received the request from is taken instead. The first address that is not a trusted
proxy is the client. So with no trusted proxies a forged header changes nothing, and behind a load
balancer a visitor's own ``X-Forwarded-For: 1.2.3.4`` is still only the leftmost, ignored, entry.

The ASGI server passes the direct peer through untouched (``run_platform`` and the container start
uvicorn without its own proxy-header handling), so this module is the only place the header is read.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _trusted(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies if proxy.strip())


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_is_trusted_proxy(request: Any) -> bool:
    """Did one of ``TRUSTED_PROXIES`` hand us this request (so its forwarding headers may be believed)?"""
    peer = _parse(str(request.META.get("REMOTE_ADDR") or ""))
    trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
    return peer is not None and any(peer in network for network in trusted)


def client_address(request: Any) -> str:
    """The client's IP address as text ("unknown" when the peer gave none a machine can read).

    ``request`` is anything with a WSGI-style ``META`` (Django's request, DRF's request).
    """
    peer = _parse(str(request.META.get("REMOTE_ADDR") or ""))
    if peer is None:
        return "unknown"
    trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
    if not trusted:
        return str(peer)
    hops = [hop for hop in str(request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    current = peer
    while any(current in network for network in trusted) and hops:
        forwarded = _parse(hops.pop())
        if forwarded is None:  # garbage from a hop we cannot vouch for: stop at the proxy itself
            break
        current = forwarded
    return str(current)
