"""Crawl a tenant's website for a knowledge base's "crawl" source, politely and within caps.

A crawl source is one URL standing for a whole help centre or documentation site. Reading it means
following links, and following links from a page we do not control is how a crawler ends up on other
people's sites, in infinite calendars, or on a server that asked not to be crawled. So:

- every request, robots.txt included, goes through ``knowledge.fetching.fetch``: the SSRF guards, the
  size cap and the time cap hold for each page and each redirect, and a link that redirects into our
  own network is refused like any other URL;
- only the site of the start page (scheme, host and port, after the start page's redirects) is
  crawled, breadth-first, to a depth, a page count, a request count and a time limit;
- robots.txt is obeyed as search engines obey it: a missing one (4xx) allows everything, one that
  cannot be read (5xx, unreachable) allows nothing, ``Crawl-delay`` spaces the requests (up to a cap),
  and ``<meta name="robots">`` and ``rel="nofollow"`` are honoured;
- only HTML pages are kept, each written to a spool directory as soon as it is fetched (``CrawledPage``
  holds its path, not its bytes), so the memory a crawl takes does not grow with its pages; anything
  else is reported in ``CrawlReport.skipped`` with a reason a person can read, and the crawl goes on.
  Only the start page's failure fails the crawl, since without it there is nothing to crawl.

Links are read with lxml, the HTML library the HTML parser already uses, and decoded the same way.

robots.txt is parsed by the standard library's ``urllib.robotparser``. It matches paths by prefix and
takes the first matching rule, so Google's extensions (``*`` and ``$`` in paths, longest match wins)
are not understood, and ``Crawl-delay`` is read only as a whole number of seconds.
"""

from __future__ import annotations

import tempfile
import time
import urllib.robotparser
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from django.conf import settings

from knowledge.fetching import USER_AGENT, FetchRefused, FetchResult, fetch
from knowledge.ingestion import IngestionError
from knowledge.ingestion.parsers.html import html_tree
from knowledge.ingestion.sniff import HTML, sniff

# The product token robots.txt rules are written for: "GroundworkBot" from "GroundworkBot/1.0 (...)".
ROBOTS_USER_AGENT = USER_AGENT.split("/", 1)[0]
ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt; ours must fit whole.
# An HTML page larger than this is a generated dump, not a help article.
PAGE_MAX_BYTES = 5 * 1024 * 1024
# Requests per page kept: a site whose links are mostly broken or not HTML still ends.
REQUESTS_PER_PAGE = 3
# robots.txt disallows can be listed for thousands of links; the report stays readable and bounded.
MAX_SKIPPED_REPORTED = 1000

_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_ROBOTS_ACCEPT = "text/plain,*/*;q=0.1"
_HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Servers that do not know what they serve say one of these; the bytes decide then.
_UNDECLARED_MEDIA_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "text/plain"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Links to these are files, not pages: requesting them would spend the request budget on downloads
# that are refused as "not HTML" anyway.
_NOT_PAGE_EXTENSIONS = frozenset(
    {
        "png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "bmp", "tif", "tiff", "avif", "heic",
        "mp3", "mp4", "m4a", "m4v", "wav", "ogg", "oga", "ogv", "webm", "mov", "avi", "mkv", "flac",
        "aac", "wmv", "wma", "zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "woff",
        "woff2", "ttf", "otf", "eot", "css", "js", "mjs", "map", "wasm", "json", "xml", "rss", "atom",
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "epub", "csv",
        "txt", "exe", "msi", "dmg", "pkg", "deb", "rpm", "apk", "iso", "bin", "jar",
    }
)  # fmt: skip


@dataclass(frozen=True)
class CrawledPage:
    url: str  # the URL after redirects, fragment removed (used as the chunk anchor)
    path: Path  # the page's bytes, spooled to disk as they arrived
    content_type: str
    depth: int
    size: int  # bytes

    @property
    def body(self) -> bytes:
        """The page's bytes, read from the spool: hold one page at a time, not the crawl."""
        return self.path.read_bytes()


@dataclass
class CrawlReport:
    pages: list[CrawledPage] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why, in words a person reads)
    stopped_because: str = ""  # "" when the site was read to the end within the caps
    # The spool the crawl made for itself when the caller gave none: removed with the report.
    own_spool: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


def normalise_url(url: str, base: str = "") -> str | None:
    """``url`` (resolved against ``base``) in one canonical form, or None when it is not an http(s) page.

    The scheme and host are lower-cased, default ports, credentials and the fragment removed, and an
    empty path becomes "/", so that the spellings of one page are fetched once.
    """
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
    except ValueError:  # an invalid port or IPv6 literal
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def crawl(
    start_url: str,
    *,
    max_pages: int,
    max_depth: int | None = None,
    seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    spool_directory: Path | None = None,
) -> CrawlReport:
    """Read the HTML pages of ``start_url``'s site, breadth-first, within the caps.

    Each page kept is written to a file in ``spool_directory`` as soon as it is fetched (a 500-page crawl
    held in memory took ~2.5 GB of a worker); ``CrawledPage.body`` reads it back. Without a directory,
    the crawl makes a temporary one that lives as long as the report.

    Raises FetchRefused, with a message a tenant can read, when the start page cannot be crawled:
    robots.txt disallows it, it cannot be fetched, or it is not an HTML page. ``on_progress`` is called
    after each page requested with the number of pages kept and of pages found so far (kept, skipped and
    still queued).
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    depth_limit = getattr(settings, "CRAWL_MAX_DEPTH", 3) if max_depth is None else max_depth
    time_limit = getattr(settings, "CRAWL_SECONDS", 300.0) if seconds is None else seconds
    own_spool = None
    if spool_directory is None:
        own_spool = tempfile.TemporaryDirectory(prefix="groundwork-crawl-")
        spool_directory = Path(own_spool.name)
    report = _Crawl(
        max_pages=max_pages,
        max_depth=max(depth_limit, 0),
        seconds=time_limit,
        max_delay=getattr(settings, "CRAWL_MAX_DELAY_SECONDS", 2.0),
        on_progress=on_progress,
        spool_directory=spool_directory,
    ).run(start_url)
    report.own_spool = own_spool
    return report


class _StopCrawl(Exception):
    """A cap ended the crawl; ``reason`` becomes ``CrawlReport.stopped_because``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Robots:
    """One origin's robots.txt rules, and the origin it was served from after its redirects."""

    parser: urllib.robotparser.RobotFileParser
    served_from: tuple[str, str]

    def allows(self, url: str) -> bool:
        return self.parser.can_fetch(ROBOTS_USER_AGENT, url)

    def delay(self, cap: float) -> float:
        """Seconds between requests: Crawl-delay, or the interval Request-rate implies, at most ``cap``."""
        delay = float(self.parser.crawl_delay(ROBOTS_USER_AGENT) or 0)
        rate = self.parser.request_rate(ROBOTS_USER_AGENT)
        if rate is not None and rate.requests > 0:
            delay = max(delay, rate.seconds / rate.requests)
        return max(0.0, min(delay, cap))


@dataclass(frozen=True)
class _Links:
    urls: list[str]
    index: bool  # False: <meta name="robots" content="noindex">, the page is not kept
    follow: bool  # False: <meta name="robots" content="nofollow">, its links are not followed


class _Crawl:
    def __init__(
        self,
        *,
        max_pages: int,
        max_depth: int,
        seconds: float,
        max_delay: float,
        on_progress: Callable[[int, int], None] | None,
        spool_directory: Path,
    ) -> None:
        self.spool_directory = spool_directory
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.seconds = seconds
        self.max_delay = max_delay
        self.on_progress = on_progress
        self.deadline = time.monotonic() + seconds
        self.max_requests = max_pages * REQUESTS_PER_PAGE
        self.requests = 0  # page requests; robots.txt is not a page
        self.links_left_out = False  # links found beyond the request budget, never queued
        self.delay = 0.0
        self.last_request_ended: float | None = None
        self.report = CrawlReport()
        self.queue: deque[tuple[str, int]] = deque()
        self.seen: set[str] = set()  # every URL queued, fetched or skipped, normalised
        self.origin: tuple[str, str] = ("", "")
        # Until robots.txt is read nothing is allowed: a parser that has read nothing allows nothing.
        self.robots = _Robots(parser=urllib.robotparser.RobotFileParser(), served_from=("", ""))

    def run(self, start_url: str) -> CrawlReport:
        start = normalise_url(start_url)
        if start is None:
            raise FetchRefused(
                f"Only http:// and https:// addresses can be crawled, not “{start_url[:200]}”.", url=start_url
            )
        try:
            robots = self._read_robots(_origin(start))
            if robots is None:
                return self.report
            self._require_allowed(robots, start)
            self.seen.add(start)
            result = self._fetch_start(start)
            final = normalise_url(result.final_url) or start
            self.origin = _origin(final)
            if self.origin not in {_origin(start), robots.served_from}:
                # The site lives elsewhere (example.com → www.example.com): its own robots.txt rules it.
                robots = self._read_robots(self.origin)
                if robots is None:
                    return self.report
                self._require_allowed(robots, final)
            self.robots = robots
            self.seen.add(final)
            self._take(result, final, depth=0)
            self._progress()
            while self.queue:
                if len(self.report.pages) >= self.max_pages:
                    raise self._page_limit()
                url, depth = self.queue.popleft()
                self._visit(url, depth)
            if self.links_left_out:
                # The queue ran dry only because links past the request budget were never queued.
                raise (
                    self._page_limit() if len(self.report.pages) >= self.max_pages else self._request_limit()
                )
        except _StopCrawl as stop:
            self.report.stopped_because = stop.reason
        return self.report

    def _read_robots(self, origin: tuple[str, str]) -> _Robots | None:
        """The origin's rules, or None (and the report says why) when robots.txt cannot be read.

        As Google does: a 4xx means the site has no rules, so everything is allowed; a 5xx or no answer
        may mean the server is struggling, and nothing is read until it answers. 429 is "too many
        requests", a server's way of asking us to go away, and is treated like a 5xx.
        """
        url = f"{origin[0]}://{origin[1]}/robots.txt"
        parser = urllib.robotparser.RobotFileParser(url)
        problem = ""
        served_from = origin
        try:
            result = self._fetch(url, max_bytes=ROBOTS_MAX_BYTES, accept=_ROBOTS_ACCEPT, page=False)
        except FetchRefused as refused:
            problem = refused.message
        else:
            served_from = _origin(normalise_url(result.final_url) or url)
            if 200 <= result.status < 300:
                text = result.body.decode("utf-8", errors="replace").removeprefix("\ufeff")
                parser.parse(text.splitlines())
            elif 400 <= result.status < 500 and result.status != 429:
                parser.parse([])  # no rules: everything is allowed
            else:
                problem = f"the server answered with status {result.status}"
        if problem:
            self.report.stopped_because = (
                f"robots.txt of {origin[1]} could not be read ({problem.rstrip('.')}); like search "
                "engines, Groundwork reads nothing from a site until its robots.txt can be read. "
                "Try again later."
            )
            return None
        robots = _Robots(parser=parser, served_from=served_from)
        self.delay = robots.delay(self.max_delay)
        return robots

    def _require_allowed(self, robots: _Robots, url: str) -> None:
        if not robots.allows(url):
            raise FetchRefused(
                f"The robots.txt of {urlsplit(url).netloc} does not allow {ROBOTS_USER_AGENT} to read {url}.",
                url=url,
            )

    def _fetch_start(self, url: str) -> FetchResult:
        result = self._fetch(url, max_bytes=PAGE_MAX_BYTES, accept=_PAGE_ACCEPT)
        problem = _page_problem(result)
        if problem:
            raise FetchRefused(f"The start page {url} cannot be crawled: {problem}.", url=url)
        return result

    def _visit(self, url: str, depth: int) -> None:
        try:
            result = self._fetch(url, max_bytes=PAGE_MAX_BYTES, accept=_PAGE_ACCEPT)
        except FetchRefused as refused:
            self._skip(url, refused.message)
        else:
            self._judge(result, url, depth)
        self._progress()

    def _judge(self, result: FetchResult, url: str, depth: int) -> None:
        final = normalise_url(result.final_url) or url
        if _origin(final) != self.origin:
            self._skip(url, f"it redirects to another site ({urlsplit(final).netloc})")
        elif final != url and not self.robots.allows(final):
            self._skip(url, f"it redirects to {final}, which robots.txt does not allow us to read")
        elif final != url and final in self.seen:
            # The target is fetched (or skipped) under its own address; once is enough.
            self._skip(url, f"it redirects to {final}, which this crawl reads once already")
        elif problem := _page_problem(result):
            self._skip(url, problem)
        else:
            self.seen.add(final)
            self._take(result, final, depth)
            return
        self.seen.add(final)

    def _take(self, result: FetchResult, url: str, depth: int) -> None:
        """Keep the page unless it asks not to be, and queue its links unless it asks not to be followed."""
        links = _links(result.body, url)
        if links.index:
            path = self.spool_directory / f"page-{len(self.report.pages) + 1:05d}.html"
            path.write_bytes(result.body)
            self.report.pages.append(
                CrawledPage(
                    url=url, path=path, content_type=result.content_type, depth=depth, size=len(result.body)
                )
            )
        else:
            self._skip(url, 'the page asks not to be indexed (<meta name="robots" content="noindex">)')
        if not links.follow or depth >= self.max_depth:
            return
        for link in links.urls:
            if link in self.seen or _origin(link) != self.origin or _extension(link) in _NOT_PAGE_EXTENSIONS:
                continue
            # Nothing beyond the request budget would ever be fetched; queueing it only costs memory.
            if len(self.queue) >= self.max_requests - self.requests:
                self.links_left_out = True
                return
            if not self.robots.allows(link):
                if self._skip(link, "robots.txt does not allow us to read this page"):
                    self.seen.add(link)
                continue
            self.seen.add(link)
            self.queue.append((link, depth + 1))

    def _fetch(self, url: str, *, max_bytes: int, accept: str, page: bool = True) -> FetchResult:
        """``fetch`` within the crawl's request budget, time limit and Crawl-delay."""
        if page and self.requests >= self.max_requests:
            raise self._request_limit()
        if self.last_request_ended is not None and self.delay:
            wait = self.last_request_ended + self.delay - time.monotonic()
            if wait > 0:
                if time.monotonic() + wait >= self.deadline:
                    raise self._time_limit()
                time.sleep(wait)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._time_limit()
        self.requests += page
        try:
            return fetch(
                url,
                max_bytes=max_bytes,
                timeout=min(float(settings.FETCH_TIMEOUT_SECONDS), remaining),
                accept=accept,
            )
        except FetchRefused:
            # A fetch cut short by the crawl's own time limit says nothing about the page.
            if time.monotonic() >= self.deadline:
                raise self._time_limit() from None
            raise
        finally:
            self.last_request_ended = time.monotonic()

    def _page_limit(self) -> _StopCrawl:
        return _StopCrawl(f"page limit reached ({self.max_pages} page{'' if self.max_pages == 1 else 's'})")

    def _request_limit(self) -> _StopCrawl:
        return _StopCrawl(f"request limit reached ({self.max_requests} requests, too few of them HTML pages)")

    def _time_limit(self) -> _StopCrawl:
        return _StopCrawl(f"time limit reached ({self.seconds:g} seconds)")

    def _skip(self, url: str, reason: str) -> bool:
        if len(self.report.skipped) >= MAX_SKIPPED_REPORTED:
            return False
        self.report.skipped.append((url, reason))
        return True

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(len(self.report.pages), len(self.seen))


def _origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a normalised URL: the unit robots.txt and the crawl's scope apply to."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _extension(url: str) -> str:
    last_segment = urlsplit(url).path.rsplit("/", 1)[-1]
    stem, dot, suffix = last_segment.rpartition(".")
    return suffix.lower() if dot and stem else ""


def _page_problem(result: FetchResult) -> str:
    """Why the fetched page is not kept, or "" for an HTML page that answered 200."""
    if result.status != 200:
        return f"the server answered with status {result.status}"
    media_type = result.content_type.split(";", 1)[0].strip().lower()
    if not result.body.strip():
        return "the page is empty"
    if media_type in _HTML_MEDIA_TYPES:
        return ""
    if media_type in _UNDECLARED_MEDIA_TYPES:
        try:
            if sniff(result.body) == HTML:
                return ""
        except IngestionError:
            pass
    return f"it is not an HTML page ({media_type or 'no content type'})"


def _links(body: bytes, page_url: str) -> _Links:
    """The page's followable links, normalised, in page order, and what its robots meta tag asks."""
    page = html_tree(body)
    if page is None:
        return _Links(urls=[], index=True, follow=True)
    directives: set[str] = set()
    for meta in page.iter("meta"):
        if (meta.get("name") or "").strip().lower() in {"robots", ROBOTS_USER_AGENT.lower()}:
            directives.update(token.strip().lower() for token in (meta.get("content") or "").split(","))
    index = not directives & {"noindex", "none"}
    follow = not directives & {"nofollow", "none"}
    base = page_url
    for element in page.iter("base"):
        href = element.get("href")
        if href:
            # Only the first <base href> counts, as in a browser, and only if it is a web address.
            base = normalise_url(href, page_url) or page_url
            break
    urls: list[str] = []
    if follow:
        for element in page.iter("a", "area"):
            href = element.get("href")
            if href is None or "nofollow" in (element.get("rel") or "").lower().split():
                continue
            url = normalise_url(href, base)
            if url is not None:
                urls.append(url)
    return _Links(urls=urls, index=index, follow=follow)
