"""The chat widget in a real browser, on a tenant's website: another origin than Groundwork's, served by a
plain HTTP server, embedding exactly the one line the dashboard gives out.

A visitor opens the launcher, asks, watches the answer stream in with its citation, rates it, reloads
and finds the conversation again, and leaves with the keyboard; the same page from an origin the bot
does not allow is told so; hostile text in the answer, the greeting, the suggested questions and the
documents runs nothing and loads nothing; a hostile stylesheet on the page breaks nothing; drafts, rate
limits and going offline each say what happened.

Groundwork runs here in a server of this module's own (the suite's ``running_server``), started with
the OpenAI stub's address so a bot can answer with scripted (hostile) Markdown; knowledge is ingested by
the real worker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, Request, Route, expect

from bots import services
from bots.models import Bot, Conversation, Message
from bots.widget import services as widget_services
from knowledge import services as knowledge_services
from knowledge.models import Document, DocumentStatus
from tenants.context import tenant_context
from tests.bots import factories as bot_factories
from tests.e2e.pages import screenshot
from tests.e2e.widget_site import HELP_ARTICLE, HOSTILE_CSS, WidgetSite, shop_page
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.processes import ARTIFACTS, running_server
from tests.providers.factories import use_openai
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import World, make_world

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OPENAI_KEY = "sk-test-openai-key-widget-0123456789"
INGEST_TIMEOUT_SECONDS = 120  # the first document also waits for the worker to load the embedding model
ANSWER_TIMEOUT_MS = 60_000  # the web process loads the embedding model for its first question
GENEROUS = "1000/minute"

# Records each text an answer's bubble shows as the widget renders it: every token event re-renders
# the bubble, so the nodes added to it are the successive partial answers.
WATCH_PARTIAL_ANSWERS = """(host) => {
    window.__partials = [];
    new MutationObserver((records) => {
        for (const record of records) {
            const target = record.target;
            if (target instanceof Element && target.matches("[data-gw-role=assistant] > .gw-bubble")
                && record.addedNodes.length) {
                window.__partials.push(Array.from(record.addedNodes, (node) => node.textContent).join(" "));
            }
        }
    }).observe(host.shadowRoot, { childList: true, subtree: true });
}"""

# Everything the widget made that could load or run something, inside its shadow root.
ACTIVE_ELEMENTS = (
    "img, image, iframe, frame, script, object, embed, video, audio, source, link, base, form[action]"
)


@pytest.fixture(scope="module")
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=OPENAI_KEY)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def widget_server(openai_stub: OpenAIStub, django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """Groundwork as in production (DEBUG off, hashed static files), with OpenAI pointed at the stub and
    rate limits out of the way (one test meets a rate limit on purpose, by intercepting the request)."""
    with running_server(
        log_name="e2e-widget-server.log",
        DEBUG="false",
        OPENAI_API_KEY="",
        OPENAI_BASE_URL=openai_stub.base_url,
        MODEL_CALL_MAX_RETRIES="0",
        CHAT_RATE_PER_BOT=GENEROUS,
        CHAT_RATE_PER_VISITOR=GENEROUS,
        CHAT_RATE_PER_IP=GENEROUS,
        WIDGET_SESSION_RATE_PER_IP=GENEROUS,
        WIDGET_READ_RATE_PER_IP=GENEROUS,
    ) as url:
        yield url


@pytest.fixture(scope="module")
def site() -> Iterator[WidgetSite]:
    served = WidgetSite().start()
    served.page("/favicon.ico", b"", "image/x-icon")
    served.page("/help/returns", HELP_ARTICLE)
    yield served
    served.stop()


@pytest.fixture(autouse=True)
def test_process_settings(settings: Any, openai_stub: OpenAIStub) -> None:
    settings.FETCH_ALLOW_LOOPBACK = True  # the URL check when a test adds the site's help page
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = openai_stub.base_url


# --- helpers ------------------------------------------------------------------------------------------


def wait_until_ready(world: World, document_id: uuid.UUID) -> None:
    deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
    while True:
        with tenant_context(world.tenant.pk):
            document = Document.objects.get(pk=document_id)
        if document.status == DocumentStatus.READY:
            return
        assert document.status != DocumentStatus.FAILED, document.failure_reason
        assert time.monotonic() < deadline, f"the document is still {document.status}"
        time.sleep(0.25)


def knowledge_base(world: World, *, url: str = "", text: str = "") -> Any:
    """A knowledge base with one document, ingested by the worker."""
    base = make_knowledge_base(world)
    if url:
        document = knowledge_services.document_add_url(
            actor=world.actor(), knowledge_base_id=base.pk, url=url, title="Returns and refunds"
        )
    else:
        document = add_text(world, base, text)
    wait_until_ready(world, document.pk)
    return base


def published_bot(world: World, site: WidgetSite, **settings: Any) -> Bot:
    """A published bot (named Northwind unless ``name`` is given) allowed on the shop site."""
    settings.setdefault("allowed_origins", [site.origin])
    return bot_factories.published_bot(world, settings.pop("name", "Northwind"), **settings)


def embed(site: WidgetSite, server: str, bot: Bot, path: str = "/", **options: Any) -> None:
    site.page(path, shop_page(widget_src=f"{server}/widget.js", bot_key=bot.publishable_key, **options))


def launcher(page: Page) -> Locator:
    return page.locator("groundwork-chat .gw-launcher")


def panel(page: Page) -> Locator:
    return page.get_by_role("dialog")


def settled(locator: Locator) -> None:
    """Waits for the element's transitions (the panel's opening animation) before a screenshot."""
    locator.evaluate("(node) => Promise.all(node.getAnimations().map((animation) => animation.finished))")


def launcher_shown(page: Page) -> Locator:
    """The launcher once it has been revealed (the bot's look read) and its fade-in has ended: before
    that it is mid-transition, scaled down."""
    button = launcher(page)
    expect(page.locator("groundwork-chat .gw.gw-ready")).to_be_attached()
    settled(button)
    return button


def shadow_active_class(page: Page) -> str:
    """The class of the focused element inside the widget's shadow root ('' if focus is elsewhere)."""
    return str(
        page.evaluate(
            """() => {
                const host = document.querySelector("groundwork-chat");
                const active = document.activeElement === host && host.shadowRoot.activeElement;
                return active ? active.className : "";
            }"""
        )
    )


def screenshot_path(name: str) -> Path:
    """For a viewport-sized screenshot (the conftest helper takes the full page, which stretches what is
    fixed to the viewport over the whole page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def stored_message(world: World, message_id: str) -> Message:
    with tenant_context(world.tenant.pk):
        return Message.objects.get(pk=message_id)


# --- 1. a visitor on the tenant's website --------------------------------------------------------------


def test_a_visitor_asks_sees_the_answer_stream_rates_it_and_finds_it_again(
    page: Page, widget_server: str, site: WidgetSite, celery_worker: str
) -> None:
    world = make_world("Northwind")
    base = knowledge_base(world, url=f"{site.other_origin}/help/returns")
    bot = published_bot(
        world,
        site,
        knowledge_base_ids=[base.pk],
        greeting="Hi! I'm the **Northwind** assistant. Ask me about orders, returns and repairs.",
        suggested_questions=["How long do refunds take?", "Can I repair my boots?"],
        widget_title="Northwind Help",
        widget_color="#0f766e",
        widget_icon="sparkles",
    )
    embed(site, widget_server, bot)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    # The launcher: the bot's colour, a button that says what it does; no panel script loaded yet.
    page.goto(f"{site.origin}/")
    button = launcher(page)
    expect(button).to_be_visible()
    expect(button).to_have_accessible_name("Open chat: Northwind Help")
    expect(button).to_have_attribute("aria-expanded", "false")
    assert button.evaluate("(node) => getComputedStyle(node).backgroundColor") == "rgb(15, 118, 110)"
    assert not [url for url in requests if "/static/widget/panel." in url], "the panel loaded before opening"

    # Open it: a labelled dialog, focus in the message box, the greeting and the suggested questions.
    button.click()
    dialog = page.get_by_role("dialog", name="Northwind Help")
    expect(dialog).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(button).to_have_attribute("aria-controls", "gw-panel")
    expect(dialog).to_have_attribute("id", "gw-panel")
    expect(dialog.get_by_role("log")).to_have_attribute("aria-live", "polite")
    message_box = dialog.get_by_role("textbox", name="Message Northwind Help")
    expect(message_box).to_be_focused()
    expect(dialog.get_by_role("log")).to_contain_text("Ask me about orders, returns and repairs.")
    expect(dialog.locator(".gw-greeting strong")).to_have_text("Northwind")
    expect(dialog.get_by_role("button", name="How long do refunds take?")).to_be_visible()
    assert [url for url in requests if re.search(r"/static/widget/panel\.[0-9a-f]+\.js$", url)]

    # Ask: the answer streams in (partial texts before the end), then its source as a link.
    page.locator("groundwork-chat").evaluate(WATCH_PARTIAL_ANSWERS)
    message_box.fill("How many days do I have to return an item?")
    message_box.press("Enter")
    expect(dialog.locator("[data-gw-role=user]")).to_have_text("How many days do I have to return an item?")
    answer = dialog.locator("[data-gw-role=assistant]").first
    expect(answer).to_have_attribute("data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_have_attribute("data-gw-outcome", "answered")
    expect(answer.locator(".gw-bubble")).to_contain_text("within 30 days of delivery")
    assert int(answer.get_attribute("data-gw-tokens") or 0) > 1, "the answer arrived in one piece"
    partials = [" ".join(text.split()) for text in page.evaluate("window.__partials")]
    final = " ".join((answer.locator(".gw-bubble").text_content() or "").split())
    assert len(set(partials)) >= 2, f"the answer did not appear progressively: {partials}"
    assert any(partial and len(partial) < len(final) for partial in partials), partials
    source = (
        answer.locator("[data-gw-sources]").get_by_role("link", name=re.compile("Returns and refunds")).first
    )
    expect(source).to_have_attribute("href", f"{site.other_origin}/help/returns")
    expect(source).to_have_attribute("target", "_blank")
    expect(source).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    expect(dialog.get_by_role("button", name="How long do refunds take?")).to_have_count(0)
    dialog.get_by_role("log").evaluate("(log) => { log.scrollTop = 0; }")
    settled(dialog)
    screenshot(page, "widget-open")

    # Thumbs up: pressed, and stored on the answer.
    message_id = answer.get_attribute("data-gw-message") or ""
    helpful = answer.get_by_role("button", name="Helpful", exact=True)
    helpful.click()
    expect(helpful).to_have_attribute("aria-pressed", "true")
    expect(answer).to_contain_text("Thanks for the feedback")
    deadline = time.monotonic() + 10
    while stored_message(world, message_id).rating != 1:
        assert time.monotonic() < deadline, "the rating was not stored"
        time.sleep(0.1)
    with tenant_context(world.tenant.pk):
        conversation = Conversation.objects.get(bot=bot)
    assert conversation.channel == "widget" and conversation.visitor_id.startswith("v_")

    # Reload: the conversation comes back on opening, rating included, and goes on where it was.
    page.reload()
    launcher(page).click()
    dialog = page.get_by_role("dialog", name="Northwind Help")
    restored = dialog.locator("[data-gw-role=assistant]").first
    expect(dialog.locator("[data-gw-role=user]")).to_have_text("How many days do I have to return an item?")
    expect(restored).to_contain_text("within 30 days of delivery")
    expect(restored.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(restored.locator("[data-gw-sources] a").first).to_have_attribute(
        "href", f"{site.other_origin}/help/returns"
    )
    message_box = dialog.get_by_role("textbox", name="Message Northwind Help")
    message_box.fill("And how long does the refund take?")
    message_box.press("Enter")
    expect(dialog.locator("[data-gw-role=assistant]").nth(1)).to_have_attribute(
        "data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS
    )
    with tenant_context(world.tenant.pk):
        assert Conversation.objects.filter(bot=bot).count() == 1
        assert Message.objects.filter(conversation=conversation).count() == 4

    # The keyboard: Escape closes and gives focus back to the launcher; Enter on it opens again.
    message_box.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    assert "gw-launcher" in shadow_active_class(page)
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(message_box).to_be_focused()
    dialog.get_by_role("button", name="Close chat").click()
    expect(dialog).to_be_hidden()
    assert "gw-launcher" in shadow_active_class(page)

    # A new conversation on request: the greeting and suggestions again, and the next question starts one.
    launcher(page).click()
    dialog.get_by_role("button", name="New conversation").click()
    expect(dialog.locator("[data-gw-role]")).to_have_count(0)
    dialog.get_by_role("button", name="How long do refunds take?").click()
    expect(dialog.locator("[data-gw-role=assistant]").first).to_have_attribute(
        "data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS
    )
    with tenant_context(world.tenant.pk):
        assert Conversation.objects.filter(bot=bot).count() == 2

    # On a phone the panel takes the whole screen.
    page.set_viewport_size({"width": 390, "height": 844})
    settled(dialog)
    box = dialog.bounding_box()
    assert box is not None and (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(screenshot_path("widget-phone")))

    # Nothing but Groundwork and the page's own site was asked for anything.
    foreign = [url for url in requests if not url.startswith((widget_server, site.origin))]
    assert foreign == []


# --- 2. a website the bot does not allow -------------------------------------------------------------


def test_on_a_website_the_bot_does_not_allow_the_widget_says_so(
    page: Page, widget_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    bot = published_bot(world, site, widget_color="#be123c")
    embed(site, widget_server, bot, "/elsewhere")

    page.goto(f"{site.other_origin}/elsewhere")  # the same page, from an origin not in the list
    button = launcher_shown(page)  # revealed once the look was read or given up on
    # Nothing of the bot could be read from here: a neutral launcher, not the bot's colour.
    assert button.evaluate("(node) => getComputedStyle(node).backgroundColor") == "rgb(71, 85, 105)"
    button.click()
    dialog = panel(page)
    expect(dialog).to_contain_text(
        f"This chat isn't enabled on this website ({site.other_origin}). If you own this site, "
        "add it to the bot's allowed origins in Groundwork, and check the key in the snippet."
    )
    expect(dialog.get_by_role("textbox")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Close chat")).to_be_focused()
    settled(dialog)
    screenshot(page, "widget-origin-refused")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


# --- 3. hostile text everywhere ------------------------------------------------------------------------

IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
SCRIPT = "<script>window.__pwned=1;alert(1)</script>"
IFRAME = '<iframe srcdoc="<script>parent.__pwned=1;alert(1)</script>"></iframe>'
JAVASCRIPT_LINK = "[click](javascript:alert(1))"
JAVASCRIPT_LINK_2 = "[claim your prize](javascript:window.__pwned=1)"
DATA_LINK = "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"
REMOTE_IMAGE = "![x](http://evil.example/x.png)"

HOSTILE_ANSWER = f"""Returns are accepted within **30 days** [1].

{IMG}
{SCRIPT}
{IFRAME}

- {JAVASCRIPT_LINK}
- {JAVASCRIPT_LINK_2}
- {DATA_LINK}
- {REMOTE_IMAGE}
- [Our returns page](https://shop.example.com/returns)

```html
{SCRIPT}
```"""

HOSTILE_DOCUMENT = f"""# Returns {IMG}

Returns are accepted within 30 days of delivery. {SCRIPT} {IFRAME}
Send the parcel back with the label. {JAVASCRIPT_LINK} {REMOTE_IMAGE}
"""


def test_hostile_answers_greetings_questions_and_documents_run_nothing_and_load_nothing(
    page: Page, widget_server: str, site: WidgetSite, openai_stub: OpenAIStub, celery_worker: str
) -> None:
    world = make_world("Northwind")
    use_openai(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2", api_key=OPENAI_KEY)
    base = knowledge_base(world, text=HOSTILE_DOCUMENT)
    bot = published_bot(
        world,
        site,
        knowledge_base_ids=[base.pk],
        chat_model="openai:gpt-4o-mini",
        retrieval_score_threshold=0.0,
        greeting=f"Welcome! {IMG} {SCRIPT} {JAVASCRIPT_LINK} {REMOTE_IMAGE}",
        suggested_questions=[f"Returns {IMG}", f"Refunds {SCRIPT}", IFRAME, JAVASCRIPT_LINK, REMOTE_IMAGE],
        widget_title=f"Help {IMG}",
    )
    openai_stub.answers["gpt-4o-mini"] = HOSTILE_ANSWER
    embed(site, widget_server, bot)

    dialogs: list[str] = []
    console: list[str] = []
    requests: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    def on_request(request: Request) -> None:
        requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("request", on_request)

    page.goto(f"{site.origin}/")
    launcher(page).click()
    dialog = panel(page)
    expect(dialog).to_be_visible()
    # Titles, greetings and questions are text: the markup in them is shown, not obeyed.
    expect(dialog.locator(".gw-title")).to_have_text(f"Help {IMG}")
    greeting = dialog.locator(".gw-greeting")
    expect(greeting).to_contain_text(IMG)
    expect(greeting).to_contain_text(SCRIPT)
    expect(greeting).to_contain_text(JAVASCRIPT_LINK)
    expect(greeting).to_contain_text("[Image: x]")
    for question in (f"Refunds {SCRIPT}", IFRAME, JAVASCRIPT_LINK, REMOTE_IMAGE):
        expect(dialog.get_by_role("button", name=question, exact=True)).to_be_visible()

    # Ask with a hostile suggested question; the scripted answer is hostile Markdown.
    dialog.get_by_role("button", name=f"Returns {IMG}", exact=True).click()
    expect(dialog.locator("[data-gw-role=user]")).to_have_text(f"Returns {IMG}")
    answer = dialog.locator("[data-gw-role=assistant]").first
    expect(answer).to_have_attribute("data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS)
    bubble = answer.locator(".gw-bubble")
    for text in (IMG, SCRIPT, IFRAME, JAVASCRIPT_LINK, JAVASCRIPT_LINK_2, DATA_LINK, "[Image: x]"):
        expect(bubble).to_contain_text(text)
    expect(bubble.locator("strong")).to_have_text("30 days")
    expect(bubble.locator("pre code")).to_have_text(SCRIPT)
    # The only link in the answer is the https one, opening safely in a new tab.
    links = bubble.get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://shop.example.com/returns")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    # The document's title and passage, in the citation, are text too (a pasted text has no link).
    source = answer.locator("[data-gw-sources] .gw-source").first
    expect(source.locator(".gw-source-title")).to_have_text(f"Returns {IMG}")
    expect(source.locator("a")).to_have_count(0)
    expect(source.locator(".gw-snippet")).to_contain_text(SCRIPT)
    settled(dialog)
    screenshot(page, "widget-hostile-content")

    # Reloaded from the server, the same text is as harmless.
    page.reload()
    launcher(page).click()
    expect(panel(page).locator("[data-gw-role=assistant]").first.locator(".gw-bubble")).to_contain_text(
        IFRAME
    )
    page.wait_for_timeout(300)  # time for an onerror to fire, had an <img> been made

    made = page.locator("groundwork-chat").evaluate(
        "(host, css) => Array.from(host.shadowRoot.querySelectorAll(css), (node) => node.outerHTML)",
        ACTIVE_ELEMENTS,
    )
    assert made == []
    hrefs = page.locator("groundwork-chat").evaluate(
        "(host) => Array.from(host.shadowRoot.querySelectorAll('[href]'), (a) => a.getAttribute('href'))",
    )
    assert hrefs and all(re.match(r"^https?://", href) for href in hrefs), hrefs
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert not [line for line in console if "pwned" in line or "alert" in line], console
    foreign = [url for url in requests if not url.startswith((widget_server, site.origin))]
    assert foreign == [], f"requests to other hosts: {foreign}"


# --- 4. a hostile stylesheet on the page -------------------------------------------------------------


def test_a_hostile_stylesheet_on_the_page_does_not_break_the_widget(
    page: Page, widget_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    bot = published_bot(world, site, widget_color="#7c3aed", widget_position="left", widget_icon="help")
    embed(site, widget_server, bot, "/hostile-css", css=HOSTILE_CSS)

    page.goto(f"{site.origin}/hostile-css")
    button = launcher(page)
    expect(button).to_be_visible()
    launcher_shown(page)
    box = button.bounding_box()
    assert box is not None and (round(box["width"]), round(box["height"])) == (56, 56)
    assert box["x"] == 20 and box["y"] + box["height"] == 860 - 20  # bottom left, as the bot says
    assert button.evaluate("(node) => getComputedStyle(node).backgroundColor") == "rgb(124, 58, 237)"
    button.click()
    dialog = panel(page)
    expect(dialog).to_be_visible()
    settled(dialog)  # measured after the opening animation
    box = dialog.bounding_box()
    assert box is not None and box["width"] == 384 and box["height"] > 400
    message_box = dialog.get_by_role("textbox")
    expect(message_box).to_be_focused()
    style = message_box.evaluate("(node) => [getComputedStyle(node).fontSize, getComputedStyle(node).color]")
    assert style == ["14px", "rgb(17, 24, 39)"]
    message_box.fill("Do you ship to Norway?")
    dialog.get_by_role("button", name="Send").click()
    answer = dialog.locator("[data-gw-role=assistant]").first
    expect(answer).to_have_attribute("data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_contain_text("contact our support team")  # the handoff: no knowledge attached
    assert answer.locator(".gw-bubble").evaluate("(node) => getComputedStyle(node).fontSize") == "14px"
    settled(dialog)
    screenshot(page, "widget-hostile-css")


# --- 5. states: a draft, a rate limit, offline ---------------------------------------------------------


def test_drafts_rate_limits_and_going_offline_are_explained(
    page: Page, widget_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    bot = published_bot(world, site, status="draft", name="Concierge")
    embed(site, widget_server, bot, "/states")

    page.goto(f"{site.origin}/states")
    launcher(page).click()
    dialog = panel(page)
    expect(dialog).to_contain_text("This chat isn't available yet")
    expect(dialog).to_contain_text("Concierge is not published yet.")
    settled(dialog)
    screenshot(page, "widget-not-published")

    services.bot_update(actor=world.actor(), bot_id=bot.pk, status="published")

    # Too many messages: the server's 429 and its Retry-After, in words, and the message kept.
    def too_fast(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        route.fulfill(
            status=429,
            headers={
                "Content-Type": "application/problem+json",
                "Retry-After": "7",
                "Access-Control-Allow-Origin": site.origin,
                "Access-Control-Expose-Headers": "Retry-After, ETag",
            },
            body=json.dumps(
                {"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": "Slow down"}
            ),
        )

    page.route(re.compile(r".*/public/v1/bots/[^/]+/chat$"), too_fast)
    page.reload()  # the configuration is cached for a minute: ask again without it
    launcher(page).click()
    dialog = panel(page)
    message_box = dialog.get_by_role("textbox")
    expect(message_box).to_be_visible(timeout=10_000)
    message_box.fill("Where is my parcel?")
    message_box.press("Enter")
    expect(dialog.get_by_role("status")).to_contain_text(
        re.compile(r"You're sending messages too quickly — try again in [67] seconds")
    )
    expect(message_box).to_have_value("Where is my parcel?")
    expect(dialog.get_by_role("button", name="Send")).to_be_disabled()
    settled(dialog)
    screenshot(page, "widget-rate-limited")
    page.unroute(re.compile(r".*/public/v1/bots/[^/]+/chat$"))

    # Offline: said at once, and the message stays in the box.
    page.context.set_offline(True)
    expect(dialog.get_by_role("status")).to_contain_text("You're offline")
    page.context.set_offline(False)
    expect(dialog.get_by_role("status")).to_be_hidden()


# --- 6. the page's JavaScript API ----------------------------------------------------------------------


def test_the_page_opens_closes_restyles_and_identifies_through_window_groundwork(
    page: Page, widget_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    bot = published_bot(world, site, widget_title="Northwind Help")
    secret = widget_services.bot_rotate_identity_secret(actor=world.actor(), bot_id=bot.pk)
    embed(site, widget_server, bot, "/api")

    page.goto(f"{site.origin}/api")
    button = launcher_shown(page)
    assert button.evaluate("(node) => getComputedStyle(node).backgroundColor") == "rgb(79, 70, 229)"

    # The dashboard's live preview: a light colour gets dark text, the other side, another icon and title.
    page.evaluate(
        "Groundwork.setAppearance({color: '#fde047', position: 'left', icon: 'help', title: 'Ask us'})"
    )
    expect(button).to_have_accessible_name("Open chat: Ask us")
    assert button.evaluate("(node) => getComputedStyle(node).color") == "rgb(17, 24, 39)"
    launcher_shown(page)
    box = button.bounding_box()
    assert box is not None and box["x"] == 20

    page.evaluate("Groundwork.open()")
    dialog = page.get_by_role("dialog", name="Ask us")
    expect(dialog).to_be_visible()
    header = dialog.locator(".gw-head")
    assert header.evaluate("(node) => getComputedStyle(node).color") == "rgb(17, 24, 39)"
    settled(dialog)
    screenshot(page, "widget-light-accent")
    page.evaluate("Groundwork.setAppearance({color: '#be123c'})")
    assert header.evaluate("(node) => getComputedStyle(node).backgroundColor") == "rgb(190, 18, 60)"
    assert header.evaluate("(node) => getComputedStyle(node).color") == "rgb(255, 255, 255)"
    page.evaluate("Groundwork.close()")
    expect(dialog).to_be_hidden()

    # Visitors who ask for less motion get none.
    closed_panel = page.locator("groundwork-chat #gw-panel")
    assert closed_panel.evaluate("(node) => getComputedStyle(node).transitionDuration") != "0s"
    page.emulate_media(reduced_motion="reduce")
    assert closed_panel.evaluate("(node) => getComputedStyle(node).transitionDuration") == "0s"

    # A signed-in user, vouched for by the tenant's server (HMAC of the user's id with the bot's secret).
    user_hash = hmac.new(secret.encode(), b"customer-42", hashlib.sha256).hexdigest()
    page.evaluate("(hash) => Groundwork.identify({userId: 'customer-42', userHash: hash})", user_hash)
    page.evaluate("Groundwork.open()")
    message_box = dialog.get_by_role("textbox")
    expect(message_box).to_be_focused()
    message_box.fill("Where is my order?")
    message_box.press("Enter")
    expect(dialog.locator("[data-gw-role=assistant]").first).to_have_attribute(
        "data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS
    )
    with tenant_context(world.tenant.pk):
        assert Conversation.objects.get(bot=bot).visitor_id == "user:customer-42"

    # A forged hash is refused, and the visitor is told.
    page.evaluate("Groundwork.identify({userId: 'customer-43', userHash: '00'})")
    expect(dialog.locator("[data-gw-role]")).to_have_count(0)  # another person: not their conversation
    message_box.fill("And my invoice?")
    message_box.press("Enter")
    expect(dialog.get_by_role("status")).to_contain_text("The user's identity could not be verified.")
    expect(message_box).to_have_value("And my invoice?")


# --- 7. a wrong key, a server that is down ---------------------------------------------------------------


def test_a_wrong_key_or_an_unreachable_server_never_breaks_the_page(
    page: Page, widget_server: str, site: WidgetSite
) -> None:
    site.page(
        "/wrong-key",
        shop_page(widget_src=f"{widget_server}/widget.js", bot_key="gw_pk_no-such-bot"),
    )
    page.goto(f"{site.origin}/wrong-key")
    expect(launcher(page)).to_be_visible()
    launcher(page).click()
    expect(panel(page)).to_contain_text("Chat isn't available here")
    assert page.evaluate("typeof window.Groundwork.open") == "function"

    # The server stops answering after the loader arrived: the widget says so, the page goes on.
    world = make_world("Northwind")
    bot = published_bot(world, site)
    embed(site, widget_server, bot, "/down")
    page.route(re.compile(r".*/(public/v1/.*|healthz)$"), lambda route: route.abort("connectionrefused"))
    page.goto(f"{site.origin}/down")
    launcher(page).click()
    dialog = panel(page)
    expect(dialog).to_contain_text("We can't reach the chat service right now.")
    page.unroute(re.compile(r".*/(public/v1/.*|healthz)$"))
    dialog.get_by_role("button", name="Try again").click()
    expect(dialog.get_by_role("textbox")).to_be_visible()
    expect(dialog).to_contain_text("What can I help you with?")
    assert page.title() == "Northwind Outfitters"  # the page itself is untouched
