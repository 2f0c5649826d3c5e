"""The crawler reads one site's HTML pages breadth-first, obeys robots.txt, and stays within its caps.

Sites are real HTTP servers on 127.0.0.1 (reachable because the tests turn FETCH_ALLOW_LOOPBACK on);
a second server on another port stands for another host. Each server records the requests it saw, so
"not fetched" is asserted from the server's side.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from knowledge.crawling import CrawledPage, CrawlReport, crawl, normalise_url
from knowledge.fetching import FetchRefused

HTML = "text/html; charset=utf-8"


class Site:
    """A web server on 127.0.0.1 serving ``pages``; every other path is a 404 (robots.txt included)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, float]] = []  # (path, monotonic time of arrival)
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, time.monotonic()))
                status, headers, body = site.pages.get(self.path, (404, {}, b"missing"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def html(self, path: str, *links: str, head: str = "", body: str = "") -> None:
        anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
        page = f"<!doctype html><html><head><title>{path}</title>{head}</head><body><h1>{path}</h1>"
        page += f"<ul>{anchors}</ul>{body}</body></html>"
        self.pages[path] = (200, {"Content-Type": HTML}, page.encode())

    def robots(self, text: str) -> None:
        self.pages["/robots.txt"] = (200, {"Content-Type": "text/plain"}, text.encode())

    def redirect(self, path: str, location: str) -> None:
        self.pages[path] = (302, {"Location": location}, b"")

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_site(settings) -> Iterator[Callable[[], Site]]:  # type: ignore[no-untyped-def]
    settings.FETCH_ALLOW_LOOPBACK = True
    settings.CRAWL_MAX_DELAY_SECONDS = 2.0
    sites: list[Site] = []

    def make() -> Site:
        sites.append(Site())
        return sites[-1]

    yield make
    for site in sites:
        site.close()


@pytest.fixture
def site(make_site: Callable[[], Site]) -> Site:
    return make_site()


def page_urls(report: CrawlReport) -> list[str]:
    return [page.url for page in report.pages]


def reasons(report: CrawlReport) -> dict[str, str]:
    return dict(report.skipped)


def test_a_path_robots_txt_disallows_is_skipped_and_never_requested(site: Site) -> None:
    # The group for GroundworkBot applies, and the catch-all group then does not.
    site.robots("User-agent: GroundworkBot\nDisallow: /private\n\nUser-agent: *\nDisallow: /public\n")
    site.html("/", "/private/secret", "/public")
    site.html("/private/secret")
    site.html("/public")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/public"]
    assert "robots.txt does not allow" in reasons(report)[f"{site.url}/private/secret"]
    assert "/private/secret" not in site.paths
    assert site.paths.count("/robots.txt") == 1
    assert report.stopped_because == ""


def test_robots_txt_disallowing_the_start_page_refuses_the_crawl(site: Site) -> None:
    site.robots("User-agent: *\nDisallow: /\n")
    site.html("/")
    with pytest.raises(
        FetchRefused, match=rf"robots.txt of 127.0.0.1:{site.port} does not allow GroundworkBot to read"
    ):
        crawl(f"{site.url}/", max_pages=10)
    assert site.paths == ["/robots.txt"]


@pytest.mark.parametrize("robots_answer", ["500", "503", "429", "redirect into the private network"])
def test_robots_txt_that_cannot_be_read_allows_nothing(site: Site, robots_answer: str) -> None:
    if robots_answer.isdigit():
        site.pages["/robots.txt"] = (int(robots_answer), {}, b"busy")
    else:
        site.redirect("/robots.txt", "http://10.0.0.1/robots.txt")
    site.html("/", "/a")
    report = crawl(f"{site.url}/", max_pages=10)
    assert report.pages == []
    assert report.stopped_because.startswith(f"robots.txt of 127.0.0.1:{site.port} could not be read")
    assert site.paths == ["/robots.txt"]  # not even the start page


@pytest.mark.parametrize("status", [404, 410, 403])
def test_a_missing_robots_txt_allows_everything(site: Site, status: int) -> None:
    site.pages["/robots.txt"] = (status, {}, b"no")
    site.html("/", "/a", "/private")
    site.html("/a")
    site.html("/private")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/a", f"{site.url}/private"]


def test_the_page_limit_ends_the_crawl(site: Site) -> None:
    site.html("/", *(f"/p{number}" for number in range(9)))
    for number in range(9):
        site.html(f"/p{number}")
    report = crawl(f"{site.url}/", max_pages=3)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/p0", f"{site.url}/p1"]
    assert report.stopped_because == "page limit reached (3 pages)"
    assert site.paths == ["/robots.txt", "/", "/p0", "/p1"]


def test_the_depth_limit_is_kept_breadth_first(site: Site) -> None:
    site.html("/", "/a")
    site.html("/a", "/b")
    site.html("/b", "/c")
    site.html("/c")
    report = crawl(f"{site.url}/", max_pages=10, max_depth=1)
    assert [(page.url, page.depth) for page in report.pages] == [(f"{site.url}/", 0), (f"{site.url}/a", 1)]
    assert "/b" not in site.paths
    assert report.stopped_because == ""


def test_the_default_depth_comes_from_settings(site: Site, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CRAWL_MAX_DEPTH = 0
    site.html("/", "/a")
    site.html("/a")
    assert page_urls(crawl(f"{site.url}/", max_pages=10)) == [f"{site.url}/"]
    assert "/a" not in site.paths


def test_links_to_other_hosts_and_schemes_are_not_followed(make_site: Callable[[], Site]) -> None:
    site, other = make_site(), make_site()
    other.html("/x")
    site.html(
        "/",
        f"{other.url}/x",  # another port is another site
        f"http://localhost:{site.port}/y",  # another host name for the same server
        f"https://127.0.0.1:{site.port}/z",  # another scheme
        "/same",
    )
    site.html("/same")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/same"]
    assert other.paths == []
    assert site.paths == ["/robots.txt", "/", "/same"]
    assert report.skipped == []


def test_fragments_and_other_spellings_of_a_page_are_fetched_once(site: Site) -> None:
    site.html(
        "/",
        "/a",
        "/a#top",
        "a",
        "./a#install",
        f"{site.url}/a",
        f"HTTP://127.0.0.1:{site.port}/a#x",
        "#main",
        "",
    )
    site.html("/a", "/", "/#main", "/a")
    report = crawl(f"{site.url}/#intro", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/a"]
    assert site.paths == ["/robots.txt", "/", "/a"]


def test_links_that_are_not_web_pages_are_not_requested(site: Site) -> None:
    site.html(
        "/",
        "mailto:help@example.com",
        "javascript:alert(1)",
        "tel:+15551234",
        "/logo.png",
        "/manual.pdf",
        "/styles/site.css?v=2",
        "/ok",
    )
    site.html("/ok")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/ok"]
    assert site.paths == ["/robots.txt", "/", "/ok"]


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTP://Example.COM:80/a#b", "http://example.com/a"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x?q=1#z", "https://example.com:8443/x?q=1"),
        ("https://user:secret@example.com/x", "https://example.com/x"),
        ("  https://example.com/padded  ", "https://example.com/padded"),
        ("mailto:help@example.com", None),
        ("javascript:alert(1)", None),
        ("tel:+15551234", None),
        ("ftp://example.com/file", None),
        ("http://example.com:99999/", None),
    ],
)
def test_urls_are_normalised(url: str, normalised: str | None) -> None:
    assert normalise_url(url) == normalised


def test_relative_links_resolve_against_the_page_url() -> None:
    assert normalise_url("../b?x=1#y", "https://example.com/docs/a/") == "https://example.com/docs/b?x=1"


def test_base_href_decides_where_relative_links_point(site: Site) -> None:
    site.html("/", "guide", head='<base href="/docs/">')
    site.html("/docs/guide")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/docs/guide"]
    assert "/guide" not in site.paths


def test_nofollow_and_noindex_are_respected(site: Site) -> None:
    site.html(
        "/",
        "/followed",
        "/meta-nofollow",
        "/noindex",
        body='<a rel="external nofollow" href="/not-followed">sponsored</a>',
    )
    site.html("/followed")
    site.html("/meta-nofollow", "/behind-meta", head='<meta name="robots" content="index, nofollow">')
    site.html("/noindex", "/behind-noindex", head='<meta name="ROBOTS" content="noindex">')
    site.html("/behind-noindex")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [
        f"{site.url}/",
        f"{site.url}/followed",
        f"{site.url}/meta-nofollow",
        f"{site.url}/behind-noindex",  # noindex alone still lets its links be followed
    ]
    assert "noindex" in reasons(report)[f"{site.url}/noindex"]
    assert "/not-followed" not in site.paths
    assert "/behind-meta" not in site.paths


def test_pages_that_are_not_html_are_skipped_with_a_reason_and_the_crawl_goes_on(site: Site) -> None:
    site.html("/", "/report", "/notes", "/untyped", "/gone", "/empty", "/last")
    site.pages["/report"] = (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\n...")
    site.pages["/notes"] = (200, {"Content-Type": "text/plain"}, b"Just some notes, no markup.")
    site.pages["/untyped"] = (200, {}, b"<!doctype html><html><body><p>No content type</p></body></html>")
    site.pages["/empty"] = (200, {"Content-Type": HTML}, b"")
    site.html("/last")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/untyped", f"{site.url}/last"]
    assert reasons(report) == {
        f"{site.url}/report": "it is not an HTML page (application/pdf)",
        f"{site.url}/notes": "it is not an HTML page (text/plain)",
        f"{site.url}/gone": "the server answered with status 404",
        f"{site.url}/empty": "the page is empty",
    }


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/admin", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"]
)
def test_a_link_redirecting_into_the_private_network_is_refused_and_the_crawl_goes_on(
    site: Site, target: str
) -> None:
    site.html("/", "/evil", "/good")
    site.redirect("/evil", target)
    site.html("/good")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/", f"{site.url}/good"]
    reason = reasons(report)[f"{site.url}/evil"]
    assert "private or reserved address" in reason or "Only http" in reason


def test_a_link_redirecting_to_another_site_is_not_kept(make_site: Callable[[], Site]) -> None:
    site, other = make_site(), make_site()
    site.html("/", "/elsewhere")
    site.redirect("/elsewhere", f"{other.url}/landing")
    other.html("/landing", "/deeper")
    report = crawl(f"{site.url}/", max_pages=10)
    assert page_urls(report) == [f"{site.url}/"]
    assert (
        reasons(report)[f"{site.url}/elsewhere"] == f"it redirects to another site (127.0.0.1:{other.port})"
    )
    assert "/deeper" not in other.paths


def test_a_redirecting_start_page_moves_the_crawl_to_its_target(make_site: Callable[[], Site]) -> None:
    site, other = make_site(), make_site()
    site.redirect("/start", f"{other.url}/")
    other.robots("User-agent: *\nDisallow: /private\n")
    other.html("/", "/a", "/private", f"{site.url}/b")
    other.html("/a")
    report = crawl(f"{site.url}/start", max_pages=10)
    assert page_urls(report) == [f"{other.url}/", f"{other.url}/a"]
    assert site.paths == ["/robots.txt", "/start"]
    assert other.paths == ["/", "/robots.txt", "/a"]  # "/" through the start page's redirect


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda site: None, "status 404"),
        (
            lambda site: site.pages.__setitem__("/", (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7")),
            r"not an HTML page \(application/pdf\)",
        ),
        (lambda site: site.redirect("/", "http://169.254.169.254/"), "private or reserved"),
    ],
)
def test_a_start_page_that_cannot_be_crawled_refuses_the_crawl(
    site: Site, setup: Callable[[Site], None], message: str
) -> None:
    setup(site)
    with pytest.raises(FetchRefused, match=message):
        crawl(f"{site.url}/", max_pages=10)


def test_broken_links_cannot_keep_the_crawl_going(site: Site) -> None:
    site.html("/", *(f"/broken{number}" for number in range(30)))
    report = crawl(f"{site.url}/", max_pages=2)
    assert page_urls(report) == [f"{site.url}/"]
    assert report.stopped_because.startswith("request limit reached (6 requests")
    assert len([path for path in site.paths if path != "/robots.txt"]) == 6


def test_crawl_delay_is_honoured_up_to_the_configured_cap(site: Site, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CRAWL_MAX_DELAY_SECONDS = 0.2
    site.robots("User-agent: *\nCrawl-delay: 30\n")
    site.html("/", "/a", "/b")
    site.html("/a")
    site.html("/b")
    started = time.monotonic()
    report = crawl(f"{site.url}/", max_pages=10)
    assert len(report.pages) == 3
    arrivals = [arrived for _, arrived in site.requests]
    assert len(arrivals) == 4
    assert all(later - earlier >= 0.2 for earlier, later in pairwise(arrivals))
    assert time.monotonic() - started < 5  # the cap, not the 30 seconds asked for


def test_the_time_limit_ends_the_crawl(site: Site, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CRAWL_MAX_DELAY_SECONDS = 0.2
    site.robots("User-agent: *\nCrawl-delay: 1\n")
    site.html("/", *(f"/p{number}" for number in range(20)))
    for number in range(20):
        site.html(f"/p{number}")
    started = time.monotonic()
    report = crawl(f"{site.url}/", max_pages=50, seconds=0.7)
    assert report.stopped_because == "time limit reached (0.7 seconds)"
    assert 1 <= len(report.pages) <= 4
    assert time.monotonic() - started < 2


def test_progress_is_reported_after_each_page(site: Site) -> None:
    site.html("/", "/a", "/b")
    site.html("/a")
    calls: list[tuple[int, int]] = []
    report = crawl(f"{site.url}/", max_pages=10, on_progress=lambda kept, seen: calls.append((kept, seen)))
    assert len(report.pages) == 2
    assert calls == [(1, 3), (2, 3), (2, 3)]  # "/", "/a", then "/b" (a 404)


def test_pages_are_spooled_to_disk_as_they_are_fetched(site: Site, tmp_path: Path) -> None:
    site.html("/", "/a", "/b")
    site.html("/a")
    site.html("/b")
    seen_on_disk: list[int] = []
    report = crawl(
        f"{site.url}/",
        max_pages=10,
        spool_directory=tmp_path,
        # By the time progress is reported, every page kept so far is a file in the spool.
        on_progress=lambda kept, seen: seen_on_disk.append(len(list(tmp_path.iterdir())) - kept),
    )
    assert seen_on_disk and set(seen_on_disk) == {0}
    assert sorted(path.name for path in tmp_path.iterdir()) == [page.path.name for page in report.pages]
    for page in report.pages:
        assert page.path.parent == tmp_path
        assert page.body == site.pages[urlsplit(page.url).path][2]
        assert page.size == len(page.body)
    # A page holds where its bytes are, not the bytes: the crawl's memory does not grow with its pages.
    assert "body" not in {field.name for field in fields(CrawledPage)}


def test_a_crawl_without_a_spool_makes_one_that_goes_with_its_report(site: Site) -> None:
    site.html("/")
    report = crawl(f"{site.url}/", max_pages=1)
    spool = report.pages[0].path.parent
    assert spool.is_dir() and report.pages[0].body.startswith(b"<!doctype html>")
    del report
    gc.collect()
    assert not spool.exists()
