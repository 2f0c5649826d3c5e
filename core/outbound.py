"""The one guarded way out to anything a tenant can point Groundwork at: knowledge URLs, crawls and the
base URLs of OpenAI-compatible model servers.

A URL from a tenant is an attack on our own network until proven otherwise (SSRF): the cloud metadata
service at 169.254.169.254, the database on 10.x, the admin port on 127.0.0.1. So:

- :func:`address_allowed` is the one address rule (see its docstring for what it refuses), used when a
  tenant submits a URL (knowledge sources, model endpoints) and again at every connection;
- the transports (:class:`GuardedTransport`, :class:`GuardedAsyncTransport`) resolve a host themselves,
  through :data:`resolver`, check every address it resolves to and connect only to a checked address, so
  DNS that answers differently at call time than at save time (rebinding) cannot slip through — and a
  redirect to another host is a new connection, checked the same way. TLS still verifies the host
  name, not the address. Proxies from the environment are ignored (a proxy would connect for us);
- they can refuse redirects outright (the SDK clients do: a model API never needs one, and an SDK would
  otherwise follow it wherever it points), and they cut a response at a byte cap and a wall-clock
  deadline (:class:`ResponseLimits`), checked while the body streams in, so neither an endless answer
  nor one enormous line reaches the caller's memory.

Refusals are :class:`OutboundRefused`, whose message a tenant can read. They are plain exceptions on
purpose: the SDKs retry their own and httpx's connection errors, but let other exceptions through at
once, so a refused address is not asked again three times.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import httpcore2
import httpx2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The URL or an address it leads to is somewhere Groundwork will not go, or a response broke a cap."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class HostNotResolved(OutboundRefused):
    """DNS had no answer for the host (which may be temporary, unlike a private address)."""


class AddressRefused(OutboundRefused):
    """The host resolves to an address the rule refuses."""


class RedirectRefused(OutboundRefused):
    """The server answered with a redirect where none is followed."""


class ResponseLimitExceeded(OutboundRefused):
    """A response grew past its byte cap or outlasted its deadline; ``kind`` says which."""

    def __init__(self, message: str, *, kind: str, url: str = "") -> None:
        super().__init__(message, url=url)
        self.kind = kind  # "size" | "time"


# --- the address rule -------------------------------------------------------------------------------

# IPv6 forms that carry an IPv4 address which the network may deliver to (NAT64, 6to4): the IPv4 inside
# is what is checked. NAT64's well-known prefix is unwrapped rather than refused because on an IPv6-only
# host behind DNS64 every public IPv4 site resolves to it.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
# Refused whatever they carry: the local-use NAT64 prefix (RFC 8215) translates into the operator's own
# network; IPv4-compatible addresses (::a.b.c.d) and site-local fec0::/10 are deprecated (RFC 4291,
# RFC 3879) and some stacks still route them; Teredo tunnels through a relay to an obfuscated client.
REFUSED_IPV6_NETWORKS = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("2001::/32"),
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address delivers to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_allowed(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether Groundwork may connect to ``address`` for a tenant: a public unicast address.

    Refused: loopback (unless ``allow_loopback``, for tests serving from 127.0.0.1), private, shared
    (100.64/10), link-local (the metadata service 169.254.169.254 among them), unspecified, multicast,
    reserved and documentation ranges; IPv6 unique-local and site-local; the IPv6 forms that carry an
    IPv4 address are judged by the IPv4 inside (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
    6to4 ``2002::/16``) or refused outright (IPv4-compatible ``::a.b.c.d``, local NAT64
    ``64:ff9b:1::/48``, Teredo ``2001::/32``). Numeric host forms (``2130706433``, ``0x7f000001``) never
    reach this function as such: the resolver turns them into the address they mean.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_allowed(embedded, allow_loopback=allow_loopback)
        if address.is_loopback:
            return allow_loopback
        if any(address in network for network in REFUSED_IPV6_NETWORKS):
            return False
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not (address.is_multicast or address.is_reserved)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses one kind of outbound call may reach, and how its refusals read."""

    # Admits 127.0.0.0/8 and ::1 and nothing else (FETCH_ALLOW_LOOPBACK: tests serving from 127.0.0.1).
    allow_loopback: bool = False
    # Admits every address (ALLOW_PRIVATE_MODEL_ENDPOINTS: a self-hosted Groundwork whose Ollama is
    # beside it). Resolution still goes through the resolver, and redirects are still refused.
    allow_private: bool = False
    # The end of a refusal: "…; it is not fetched."
    refused_action: str = "connected to"


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the operating system resolves ``host`` to (also numeric forms such as 2130706433)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotResolved(f"The host {host} could not be resolved.") from None
    # Scope ids ("fe80::1%eth0") are not part of the address the rule judges.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos))


# The resolver every guarded check and connection uses. A hook: tests point it at an answer of their
# own (a public address at save time, loopback at call time) to prove the check is made at connect time.
resolver: Callable[[str, int], list[IPAddress]] = system_resolver


def resolve_allowed(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    """Every address ``host`` resolves to, if all are allowed; else AddressRefused or HostNotResolved.

    All of them, not just the first: a name with one public and one private address is refused, since
    which one a client picks is not ours to predict.
    """
    addresses = resolver(host, port)
    if not addresses:
        raise HostNotResolved(f"The host {host} could not be resolved.")
    if not policy.allow_private:
        for address in addresses:
            if not address_allowed(address, allow_loopback=policy.allow_loopback):
                raise AddressRefused(
                    f"{host} points to a private or reserved address ({address}); "
                    f"it is not {policy.refused_action}."
                )
    return addresses


# --- network backends: connect only to checked addresses --------------------------------------------


class _GuardedSyncBackend(httpcore2.SyncBackend):
    """httpcore's network backend, connecting only to checked addresses (TLS still uses the host name)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        addresses = resolve_allowed(host, port, self.policy)
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore2.ConnectError, httpcore2.ConnectTimeout):
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
        return super().connect_tcp(str(addresses[-1]), port, timeout, local_address, socket_options)


class _GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    """The async twin: resolution (blocking in the C library) runs in a worker thread."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await anyio.to_thread.run_sync(resolve_allowed, host, port, self.policy)
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore2.ConnectError, httpcore2.ConnectTimeout):
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
        return await self._backend.connect_tcp(
            str(addresses[-1]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise OutboundRefused("Unix sockets are not reachable through the guarded transport.")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# --- response caps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseLimits:
    """How much of one response is read, and for how long (from sending the request to the last byte);
    ``too_large`` and ``too_slow``, when given, are the refusals' messages, written for the caller's
    reader."""

    max_bytes: int
    seconds: float
    too_large: str = ""
    too_slow: str = ""

    def exceeded(self, kind: str, url: str) -> ResponseLimitExceeded:
        if kind == "size":
            message = (
                self.too_large or f"The answer was larger than {self.max_bytes:,} bytes; it was cut off."
            )
        else:
            message = (
                self.too_slow or f"The answer took longer than {self.seconds:g} seconds; it was cut off."
            )
        return ResponseLimitExceeded(message, kind=kind, url=url)


# Limits for the requests made inside :func:`response_limits`, instead of the transport's own: one SDK
# client (one transport) serves calls of different sizes, which only the caller knows.
_call_limits: contextvars.ContextVar[ResponseLimits | None] = contextvars.ContextVar(
    "outbound_call_limits", default=None
)


@contextlib.contextmanager
def response_limits(limits: ResponseLimits) -> Iterator[None]:
    """Apply ``limits`` to every request sent through a guarded transport inside the block (the body
    keeps them while it is read later)."""
    token = _call_limits.set(limits)
    try:
        yield
    finally:
        _call_limits.reset(token)


class _LimitedStream(httpx2.SyncByteStream):
    def __init__(self, stream: Any, limits: ResponseLimits, deadline: float, url: str) -> None:
        self._stream, self._limits, self._deadline, self._url = stream, limits, deadline, url

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._stream:
            received += len(chunk)
            if received > self._limits.max_bytes:
                raise self._limits.exceeded("size", self._url)
            if time.monotonic() > self._deadline:
                raise self._limits.exceeded("time", self._url)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _LimitedAsyncStream(httpx2.AsyncByteStream):
    def __init__(self, stream: Any, limits: ResponseLimits, deadline: float, url: str) -> None:
        self._stream, self._limits, self._deadline, self._url = stream, limits, deadline, url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        chunks = self._stream.__aiter__()
        while True:
            # The deadline interrupts a read that is waiting, so a server that sends a byte just
            # inside every read timeout is still cut at the deadline.
            try:
                with anyio.fail_after(max(self._deadline - time.monotonic(), 0)):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise self._limits.exceeded("time", self._url) from None
            received += len(chunk)
            if received > self._limits.max_bytes:
                raise self._limits.exceeded("size", self._url)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def _declared_too_large(response: httpx2.Response, limits: ResponseLimits) -> bool:
    try:
        return int(response.headers.get("content-length") or 0) > limits.max_bytes
    except ValueError:
        return False


# --- transports -------------------------------------------------------------------------------------


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every guarded client of the process.

    Building one loads the CA bundle: about 45 ms of CPU (bench/chat.py measured it as a fifth of
    Groundwork's time to first token), paid by every fetched page and model call otherwise. A context is
    safe to share between clients and threads.
    """
    return httpx2.create_ssl_context()


class _Guard:
    """What both transports share: the policy, the default limits and the checks on a response."""

    def __init__(self, policy: AddressPolicy | None, limits: ResponseLimits, refuse_redirects: bool) -> None:
        self.policy, self.limits, self.refuse_redirects = policy, limits, refuse_redirects

    def current_limits(self) -> ResponseLimits:
        return _call_limits.get() or self.limits

    def refusal(
        self, request: httpx2.Request, response: httpx2.Response, limits: ResponseLimits
    ) -> OutboundRefused | None:
        url = str(request.url)
        if self.refuse_redirects and 300 <= response.status_code < 400:
            return RedirectRefused(
                f"{request.url.host} answered with a redirect (HTTP {response.status_code}); "
                "redirects are not followed.",
                url=url,
            )
        if _declared_too_large(response, limits):
            return limits.exceeded("size", url)
        return None


def _pool_options(pool: Any) -> dict[str, Any]:
    """The TLS context and connection limits httpx2 gave the pool it built, for the one replacing it."""
    return {
        "ssl_context": pool._ssl_context,
        "max_connections": pool._max_connections,
        "max_keepalive_connections": pool._max_keepalive_connections,
        "keepalive_expiry": pool._keepalive_expiry,
    }


class GuardedTransport(httpx2.HTTPTransport):
    """An httpx transport (sync) under the guards above; ``policy=None`` skips the address check (for
    URLs the operator configured, such as the platform's own provider base URLs)."""

    def __init__(
        self,
        *,
        policy: AddressPolicy | None,
        limits: ResponseLimits,
        refuse_redirects: bool = False,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(verify=verify or shared_ssl_context(), trust_env=False)
        self._guard = _Guard(policy, limits, refuse_redirects)
        if policy is not None:
            # httpx2 has no public way to choose httpcore2's network backend; its pool is replaced with
            # one that keeps the same TLS context and limits (pinned versions, covered by the tests).
            self._pool = httpcore2.ConnectionPool(
                **_pool_options(self._pool), network_backend=_GuardedSyncBackend(policy)
            )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        limits = self._guard.current_limits()
        deadline = time.monotonic() + limits.seconds
        response = super().handle_request(request)
        refusal = self._guard.refusal(request, response, limits)
        if refusal is not None:
            response.close()
            raise refusal
        response.stream = _LimitedStream(response.stream, limits, deadline, str(request.url))
        return response


class GuardedAsyncTransport(httpx2.AsyncHTTPTransport):
    """The async twin of :class:`GuardedTransport` (``AsyncOpenAI`` speaks through it)."""

    def __init__(
        self,
        *,
        policy: AddressPolicy | None,
        limits: ResponseLimits,
        refuse_redirects: bool = False,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(verify=verify or shared_ssl_context(), trust_env=False)
        self._guard = _Guard(policy, limits, refuse_redirects)
        if policy is not None:
            self._pool = httpcore2.AsyncConnectionPool(
                **_pool_options(self._pool), network_backend=_GuardedAsyncBackend(policy)
            )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        limits = self._guard.current_limits()
        deadline = time.monotonic() + limits.seconds
        try:
            with anyio.fail_after(limits.seconds):
                response = await super().handle_async_request(request)
        except TimeoutError:
            raise limits.exceeded("time", str(request.url)) from None
        refusal = self._guard.refusal(request, response, limits)
        if refusal is not None:
            await response.aclose()
            raise refusal
        response.stream = _LimitedAsyncStream(response.stream, limits, deadline, str(request.url))
        return response
