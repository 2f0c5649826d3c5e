"""Benchmark the embeddable chat widget in a real browser: its size, how fast it opens, what it costs the
page it is pasted into, and whether it moves anything on that page. One run, side by side.

    .venv/bin/python bench/widget.py            # full run: 20 of each kind of page (~3 minutes)
    .venv/bin/python bench/widget.py --quick    # a short check of the script (3 of each, < 1 minute)
    .venv/bin/python bench/widget.py --pages 40 # more pages of each kind

It measures issue 6's acceptance for ``static/widget/loader.js`` (served as ``/widget.js``) and
``static/widget/panel.js`` (a hashed static file, loaded on first open), as they are when it runs:

1. sizes: ``/widget.js`` as served, gzipped (bytes on the wire with ``Accept-Encoding: gzip``) and raw,
   against the loader's budget of 4096 bytes gzipped (PASS/FAIL); the panel raw, as WhiteNoise's
   precompressed ``.gz`` (gzip -9) and as it comes over the wire.
2. launcher click → panel shown, cold (first open: the panel script is fetched) and warm (second open
   in the same page), p50/p95 over fresh pages.
3. main-thread time the widget adds to a host page (CDP ``Performance.getMetrics``: ThreadTime, the main
   thread's CPU time, which load from other processes barely moves; TaskDuration, ScriptDuration,
   LayoutDuration, RecalcStyleDuration, wall time), the same page with and without the snippet,
   interleaved, read once the page settled (1 s after the load event, and with the snippet 0.4 s after
   the widget's config fetch ended).
   The same host page also loads with the snippet as ``defer`` (as the Install page gave it before issue
   14), in the same interleaved run: ``DOMContentLoaded`` without the snippet, with ``defer`` (before)
   and with ``async`` (after), PASS/FAIL against "async within 10 ms of without, p50".
4. layout shift caused (``layout-shift`` PerformanceObserver, buffered) through the launcher's
   appearance and an open/close of the panel, on a desktop and a phone-sized viewport: must be 0
   (PASS/FAIL).

Set-up, with bench/harness.py's helpers (Django set-up, scratch database, uvicorn as in production):

- ``collectstatic`` into a private temporary ``STATIC_ROOT`` (so the run serves exactly the files it
  measures, and does not touch ``var/static`` that other test runs are serving from);
- a scratch database ``bench_widget`` (created, migrated, dropped at the end; ``--keep`` leaves it), a
  tenant and one published bot whose ``allowed_origins`` lists the host page's origin;
- Groundwork under ``uvicorn config.asgi:application`` (1 worker, ``DEBUG=false`` so the panel path is
  hashed and WhiteNoise serves the ``.gz``), its own Redis database (15) so its rate-limit counters for
  127.0.0.1 are not shared with other test runs on this machine, the widget read/session rates raised;
- the "tenant's website": a ``ThreadingHTTPServer`` in this process on another port (another origin),
  serving one realistic page (text, no images, ~4 KB of CSS) with and without the one-line snippet;
- Debian's chromium (``/usr/bin/chromium``) headless through Playwright's sync API, a fresh browser
  context (empty cache) for every page.

Everything it starts (the server, the host page server, the browser, the temporary files and the
database) is stopped or removed on exit, on Ctrl-C, on SIGTERM and on errors. Nothing needs the internet.
Output is Markdown; results are in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, beside this file
import harness
from harness import fmt, load_average, p50, p95

# Playwright's sync API keeps an event loop on this thread; the ORM calls here are plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
harness.setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from bots import services as bot_services  # noqa: E402
from providers import services as provider_services  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from tenants.models import Role  # noqa: E402

ROOT = harness.ROOT
DATABASE = "bench_widget"
QUEUE = f"bench-widget-{os.getpid()}"  # nothing should be enqueued; if something is, no worker takes it
# The bot needs a chat model with a credential; no model is called here.
CHAT_MODEL = "openai:gpt-4o-mini"
PROVIDER_KEY = "sk-bench-widget-0123456789abcdef"
REDIS_DATABASE = 15
LOADER_BUDGET = 4096  # bytes, gzipped (issue 6)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As the brief and the e2e suite start it; the last four keep it off the network entirely.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SETTLE_MS = 1000  # after the load event, on both kinds of host page, before the metrics are read
REVEAL_MS = 400  # after the widget's config fetch ended, with the snippet (its fade-in is 0.2 s)
TIMEOUT_MS = 20_000
METRICS = (
    "ThreadTime",
    "TaskDuration",
    "ScriptDuration",
    "V8CompileDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "DevToolsCommandDuration",
)

# --- the tenant's website -------------------------------------------------------------------------------

HOST_CSS = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;scroll-behavior:smooth}
body{margin:0;font-family:"Source Serif Pro",Georgia,"Times New Roman",serif;font-size:18px;line-height:1.65;
  color:#1f2328;background:#fbfaf7}
a{color:#0b5cad;text-decoration-thickness:1px;text-underline-offset:2px}
a:hover{color:#083f78}
.skip{position:absolute;left:-9999px}
.skip:focus{left:12px;top:12px;background:#fff;padding:8px 12px;z-index:10}
.site-header{position:sticky;top:0;z-index:5;display:flex;align-items:center;justify-content:space-between;
  gap:24px;padding:14px 40px;background:#14213d;color:#f5f3ee;box-shadow:0 1px 0 rgba(0,0,0,.2)}
.brand{font:700 20px/1 system-ui,sans-serif;letter-spacing:.06em;color:inherit;text-decoration:none}
.site-nav ul{display:flex;gap:22px;margin:0;padding:0;list-style:none}
.site-nav a{font:500 14px/1 system-ui,sans-serif;color:#dcd8cf;text-decoration:none;padding:6px 0;
  border-bottom:2px solid transparent}
.site-nav a:hover,.site-nav a[aria-current]{color:#fff;border-bottom-color:#fca311}
.search{display:flex;align-items:center;gap:8px}
.search input{width:220px;padding:8px 12px;border:1px solid #3b4a6b;border-radius:6px;background:#1d2d50;
  color:#fff;font:14px system-ui,sans-serif}
.search button,.button{display:inline-flex;align-items:center;gap:6px;padding:8px 14px;border:0;
  border-radius:6px;background:#fca311;color:#14213d;font:600 14px/1.2 system-ui,sans-serif;cursor:pointer}
.button.secondary{background:transparent;color:#14213d;box-shadow:inset 0 0 0 1px #c9c4b8}
.breadcrumbs{max-width:1120px;margin:0 auto;padding:18px 40px 0;font:13px system-ui,sans-serif;color:#6b6760}
.breadcrumbs a{color:inherit}
.layout{max-width:1120px;margin:0 auto;padding:24px 40px 64px;display:grid;
  grid-template-columns:minmax(0,1fr) 280px;gap:56px}
article h1{font-size:42px;line-height:1.15;margin:8px 0 12px;letter-spacing:-.01em}
article .standfirst{font-size:21px;color:#4a4740;margin:0 0 28px}
article h2{font:700 24px/1.3 system-ui,sans-serif;margin:40px 0 10px}
article h3{font:600 19px/1.35 system-ui,sans-serif;margin:28px 0 8px}
article p{margin:0 0 18px}
article ul,article ol{padding-left:24px;margin:0 0 18px}
article li{margin:4px 0}
article blockquote{margin:24px 0;padding:4px 20px;border-left:4px solid #fca311;color:#4a4740;
  font-style:italic}
article code{font:15px ui-monospace,SFMono-Regular,Menlo,monospace;background:#efece4;padding:1px 5px;
  border-radius:4px}
.note{margin:24px 0;padding:16px 20px;border-radius:8px;background:#eef4fb;border:1px solid #c9dcf2;
  font:15px/1.55 system-ui,sans-serif}
.note strong{display:block;margin-bottom:4px}
table{width:100%;border-collapse:collapse;margin:0 0 24px;font:15px/1.45 system-ui,sans-serif}
th,td{padding:10px 12px;border-bottom:1px solid #e2ded4;text-align:left;vertical-align:top}
th{background:#f3f0e8;font-weight:600}
tbody tr:nth-child(even){background:#faf8f3}
.meta{display:flex;gap:16px;flex-wrap:wrap;font:13px system-ui,sans-serif;color:#6b6760;margin-bottom:20px}
aside{font:15px/1.55 system-ui,sans-serif}
aside section{padding:18px 20px;border:1px solid #e2ded4;border-radius:10px;background:#fff;
  margin-bottom:20px}
aside h2{font-size:15px;text-transform:uppercase;letter-spacing:.08em;color:#6b6760;margin:0 0 10px}
aside ul{list-style:none;margin:0;padding:0}
aside li+li{margin-top:8px}
.toc a{text-decoration:none}.toc a:hover{text-decoration:underline}
.feedback{display:flex;gap:8px;margin-top:10px}
.site-footer{background:#14213d;color:#c9c4b8;font:14px/1.6 system-ui,sans-serif}
.site-footer .inner{max-width:1120px;margin:0 auto;padding:40px;display:grid;
  grid-template-columns:repeat(4,1fr);gap:32px}
.site-footer h2{font-size:14px;color:#fff;margin:0 0 10px}
.site-footer ul{list-style:none;margin:0;padding:0}
.site-footer a{color:#c9c4b8;text-decoration:none}
.site-footer .legal{border-top:1px solid #2b3b5e;padding:16px 40px;text-align:center;font-size:12px}
@media (max-width:900px){.layout{grid-template-columns:1fr;gap:32px}.site-footer .inner{grid-template-columns:
  repeat(2,1fr)}.search input{width:140px}}
@media (max-width:600px){.site-header{padding:12px 16px}.site-nav,.search{display:none}.layout,.breadcrumbs{
  padding-left:18px;padding-right:18px}article h1{font-size:32px}body{font-size:17px}}
@media print{.site-header,.site-footer,aside{display:none}.layout{display:block}}
"""

PARAGRAPHS = (
    "Most orders leave our warehouse in Leeds on the working day they are placed, as long as they arrive "
    "before two in the afternoon. Orders placed later, at weekends or on bank holidays go out on the next "
    "working day, and the confirmation email always says which day that will be.",
    "Standard delivery takes two to four working days within the United Kingdom and five to eight to the "
    "rest of Europe. Express delivery is available at checkout for orders placed before noon and arrives the "
    "next working day almost everywhere on the mainland; the Highlands and islands can take a day longer.",
    "As soon as the parcel is handed to the courier you receive a tracking link. It can take up to a day for "
    "the first scan to appear, so a link that shows nothing in the first hours is not a sign that anything "
    "has gone wrong. If nothing has changed after three working days, write to us and we will chase it.",
    "You can return anything unused within thirty days of delivery. Start the return from the Orders page "
    "of your account, choose the items and the reason, and print the prepaid label. Returns from outside the "
    "United Kingdom are sent at your own cost, and we recommend a tracked service for anything valuable.",
    "Refunds go back to the card or account you paid with, within five working days of the parcel reaching "
    "us. Your bank may take a few more days to show the money. Gift cards are refunded as a new gift card "
    "code, sent to the email address on the order.",
    "If something arrives damaged or stops working within its warranty, ask for a return authorisation "
    "before sending it back. A short video of the fault helps us decide quickly whether a replacement part "
    "or a new unit is the better fix, and often saves you a trip to the post office.",
)


def host_page(snippet: str) -> bytes:
    """A help-centre article on a tenant's website, with or without the snippet (the last line)."""
    sections = []
    titles = (
        "When will my order ship?",
        "Delivery times",
        "Tracking your parcel",
        "Returns",
        "Refunds",
        "Faulty items",
    )
    for number, (title, text) in enumerate(zip(titles, PARAGRAPHS, strict=True)):
        extra = PARAGRAPHS[(number + 2) % len(PARAGRAPHS)]
        sections.append(f'<h2 id="s{number}">{title}</h2>\n<p>{text}</p>\n<p>{extra}</p>')
        if number == 1:
            sections.append(
                "<table><thead><tr><th>Destination</th><th>Standard</th><th>Express</th></tr></thead><tbody>"
                "<tr><td>United Kingdom</td><td>2-4 working days</td><td>Next working day</td></tr>"
                "<tr><td>European Union</td><td>5-8 working days</td><td>2-3 working days</td></tr>"
                "<tr><td>Switzerland, Norway</td><td>6-9 working days</td><td>3-4 working days</td></tr>"
                "<tr><td>United States, Canada</td><td>7-12 working days</td><td>4-5 working days</td></tr>"
                "</tbody></table>"
            )
        if number == 3:
            sections.append(
                '<div class="note"><strong>Good to know</strong>Keep the label\'s receipt until the refund '
                "arrives: it is your proof that the parcel was sent.</div>"
            )
    toc = "".join(f'<li><a href="#s{n}">{t}</a></li>' for n, t in enumerate(titles))
    links = "".join(f'<li><a href="#">{word}</a></li>' for word in ("About", "Careers", "Press", "Stores"))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shipping, returns and refunds - Northwind Help Centre</title>
<style>{HOST_CSS}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site-header"><a class="brand" href="#">NORTHWIND</a>
<nav class="site-nav" aria-label="Main"><ul><li><a href="#">Shop</a></li><li><a href="#">Outdoor</a></li>
<li><a href="#" aria-current="page">Help</a></li><li><a href="#">Stores</a></li></ul></nav>
<form class="search" role="search"><input type="search" placeholder="Search help" aria-label="Search help">
<button type="button">Search</button></form></header>
<p class="breadcrumbs"><a href="#">Help centre</a> / <a href="#">Orders</a> / Shipping and returns</p>
<div class="layout">
<article id="main">
<h1>Shipping, returns and refunds</h1>
<p class="standfirst">Everything about getting your order to you, and back to us if it is not right.</p>
<div class="meta"><span>Updated 3 March</span><span>6 minute read</span><span>Orders and delivery</span></div>
{chr(10).join(sections)}
<blockquote>We repair boots and jackets for free for as long as you own them.</blockquote>
<p>Still stuck? Our team answers email within one working day, and the chat at the bottom of this page
answers straight away from these articles.</p>
</article>
<aside><section class="toc"><h2>On this page</h2><ul>{toc}</ul></section>
<section><h2>Was this helpful?</h2><div class="feedback"><button class="button" type="button">Yes</button>
<button class="button secondary" type="button">No</button></div></section></aside>
</div>
<footer class="site-footer"><div class="inner">
<div><h2>Company</h2><ul>{links}</ul></div><div><h2>Help</h2><ul>{links}</ul></div>
<div><h2>Legal</h2><ul>{links}</ul></div><div><h2>Follow</h2><ul>{links}</ul></div></div>
<p class="legal">Northwind Outfitters Ltd, Leeds. Registered in England and Wales.</p></footer>
{snippet}
</body>
</html>
""".encode()


@dataclass
class HostSite:
    server: ThreadingHTTPServer
    thread: threading.Thread
    pages: dict[str, bytes] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_host_site() -> HostSite:
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="host-site", daemon=True)
    thread.start()
    return HostSite(server, thread, pages)


# --- set-up ---------------------------------------------------------------------------------------------


def collect_static(static_root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env={**os.environ, "STATIC_ROOT": str(static_root), "DEBUG": "false"},
        check=True,
    )
    return time.perf_counter() - started


def make_bot(host_origin: str) -> str:
    """A tenant with one published bot allowed on the host site; its publishable key."""
    owner = get_user_model().objects.create_user(
        email="bench-widget@example.test", password=os.urandom(16).hex()
    )
    tenant = tenant_services.tenant_create(name="Bench widget", owner=owner)
    # Publishing needs a verified address (issue 13): as create_tenant marks its owners.
    owner = tenant_services.user_mark_email_verified(user=owner, via="command")
    actor = Actor(tenant=tenant, role=Role.OWNER, user=owner)
    provider_services.credential_create(actor=actor, provider="openai", name="OpenAI", api_key=PROVIDER_KEY)
    provider_services.model_settings_update(actor=actor, enabled_models=[CHAT_MODEL])
    bot = bot_services.bot_create(
        actor=actor,
        name="Northwind help",
        chat_model=CHAT_MODEL,
        suggested_questions=["When will my order ship?", "How do I return an item?", "Where is my refund?"],
        widget_color="#14213d",
    )
    bot = bot_services.bot_update(
        actor=actor, bot_id=bot.pk, status="published", allowed_origins=[host_origin]
    )
    return bot.publishable_key


def server_environment(static_root: Path) -> dict[str, str]:
    redis = urlsplit(settings.REDIS_URL)
    return {
        # No model is called here; the web server's environment wants a model server's URL: a closed port.
        **harness.web_server_environment(queue=QUEUE, openai_base_url="http://127.0.0.1:9"),
        "DEBUG": "false",
        "STATIC_ROOT": str(static_root),
        "REDIS_URL": urlunsplit(redis._replace(path=f"/{REDIS_DATABASE}")),
        "WIDGET_READ_RATE_PER_IP": "1000000/minute",
        "WIDGET_SESSION_RATE_PER_IP": "1000000/minute",
    }


# --- sizes ----------------------------------------------------------------------------------------------


@dataclass
class Sizes:
    loader_source: int
    loader_raw: int
    loader_wire_gzip: int
    loader_encoding: str
    loader_sha: str
    panel_path: str
    panel_source: int
    panel_raw: int
    panel_gz_file: int
    panel_gzip9: int
    panel_wire_gzip: int
    panel_encoding: str
    panel_sha: str


def fetch(url: str, *, gzip_ok: bool) -> tuple[bytes, dict[str, str]]:
    headers = {"Accept-Encoding": "gzip"} if gzip_ok else {"Accept-Encoding": "identity"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 -- http://127.0.0.1
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.read(), {key.lower(): value for key, value in response.headers.items()}


def measure_sizes(server_url: str, static_root: Path) -> Sizes:
    loader_gz, loader_headers = fetch(f"{server_url}/widget.js", gzip_ok=True)
    loader_raw, _ = fetch(f"{server_url}/widget.js", gzip_ok=False)
    if loader_headers.get("content-encoding") == "gzip" and gzip.decompress(loader_gz) != loader_raw:
        raise RuntimeError("/widget.js gzipped and raw differ")
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["widget/panel.js"]
    panel_url = f"{server_url}{settings.STATIC_URL}{hashed}"
    if f"{settings.STATIC_URL}{hashed}".encode() not in loader_raw:
        raise RuntimeError(f"/widget.js does not name the collected panel {hashed}")
    panel_wire, panel_headers = fetch(panel_url, gzip_ok=True)
    panel_raw, _ = fetch(panel_url, gzip_ok=False)
    panel_file = (static_root / hashed).read_bytes()
    if panel_raw != panel_file:
        raise RuntimeError("the served panel differs from the collected file")
    gz_file = static_root / f"{hashed}.gz"
    return Sizes(
        loader_source=(ROOT / "static" / "widget" / "loader.js").stat().st_size,
        loader_raw=len(loader_raw),
        loader_wire_gzip=len(loader_gz),
        loader_encoding=loader_headers.get("content-encoding", "identity"),
        loader_sha=hashlib.sha256(loader_raw).hexdigest()[:12],
        panel_path=f"{settings.STATIC_URL}{hashed}",
        panel_source=(ROOT / "static" / "widget" / "panel.js").stat().st_size,
        panel_raw=len(panel_raw),
        panel_gz_file=gz_file.stat().st_size if gz_file.exists() else 0,
        panel_gzip9=len(gzip.compress(panel_raw, compresslevel=9, mtime=0)),
        panel_wire_gzip=len(panel_wire),
        panel_encoding=panel_headers.get("content-encoding", "identity"),
        panel_sha=hashlib.sha256(panel_raw).hexdigest()[:12],
    )


# --- in the page ----------------------------------------------------------------------------------------

# Every page, before its own scripts: layout shifts and long tasks, buffered.
OBSERVE_JS = """
(() => {
  const bench = (window.__bench = { shifts: [], longtasks: [] });
  const where = (node) => {
    if (!node) return "?";
    const root = node.getRootNode && node.getRootNode();
    return node.nodeName + (root && root instanceof ShadowRoot ? " in " + root.host.nodeName : "");
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        bench.shifts.push({ value: e.value, time: e.startTime, input: e.hadRecentInput,
                            sources: (e.sources || []).map((s) => where(s.node)) });
      }
    }).observe({ type: "layout-shift", buffered: true });
  } catch (e) { bench.error = String(e); }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) bench.longtasks.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
  } catch (e) {}
})();
"""

LAUNCHER = ".gw-launcher, button[aria-haspopup]"
PANEL = "[role=dialog], .gw-panel"

# Both kinds of host page run this once after the load event: it returns SETTLE_MS after the load event,
# and with the widget not before REVEAL_MS after its config fetch ended (the launcher's fade-in is 0.2 s).
# It polls every 50 ms on both kinds of page, and reads nothing that flushes style or layout (DOM queries
# and resource timing only), so the waiting itself adds the same little to both.
SETTLE_JS = r"""
async ({ widget, settle, reveal, timeout }) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const navigation = () => performance.getEntriesByType("navigation")[0];
  const launcher = () => {
    const host = document.querySelector("groundwork-chat");
    return host && host.shadowRoot ? host.shadowRoot.querySelector(LAUNCHER) : null;
  };
  const configEnd = () => {
    const entry = performance.getEntriesByType("resource")
      .find((e) => e.name.includes("/public/v1/bots/") && e.responseEnd > 0);
    return entry ? entry.responseEnd : null;
  };
  const start = performance.now();
  for (;;) {
    const nav = navigation();
    const loaded = nav && nav.loadEventEnd > 0;
    const now = performance.now();
    const ready = !widget || (launcher() && configEnd() !== null && now >= configEnd() + reveal);
    if (loaded && ready && now >= nav.loadEventEnd + settle) break;
    if (now - start > timeout) {
      const state = { loaded, launcher: !!launcher(), config: configEnd() };
      throw new Error("not settled: " + JSON.stringify(state));
    }
    await sleep(50);
  }
  const nav = navigation();
  const loader = performance.getEntriesByType("resource").find((e) => /\/widget\.js(\?|$)/.test(e.name));
  return { domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, configEnd: configEnd(),
           loaderEnd: loader ? loader.responseEnd : null, waited: performance.now() - nav.loadEventEnd,
           longtasks: window.__bench.longtasks };
}
""".replace("LAUNCHER", json.dumps(LAUNCHER))

# Read after the metrics: is the launcher fully shown (it fades in once the bot's look is known)?
LAUNCHER_SHOWN_JS = """
() => {
  const host = document.querySelector("groundwork-chat");
  const launcher = host && host.shadowRoot && host.shadowRoot.querySelector(LAUNCHER);
  return !!launcher && getComputedStyle(launcher).opacity === "1"
    && getComputedStyle(launcher).visibility === "visible";
}
""".replace("LAUNCHER", json.dumps(LAUNCHER))

# Arms one timed open, then returns where to click. The result (window.__benchOpen) has, in ms on the
# page's clock: the click event's timeStamp; when its first listener ran; when the launcher said
# aria-expanded=true (MutationObserver); the first animation frame in which the panel is visible
# (requestAnimationFrame, polled every frame from the click: computed visibility visible, display not none,
# a box), and the end of that frame's rendering (a message posted from that rAF callback runs after the
# frame's style, layout and paint); the first frame at which its opacity is 1 (the fade-in done).
ARM_OPEN_JS = """
({ timeout }) => {
  const root = document.querySelector("groundwork-chat").shadowRoot;
  const launcher = root.querySelector(LAUNCHER);
  const panel = () => root.querySelector(PANEL);
  const shown = () => {
    const p = panel();
    if (!p) return false;
    const style = getComputedStyle(p);
    const box = p.getBoundingClientRect();
    return style.visibility === "visible" && style.display !== "none" && box.width > 0 && box.height > 0;
  };
  const result = {};
  window.__benchOpen = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (result.expanded === undefined && launcher.getAttribute("aria-expanded") === "true") {
        result.expanded = performance.now();
      }
    });
    observer.observe(root, { subtree: true, childList: true, attributes: true });
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error("the panel was not shown within " + timeout + " ms"));
    }, timeout);
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      result.painted = performance.now();
      requestAnimationFrame(opaque);
    };
    const frame = () => {
      if (!shown()) return requestAnimationFrame(frame);
      result.frame = performance.now();
      result.greeting = !!root.querySelector(".gw-greeting, .gw-msg");
      channel.port2.postMessage(0);
    };
    const opaque = () => {
      if (getComputedStyle(panel()).opacity !== "1") return requestAnimationFrame(opaque);
      result.opaque = performance.now();
      clearTimeout(timer);
      observer.disconnect();
      const entry = performance.getEntriesByType("resource")
        .filter((e) => e.name.includes("/widget/panel"))[0];
      if (entry) result.panelFetch = { start: entry.startTime, end: entry.responseEnd };
      resolve(result);
    };
    window.addEventListener("click", (event) => {
      result.click = event.timeStamp;
      result.listener = performance.now();
      requestAnimationFrame(frame);
    }, { capture: true, once: true });
  });
  const box = launcher.getBoundingClientRect();
  return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
}
""".replace("LAUNCHER", json.dumps(LAUNCHER)).replace("PANEL", json.dumps(PANEL))

CLOSED_JS = """
async ({ timeout }) => {
  const root = document.querySelector("groundwork-chat").shadowRoot;
  const start = performance.now();
  for (;;) {
    const p = root.querySelector(PANEL);
    if (!p || getComputedStyle(p).visibility === "hidden") break;
    if (performance.now() - start > timeout) throw new Error("the panel did not close");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
}
""".replace("PANEL", json.dumps(PANEL))


# --- the measurements -----------------------------------------------------------------------------------


@dataclass
class Results:
    # "with": the snippet as the Install page gives it (async); "defer": as it was before issue 14.
    metrics: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {"with": {}, "defer": {}, "without": {}}
    )
    late: int = 0  # with-snippet loads that needed a longer wait than the common SETTLE_MS
    not_shown: int = 0  # with-snippet loads whose launcher was not fully shown when the metrics were read
    config_end: list[float] = field(default_factory=list)  # the config fetch's responseEnd, ms
    loader_end: list[float] = field(default_factory=list)  # /widget.js's responseEnd, ms
    cold: dict[str, list[float]] = field(default_factory=dict)
    warm: dict[str, list[float]] = field(default_factory=dict)
    greeting_in_first_frame: list[bool] = field(default_factory=list)
    shifts: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)  # kind -> pages -> entries
    page_errors: list[str] = field(default_factory=list)

    def add(self, table: dict[str, list[float]], name: str, value: float) -> None:
        table.setdefault(name, []).append(value)


@contextmanager
def fresh_page(
    browser: Browser, results: Results, viewport: dict[str, int]
) -> Iterator[tuple[BrowserContext, Page]]:
    """A new browser context (empty cache, new renderer) with the observers installed."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    try:
        context.add_init_script(OBSERVE_JS)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda error: results.page_errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                results.page_errors.append(message.text) if message.type in ("error", "warning") else None
            ),
        )
        yield context, page
    finally:
        context.close()


HOST_PAGES = {"with": "/with.html", "defer": "/defer.html", "without": "/without.html"}


def host_load(
    browser: Browser, site: HostSite, results: Results, *, kind: str, record: bool
) -> dict[str, float]:
    """One load of the host page (``kind``: "with" the async snippet, the older "defer" one, or "without");
    main-thread metrics after it settled."""
    widget = kind != "without"
    with fresh_page(browser, results, DESKTOP) as (context, page):
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(f"{site.origin}{HOST_PAGES[kind]}", wait_until="load")
        settled = page.evaluate(
            SETTLE_JS, {"widget": widget, "settle": SETTLE_MS, "reveal": REVEAL_MS, "timeout": TIMEOUT_MS}
        )
        metrics = {item["name"]: item["value"] for item in cdp.send("Performance.getMetrics")["metrics"]}
        shifts = page.evaluate("() => window.__bench.shifts")
        shown = page.evaluate(LAUNCHER_SHOWN_JS) if widget else True
        cdp.detach()
    values = {name: metrics[name] * 1000 for name in METRICS}  # seconds -> ms
    values["JSHeapUsedSize"] = metrics["JSHeapUsedSize"] / 1024  # KiB
    values["LayoutCount"] = metrics["LayoutCount"]
    values["RecalcStyleCount"] = metrics["RecalcStyleCount"]
    values["domContentLoaded"] = settled["domContentLoaded"]
    values["load"] = settled["load"]
    values["longtasks"] = sum(settled["longtasks"])
    if record:
        for name, value in values.items():
            results.add(results.metrics[kind], name, value)
        label = {"with": "with the snippet (async)", "defer": "with the snippet (defer)"}.get(kind, kind)
        results.shifts.setdefault(f"host page {label}, loaded", []).append(shifts)
        if kind == "with":
            results.config_end.append(settled["configEnd"])
            results.loader_end.append(settled["loaderEnd"])
            results.late += settled["waited"] > SETTLE_MS + 100
            results.not_shown += not shown
    return values


def timed_open(page: Page) -> dict[str, Any]:
    where = page.evaluate(ARM_OPEN_JS, {"timeout": TIMEOUT_MS})
    page.mouse.click(where["x"], where["y"])
    return page.evaluate("() => window.__benchOpen")


def close_panel(page: Page) -> None:
    """Click the panel's own close button (on a phone the panel covers the launcher) and wait for the
    close transition to end."""
    box = page.evaluate(
        """(panel) => {
          const root = document.querySelector("groundwork-chat").shadowRoot;
          const button = root.querySelector(panel)
            .querySelector('button[aria-label="Close chat"], button[aria-label^="Close"]');
          const b = button.getBoundingClientRect();
          return { x: b.left + b.width / 2, y: b.top + b.height / 2 };
        }""",
        PANEL,
    )
    page.mouse.click(box["x"], box["y"])
    page.evaluate(CLOSED_JS, {"timeout": TIMEOUT_MS})


def open_page(
    browser: Browser, site: HostSite, results: Results, *, record: bool, viewport: dict[str, int]
) -> None:
    """A fresh page with the snippet: cold open, close, warm open, close; layout shifts through all of it."""
    phone = viewport is PHONE
    with fresh_page(browser, results, viewport) as (_, page):
        page.goto(f"{site.origin}/with.html", wait_until="load")
        page.evaluate(SETTLE_JS, {"widget": True, "settle": 300, "reveal": REVEAL_MS, "timeout": TIMEOUT_MS})
        cold = timed_open(page)
        close_panel(page)
        warm = timed_open(page)
        close_panel(page)
        page.wait_for_timeout(300)
        shifts = page.evaluate("() => window.__bench.shifts")
    if not record:
        return
    name = "phone (390x844)" if phone else "desktop (1280x860)"
    results.shifts.setdefault(f"with the snippet, {name}: launcher, open, close, open, close", []).append(
        shifts
    )
    if phone:
        return  # the phone pages are for layout shift only; timings are the desktop's
    for table, sample in ((results.cold, cold), (results.warm, warm)):
        results.add(table, "first frame with the panel shown (rendered)", sample["painted"] - sample["click"])
        results.add(table, "fade-in finished (opacity 1)", sample["opaque"] - sample["click"])
        results.add(table, "click event → its first listener", sample["listener"] - sample["click"])
        results.add(table, "launcher aria-expanded=true (DOM)", sample["expanded"] - sample["click"])
        if table is results.cold and "panelFetch" in sample:
            results.add(
                table, "panel.js fetched (responseEnd)", sample["panelFetch"]["end"] - sample["click"]
            )
    results.greeting_in_first_frame.append(bool(cold["greeting"]))


# --- report ---------------------------------------------------------------------------------------------


def machine() -> str:
    model = harness.cpu_model(unknown="?")
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores ({model}), {memory} RAM, {platform.system()} {platform.release()}"


def versions(browser_version: str) -> str:
    python_and_packages = harness.versions(("django", "uvicorn", "whitenoise", "playwright"))
    return f"{python_and_packages}; Chromium {browser_version} (`{CHROMIUM}`, headless)"


def report_sizes(sizes: Sizes) -> list[str]:
    verdict = "PASS" if sizes.loader_wire_gzip <= LOADER_BUDGET else "FAIL"
    return [
        "| file | raw bytes | gzipped bytes | how the gzipped figure is taken |",
        "| --- | --- | --- | --- |",
        f"| `/widget.js` (loader, as served; source file {sizes.loader_source:,} B) | {sizes.loader_raw:,}"
        f" | **{sizes.loader_wire_gzip:,}** | response body with `Accept-Encoding: gzip`"
        f" (`Content-Encoding: {sizes.loader_encoding}`) |",
        f"| `{sizes.panel_path}` (panel) | {sizes.panel_raw:,} | {sizes.panel_gz_file:,}"
        f" | WhiteNoise's precompressed `.gz` (gzip -9; recomputed here: {sizes.panel_gzip9:,});"
        f" on the wire {sizes.panel_wire_gzip:,} (`Content-Encoding: {sizes.panel_encoding}`) |",
        "",
        f"**Loader budget (≤ {LOADER_BUDGET:,} bytes gzipped): {verdict}** — {sizes.loader_wire_gzip:,} bytes"
        f" ({sizes.loader_wire_gzip - LOADER_BUDGET:+,} against the budget).",
        f"Measured files: loader sha256 {sizes.loader_sha}… (as served), panel sha256 {sizes.panel_sha}….",
    ]


def report_opens(results: Results) -> list[str]:
    lines = [
        "| from the click (trusted mouse click, its event timeStamp) to | cold p50 ms | cold p95 ms"
        " | warm p50 ms | warm p95 ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = list(results.cold)
    for name in names:
        cold = results.cold.get(name, [])
        warm = results.warm.get(name, [])
        bold = "**" if name.startswith("first frame") else ""
        cells = [
            f"{bold}{fmt(p50(values))}{bold} | {bold}{fmt(p95(values))}{bold}" if values else "- | -"
            for values in (cold, warm)
        ]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    shown = sum(results.greeting_in_first_frame)
    lines.append("")
    lines.append(
        f"n = {len(results.cold.get(names[0], []))} fresh pages (cold) and the second open on each (warm);"
        f" the greeting was already in the panel's first frame on {shown} of"
        f" {len(results.greeting_in_first_frame)} cold opens."
    )
    return lines


def report_main_thread(results: Results) -> list[str]:
    rows = [
        ("ThreadTime", "main thread's CPU time (ms)"),
        ("TaskDuration", "main-thread tasks, wall time (ms)"),
        ("ScriptDuration", "of which script (ms)"),
        ("V8CompileDuration", "of which script compilation (ms)"),
        ("LayoutDuration", "of which layout (ms)"),
        ("RecalcStyleDuration", "of which style recalculation (ms)"),
        ("DevToolsCommandDuration", "of which the benchmark's own DevTools commands (ms)"),
        ("LayoutCount", "layouts (count)"),
        ("RecalcStyleCount", "style recalculations (count)"),
        ("longtasks", "long tasks ≥ 50 ms, summed (ms)"),
        ("JSHeapUsedSize", "JS heap used (KiB)"),
        ("domContentLoaded", "DOMContentLoaded end (ms after navigation start)"),
        ("load", "load event end (ms after navigation start)"),
    ]
    lines = [
        "| metric | without snippet p50 | with snippet p50 | added (difference of p50s) | ratio"
        " | added, p50 of the paired differences | without p95 | with p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, label in rows:
        without = results.metrics["without"].get(name, [])
        with_ = results.metrics["with"].get(name, [])
        if not without or not with_:
            continue
        added = p50(with_) - p50(without)
        ratio = f"{p50(with_) / p50(without):.2f}x" if p50(without) else "-"
        paired = [w - o for w, o in zip(with_, without, strict=False)]
        bold = "**" if name in ("TaskDuration", "ThreadTime") else ""
        lines.append(
            f"| {label} | {fmt(p50(without))} | {fmt(p50(with_))} | {bold}{added:+,.1f}{bold}"
            f" | {ratio} | {p50(paired):+,.1f} | {fmt(p95(without))} | {fmt(p95(with_))} |"
        )
    config = results.config_end
    loader = results.loader_end
    lines += [
        "",
        f"n = {len(results.metrics['with'].get('TaskDuration', []))} loads of each, interleaved. `/widget.js`"
        f" was downloaded {fmt(p50(loader))} ms after navigation start (p50; p95 {fmt(p95(loader))}"
        f" ms), the widget's config fetch ended {fmt(p50(config))} ms after navigation start (p50; p95"
        f" {fmt(p95(config))} ms); {results.late} with-snippet loads needed longer than the common wait"
        f" ({SETTLE_MS} ms after the load event); the launcher was not fully shown when the metrics were"
        f" read on {results.not_shown}.",
    ]
    return lines


def report_dom_content_loaded(results: Results) -> list[str]:
    """The host page's DOMContentLoaded and load with the snippet as ``defer`` (before) and ``async``
    (after), against the page without it, from the same interleaved run."""
    without = results.metrics["without"]
    lines = [
        "| event (ms after navigation start) | without snippet p50 | defer p50 (before) | async p50 (after)"
        " | added by defer | added by async | without p95 | defer p95 | async p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdict = "-"
    for name, label in (("domContentLoaded", "DOMContentLoaded end"), ("load", "load event end")):
        base, defer = without.get(name, []), results.metrics["defer"].get(name, [])
        async_ = results.metrics["with"].get(name, [])
        if not base or not defer or not async_:
            continue
        added_defer, added_async = p50(defer) - p50(base), p50(async_) - p50(base)
        if name == "domContentLoaded":
            verdict = "PASS" if added_async <= 10 else "FAIL"
        lines.append(
            f"| {label} | {fmt(p50(base))} | {fmt(p50(defer))} | {fmt(p50(async_))} | {added_defer:+,.1f}"
            f" | **{added_async:+,.1f}** | {fmt(p95(base))} | {fmt(p95(defer))} | {fmt(p95(async_))} |"
        )
    lines += [
        "",
        f"**DOMContentLoaded with the async snippet within 10 ms of the page without it (p50): {verdict}**",
    ]
    return lines


def report_shifts(results: Results) -> tuple[list[str], bool]:
    lines = [
        "| pages | n | layout-shift entries | sum of all values | CLS (without hadRecentInput) | largest |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    passed = True
    details: list[str] = []
    for kind, pages in results.shifts.items():
        entries = [entry for page in pages for entry in page]
        total = sum(entry["value"] for entry in entries)
        cls = sum(entry["value"] for entry in entries if not entry["input"])
        largest = max((entry["value"] for entry in entries), default=0.0)
        if "with the snippet" in kind and total > 0:
            passed = False
        lines.append(f"| {kind} | {len(pages)} | {len(entries)} | {total:.4f} | {cls:.4f} | {largest:.4f} |")
        for entry in entries[:5]:
            details.append(
                f"- {kind}: {entry['value']:.4f} at {entry['time']:.0f} ms, hadRecentInput={entry['input']},"
                f" sources {entry['sources']}"
            )
    verdict = "PASS" if passed else "FAIL"
    lines += ["", f"**Layout shift caused by the widget (must be 0): {verdict}**"]
    if details:
        lines += ["", *details]
    return lines, passed


# --- main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short check: 3 pages of each kind")
    parser.add_argument(
        "--pages", type=int, default=20, help="pages of each kind (default 20; 3 with --quick)"
    )
    parser.add_argument(
        "--phone-pages", type=int, default=5, help="phone-sized pages for layout shift (default 5)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and the server's log")
    args = parser.parse_args()
    if args.quick:
        args.pages, args.phone_pages = min(args.pages, 3), min(args.phone_pages, 1)

    harness.interrupt_on_signals()
    started = time.perf_counter()
    load_start = load_average()
    print(f"# widget benchmark: {args.pages} pages of each kind, {args.phone_pages} phone-sized", flush=True)
    # Undone in reverse at the end, on errors, on Ctrl-C and on SIGTERM: the server stops, the scratch
    # database goes, the host site closes, then the static files and the log (kept with --keep or when the
    # run did not finish).
    with ExitStack() as stack:
        log_dir = stack.enter_context(
            harness.log_directory("bench-widget-", keep=args.keep, what="Server log")
        )
        static_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-widget-static-")))
        collect_seconds = collect_static(static_root)
        site = start_host_site()
        stack.callback(site.close)
        stack.enter_context(harness.scratch_database(DATABASE, keep=args.keep))
        call_command("migrate", verbosity=0)
        key = make_bot(site.origin)
        server = stack.enter_context(harness.start_web_server(1, server_environment(static_root), log_dir))
        harness.wait_until_serving(server)
        connection.close()  # the server has the database to itself
        # As the Install page gives it (async), and as it gave it before issue 14 (defer).
        snippet = f'<script src="{server.url}/widget.js" data-bot="{key}" async></script>'
        site.pages["/with.html"] = host_page(snippet)
        site.pages["/defer.html"] = host_page(snippet.replace(" async>", " defer>"))
        site.pages["/without.html"] = host_page("")
        sizes = measure_sizes(server.url, static_root)
        print(
            f"  set-up: collectstatic {collect_seconds:.1f} s, server {server.url}, host site {site.origin};"
            f" load {load_average()}",
            flush=True,
        )
        results = Results()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                browser_version = browser.version
                # Untimed warm-up: the server's first requests (config, panel), the browser's first pages.
                for kind in HOST_PAGES:
                    host_load(browser, site, results, kind=kind, record=False)
                open_page(browser, site, results, record=False, viewport=DESKTOP)
                results.page_errors.clear()
                load_timed = load_average()
                kinds: list[Callable[[], None]] = [
                    lambda: host_load(browser, site, results, kind="with", record=True),
                    lambda: host_load(browser, site, results, kind="defer", record=True),
                    lambda: host_load(browser, site, results, kind="without", record=True),
                    lambda: open_page(browser, site, results, record=True, viewport=DESKTOP),
                ]
                loads = []
                for index in range(args.pages):
                    # The four kinds of page back to back, the order rotating, so load from other
                    # processes falls on all of them alike.
                    for offset in range(len(kinds)):
                        kinds[(index + offset) % len(kinds)]()
                    if index < args.phone_pages:
                        open_page(browser, site, results, record=True, viewport=PHONE)
                    if (index + 1) % max(1, args.pages // 4) == 0:
                        loads.append(load_average())
                        print(f"  {index + 1}/{args.pages} pages; load {loads[-1]}", flush=True)
            finally:
                browser.close()
        load_end = load_average()

        print()
        print("### Machine and set-up")
        print()
        print(f"- {machine()}; {versions(browser_version)}")
        print(
            f"- load average (1/5/15 min): {load_start} at the start, {load_timed} when the timed part began,"
            f" {load_end} at the end; during it: {'; '.join(loads)}"
        )
        print(
            f"- Groundwork: uvicorn, 1 worker, DEBUG=false, at {server.url}; host page: {site.origin}"
            f" ({len(site.pages['/without.html']):,} bytes of HTML, {len(HOST_CSS.encode()):,} of them CSS);"
            f" N = {args.pages} pages of each kind, {args.phone_pages} phone-sized"
        )
        print()
        print("### Sizes")
        print()
        print("\n".join(report_sizes(sizes)))
        print()
        print("### Click → panel shown (desktop viewport 1280x860)")
        print()
        print("\n".join(report_opens(results)))
        print()
        print("### DOMContentLoaded of the host page: the snippet with defer (before) and async (after)")
        print()
        print("\n".join(report_dom_content_loaded(results)))
        print()
        print("### Main-thread time added to the host page (CDP Performance.getMetrics, after settling)")
        print()
        print("\n".join(report_main_thread(results)))
        print()
        print("### Layout shift")
        print()
        shift_lines, _ = report_shifts(results)
        print("\n".join(shift_lines))
        if results.page_errors:
            print()
            print(f"Console errors and warnings on the pages: {results.page_errors[:10]}")
        print()
        print(f"Total run time: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
