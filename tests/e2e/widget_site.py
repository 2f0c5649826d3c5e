"""A tenant's website for the widget's browser tests: a plain HTTP server on another loopback port than
Groundwork's, so its pages are another origin. ``http://localhost:PORT`` and ``http://127.0.0.1:PORT`` are
the same server but two origins to a browser: a test allows one and leaves the other out."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHOP_CSS = """
  body { margin: 0; font-family: Georgia, "Times New Roman", serif; color: #1c1917; background: #faf7f2; }
  header { display: flex; align-items: center; justify-content: space-between; padding: 18px 48px;
           background: #1c1917; color: #faf7f2; }
  header strong { font-size: 22px; letter-spacing: .04em; }
  nav a { color: #e7e5e4; margin-left: 24px; text-decoration: none; font: 14px sans-serif; }
  main { max-width: 880px; margin: 0 auto; padding: 48px; }
  h1 { font-size: 44px; margin: 0 0 12px; }
  .lead { font-size: 19px; line-height: 1.6; color: #44403c; max-width: 620px; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 20px; margin-top: 36px; }
  .card { background: #fff; border: 1px solid #e7e5e4; border-radius: 6px; padding: 18px; min-height: 150px; }
  .card h2 { font-size: 18px; margin: 0 0 8px; }
  .card p { font-family: sans-serif; font-size: 14px; color: #57534e; line-height: 1.5; }
  @media (max-width: 600px) { header { padding: 14px 20px; } nav { display: none; } main { padding: 24px; }
    h1 { font-size: 32px; } .grid { grid-template-columns: 1fr; } }
"""

# What a careless (or hostile) stylesheet on a tenant's site can do to everything it reaches.
HOSTILE_CSS = """
  * { all: unset; font-size: 40px !important; color: red !important }
  button { display: none !important }
  div { display: none !important }
  :root { --gw-accent: red; --gw-on: red }
"""


def shop_page(
    *, widget_src: str, bot_key: str, css: str = SHOP_CSS, title: str = "Northwind Outfitters"
) -> bytes:
    """A shop's page with the one line a tenant pastes, exactly as the dashboard shows it."""
    snippet = f'<script src="{html.escape(widget_src)}" data-bot="{html.escape(bot_key)}" defer></script>'
    return page_with_snippet(snippet, css=css, title=title)


def page_with_snippet(snippet: str, *, css: str = SHOP_CSS, title: str = "Northwind Outfitters") -> bytes:
    """The shop's page with ``snippet`` pasted in unchanged, as a tenant pastes what they copied from the
    Install page (whatever it says: nothing here rebuilds it from its parts)."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{css}</style>
</head>
<body>
<header><strong>NORTHWIND</strong><nav><a href="#">Women</a><a href="#">Men</a><a href="#">Outdoor</a>
<a href="#">Help</a></nav></header>
<main>
<h1>Built for the trail.</h1>
<p class="lead">Waterproof shells, merino layers and boots that last a decade. Free returns within 30 days,
and a repair service for everything we sell.</p>
<div class="grid">
<div class="card"><h2>Storm shell</h2>
<p>Three-layer waterproof jacket with taped seams and pit zips.</p></div>
<div class="card"><h2>Merino base</h2>
<p>Soft, warm and odour-resistant, for cold mornings and long days.</p></div>
<div class="card"><h2>Ridge boots</h2>
<p>Resoleable leather boots with a lifetime repair promise.</p></div>
</div>
</main>
{snippet}
</body>
</html>
""".encode()


HELP_ARTICLE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Returns and refunds</title></head>
<body><main>
<h1>Returns and refunds</h1>
<p>You can return any unused item within 30 days of delivery. Start a return from your account page
and print the prepaid label.</p>
<h2>Refunds</h2>
<p>Refunds go back to the card you paid with, within 5 working days of the item reaching our
warehouse.</p>
<h2>Repairs</h2>
<p>Boots and jackets are repaired for free for their whole life; send them to our repair workshop with the
form on your account page.</p>
</main></body></html>
"""


class WidgetSite:
    """Pages by path, served from 127.0.0.1 on a port of its own; every request is recorded."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.requests.append(path)
                found = site.pages.get(path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> WidgetSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def origin(self) -> str:
        """The origin a test lists in the bot's allowed origins."""
        return f"http://localhost:{self.port}"

    @property
    def other_origin(self) -> str:
        """The same server under another origin, which no bot allows."""
        return f"http://127.0.0.1:{self.port}"

    def page(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.pages[path] = (content_type, body)
