"""The guarded fetcher refuses every way into our own network, and fetches public pages within caps."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import outbound
from knowledge.fetching import FetchRefused, check_url, fetch

PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {}
REQUESTS: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        status, headers, body = PAGES.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_site(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A web server on 127.0.0.1, reachable only because the test turns FETCH_ALLOW_LOOPBACK on."""
    settings.FETCH_ALLOW_LOOPBACK = True
    PAGES.clear()
    REQUESTS.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/admin",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/",  # and in hexadecimal
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        # IPv6 forms that carry a private IPv4 address, and the deprecated site-local range
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b:1::a00:1]/",  # local-use NAT64
        "http://[::7f00:1]/",  # IPv4-compatible
        "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
        "http://[2001:0:7f00:1::1]/",  # Teredo
        "http://[fec0::1]/",  # site-local
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match=r"private or reserved|could not be resolved"):
        fetch(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "//x"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused, match="Only http"):
        fetch(url)


def test_a_page_is_fetched_when_its_address_is_allowed(local_site: str) -> None:
    PAGES["/guide"] = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>Returns</h1>")
    result = fetch(f"{local_site}/guide")
    assert (result.status, result.body, result.content_type) == (
        200,
        b"<h1>Returns</h1>",
        "text/html; charset=utf-8",
    )


def test_loopback_stays_refused_unless_the_setting_allows_it(local_site: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.FETCH_ALLOW_LOOPBACK = False
    with pytest.raises(FetchRefused):
        fetch(f"{local_site}/guide")
    assert REQUESTS == []  # refused before any connection


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "file:///etc/passwd"]
)
def test_a_redirect_to_an_internal_address_is_refused(local_site: str, target: str) -> None:
    PAGES["/moved"] = (302, {"Location": target}, b"")
    with pytest.raises(FetchRefused):
        fetch(f"{local_site}/moved")
    assert REQUESTS == ["/moved"]


def test_redirects_are_followed_within_the_limit(local_site: str) -> None:
    PAGES["/a"] = (301, {"Location": "/b"}, b"")
    PAGES["/b"] = (302, {"Location": f"{local_site}/c"}, b"")
    PAGES["/c"] = (200, {"Content-Type": "text/plain"}, b"done")
    result = fetch(f"{local_site}/a")
    assert (result.final_url, result.body) == (f"{local_site}/c", b"done")
    for hop in range(7):
        PAGES[f"/loop{hop}"] = (302, {"Location": f"/loop{hop + 1}"}, b"")
    with pytest.raises(FetchRefused, match="redirects"):
        fetch(f"{local_site}/loop0")


def test_the_size_cap_holds_whether_or_not_the_server_declares_the_size(local_site: str) -> None:
    PAGES["/big"] = (200, {"Content-Type": "text/plain"}, b"x" * 5000)
    with pytest.raises(FetchRefused, match="limit"):
        fetch(f"{local_site}/big", max_bytes=1000)
    assert fetch(f"{local_site}/big", max_bytes=5000).body == b"x" * 5000


@pytest.mark.parametrize(
    "url", ["http://[64:ff9b::a9fe:a9fe]/latest/", "http://[::7f00:1]/", "http://[fec0::1]/"]
)
def test_embedded_private_addresses_are_refused_when_submitted(url: str) -> None:
    with pytest.raises(FetchRefused, match="private or reserved"):
        check_url(url)


def test_a_name_that_resolves_elsewhere_at_fetch_time_is_checked_again(
    local_site: str,
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Public when submitted, loopback when fetched (DNS rebinding): refused at connect time."""
    settings.FETCH_ALLOW_LOOPBACK = False
    answers = {"docs.example.test": "93.184.215.14"}
    monkeypatch.setattr(outbound, "resolver", lambda host, port: [ipaddress.ip_address(answers[host])])
    port = local_site.rsplit(":", 1)[1]
    PAGES["/guide"] = (200, {"Content-Type": "text/plain"}, b"internal")

    url = check_url(f"http://docs.example.test:{port}/guide")
    answers["docs.example.test"] = "127.0.0.1"
    with pytest.raises(FetchRefused, match=r"private or reserved address \(127.0.0.1\)"):
        fetch(url)
    assert REQUESTS == []
