"""core.outbound: the one address rule, resolution through the hook, and the transports' checks at
connect time, their redirect refusal and their byte and time caps (real httpx2 clients against a local
server)."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest

from core import outbound

LOOPBACK_ALLOWED = outbound.AddressPolicy(allow_loopback=True)
STRICT = outbound.AddressPolicy()


# --- the address rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # shared (carrier-grade NAT)
        "169.254.169.254",  # the metadata service
        "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
        "224.0.0.1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",  # the metadata service over IPv6 (unique-local)
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::808:808",  # local-use NAT64: refused whatever it carries
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::808:808",  # IPv4-compatible, deprecated whatever it carries
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:0:7f00:1::1",
        "fec0::1",  # site-local
        "fec0::a9fe:a9fe",
    ],
)
def test_private_and_embedded_private_addresses_are_refused(address: str) -> None:
    assert not outbound.address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address: what DNS64 answers on an IPv6-only host
        "2002:808:808::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert outbound.address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_the_loopback_allowance_admits_loopback_in_every_form(address: str) -> None:
    assert outbound.address_allowed(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "fe80::1", "::7f00:1", "fec0::1"])
def test_the_loopback_allowance_admits_nothing_else(address: str) -> None:
    assert not outbound.address_allowed(ipaddress.ip_address(address), allow_loopback=True)


# --- resolution through the hook -------------------------------------------------------------------


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    system = outbound.system_resolver

    def resolve(host: str, port: int) -> list[outbound.IPAddress]:
        if host in answers:
            return [ipaddress.ip_address(address) for address in answers[host]]
        return system(host, port)

    monkeypatch.setattr(outbound, "resolver", resolve)
    return answers


def test_every_address_of_a_name_must_be_allowed(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.example.test"] = ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(outbound.AddressRefused, match=r"private or reserved address \(10.0.0.7\)"):
        outbound.resolve_allowed("mixed.example.test", 443, STRICT)


def test_numeric_host_forms_are_resolved_to_the_address_they_mean() -> None:
    assert outbound.system_resolver("2130706433", 80) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(outbound.AddressRefused):
        outbound.resolve_allowed("0x7f000001", 80, STRICT)


def test_the_private_allowance_admits_every_address(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["ollama.internal"] = ["10.0.0.7"]
    policy = outbound.AddressPolicy(allow_private=True)
    assert outbound.resolve_allowed("ollama.internal", 11434, policy) == [ipaddress.ip_address("10.0.0.7")]


def test_a_name_without_an_answer_is_not_resolved() -> None:
    with pytest.raises(outbound.HostNotResolved, match="could not be resolved"):
        outbound.resolve_allowed("nothing.invalid", 80, STRICT)


# --- the transports --------------------------------------------------------------------------------

SERVED: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
REQUESTS: list[str] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        status, headers, body, drip = SERVED.get(self.path, (404, {}, b"missing", 0.0))
        self.send_response(status)
        if drip:  # one byte at a time, a little slower than the client's deadline allows overall
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not drip:
            self.wfile.write(body)
            return
        try:
            for byte in body:
                self.wfile.write(b"1\r\n" + bytes([byte]) + b"\r\n")
                time.sleep(drip)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[int]:
    SERVED.clear()
    REQUESTS.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def client(
    policy: outbound.AddressPolicy | None, *, max_bytes: int = 10_000, seconds: float = 5.0
) -> httpx2.Client:
    transport = outbound.GuardedTransport(
        policy=policy,
        limits=outbound.ResponseLimits(max_bytes=max_bytes, seconds=seconds),
        refuse_redirects=True,
    )
    return httpx2.Client(transport=transport, follow_redirects=False)


def async_client(policy: outbound.AddressPolicy | None, *, max_bytes: int = 10_000) -> httpx2.AsyncClient:
    transport = outbound.GuardedAsyncTransport(
        policy=policy, limits=outbound.ResponseLimits(max_bytes=max_bytes, seconds=5.0), refuse_redirects=True
    )
    return httpx2.AsyncClient(transport=transport, follow_redirects=False)


def test_a_name_that_resolves_to_loopback_is_refused_before_any_connection(
    site: int, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["public.example.test"] = ["127.0.0.1"]
    SERVED["/"] = (200, {}, b"internal", 0.0)

    with client(STRICT) as http, pytest.raises(outbound.AddressRefused):
        http.get(f"http://public.example.test:{site}/")
    assert REQUESTS == []
    with client(LOOPBACK_ALLOWED) as http:  # the control: the name does lead to the server
        assert http.get(f"http://public.example.test:{site}/").content == b"internal"


@pytest.mark.anyio
async def test_the_async_transport_checks_at_connect_time_too(
    site: int, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["public.example.test"] = ["93.184.215.14"]
    assert outbound.resolve_allowed("public.example.test", site, STRICT)  # what a check at save time sees
    fake_dns["public.example.test"] = ["::ffff:127.0.0.1"]

    async with async_client(STRICT) as http:
        with pytest.raises(outbound.AddressRefused, match="private or reserved"):
            await http.get(f"http://public.example.test:{site}/")
    assert REQUESTS == []


def test_a_redirect_is_refused_not_followed(site: int) -> None:
    SERVED["/moved"] = (302, {"Location": f"http://127.0.0.1:{site}/inside"}, b"", 0.0)

    with client(LOOPBACK_ALLOWED) as http, pytest.raises(outbound.RedirectRefused, match="HTTP 302"):
        http.get(f"http://127.0.0.1:{site}/moved")
    assert REQUESTS == ["/moved"]


@pytest.mark.anyio
async def test_a_body_over_the_cap_is_cut_while_it_streams_in(site: int) -> None:
    SERVED["/declared"] = (200, {}, b"x" * 20_000, 0.0)
    SERVED["/chunked"] = (200, {}, b"y" * 300, 0.001)

    with client(LOOPBACK_ALLOWED) as http, pytest.raises(outbound.ResponseLimitExceeded) as declared:
        http.get(f"http://127.0.0.1:{site}/declared")
    assert (declared.value.kind, declared.value.message) == (
        "size",
        "The answer was larger than 10,000 bytes; it was cut off.",
    )
    async with async_client(LOOPBACK_ALLOWED, max_bytes=100) as http:
        with pytest.raises(outbound.ResponseLimitExceeded) as streamed:
            await http.get(f"http://127.0.0.1:{site}/chunked")
    assert streamed.value.kind == "size"


@pytest.mark.anyio
async def test_a_caller_sets_the_caps_of_its_own_requests(site: int) -> None:
    SERVED["/page"] = (200, {}, b"z" * 500, 0.0)
    limits = outbound.ResponseLimits(max_bytes=100, seconds=5, too_large="That page is too long for us.")

    async with async_client(LOOPBACK_ALLOWED) as http:
        assert len((await http.get(f"http://127.0.0.1:{site}/page")).content) == 500
        with (
            outbound.response_limits(limits),
            pytest.raises(outbound.ResponseLimitExceeded, match="too long for us"),
        ):
            await http.get(f"http://127.0.0.1:{site}/page")


def test_a_body_that_drips_past_the_deadline_is_cut(site: int) -> None:
    SERVED["/slow"] = (200, {}, b"s" * 200, 0.01)

    with client(LOOPBACK_ALLOWED, seconds=0.3) as http, pytest.raises(outbound.ResponseLimitExceeded) as slow:
        http.get(f"http://127.0.0.1:{site}/slow")
    assert (slow.value.kind, slow.value.message) == (
        "time",
        "The answer took longer than 0.3 seconds; it was cut off.",
    )
