"""Readable everywhere (issue 14), in a real browser: a Markdown answer in the builder's playground is
rendered by the widget's own renderer (and nothing hostile in it runs or loads), the conversation page
renders it on the server by the same rules; a widget turn that was cut off says so after a reload and
asks again; the owner's widget preview says why the bot's model cannot answer, and visitors never see it.

Groundwork runs in a server of this module's own, with OpenAI pointed at the wire stub; knowledge is
ingested by the real worker.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import Dialog, Page, Request, expect

from bots.models import Bot, Message, MessageOutcome, MessageRole, RunConfiguration
from knowledge.models import Document, DocumentStatus
from tenants.context import tenant_context
from tests.bots import factories as bot_factories
from tests.bots.regression.factories import make_case, make_suite, recorded_run
from tests.bots.regression.helpers import enqueue_to
from tests.e2e.pages import screenshot
from tests.e2e.widget_site import WidgetSite, shop_page
from tests.knowledge.factories import add_text, make_knowledge_base
from tests.processes import ARTIFACTS, running_server
from tests.providers.factories import enable_models, use_openai
from tests.stubs.openai_stub import OpenAIStub
from tests.tenants.factories import PASSWORD, World, make_world

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OPENAI_KEY = "sk-test-openai-key-readable-0123456789"
INGEST_TIMEOUT_SECONDS = 120
ANSWER_TIMEOUT_MS = 60_000
SEARCH_TIMEOUT_MS = 120_000
GENEROUS = "1000/minute"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

MARKDOWN_ANSWER = """## Returns

You can return items **within 30 days** of delivery [1].

1. Pack the item
2. Print the label from [our returns page](https://shop.example.com/returns)

- [click](javascript:alert(1))
- ![tracker](http://evil.example/pixel.png)
- <img src=x onerror="window.__pwned=1">

```
RMA-2024-001
```"""

POLICY = "Returns are accepted within 30 days of delivery. Print the label from the returns page."


@pytest.fixture(scope="module")
def openai_stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(api_key=OPENAI_KEY)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def readable_server(openai_stub: OpenAIStub, django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with running_server(
        log_name="e2e-readable-server.log",
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
    yield served
    served.stop()


@pytest.fixture(autouse=True)
def test_process_settings(settings: Any, openai_stub: OpenAIStub) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = openai_stub.base_url


def ingested(world: World, text: str) -> Any:
    base = make_knowledge_base(world)
    document = add_text(world, base, text)
    deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
    while True:
        with tenant_context(world.tenant.pk):
            status = Document.objects.get(pk=document.pk).status
        if status == DocumentStatus.READY:
            return base
        assert status != DocumentStatus.FAILED
        assert time.monotonic() < deadline, f"the document is still {status}"
        time.sleep(0.25)


def sign_in(page: Page, server: str, world: World) -> None:
    # The suite hashes passwords with a fast hasher the server does not accept: store one it does.
    world.owner.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    world.owner.save(update_fields=["password"])
    page.goto(f"{server}/app/sign-in/")
    page.get_by_label("Email").fill(world.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))


def test_a_markdown_answer_reads_as_in_the_widget_in_the_playground_and_the_conversation(
    page: Page, readable_server: str, openai_stub: OpenAIStub, celery_worker: str
) -> None:
    world = make_world("Northwind")
    use_openai(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2", api_key=OPENAI_KEY)
    base = ingested(world, POLICY)
    bot = bot_factories.make_bot(
        world,
        "Concierge",
        knowledge_base_ids=[base.pk],
        chat_model="openai:gpt-4o-mini",
        retrieval_score_threshold=0.0,
    )
    openai_stub.answers["gpt-4o-mini"] = MARKDOWN_ANSWER
    dialogs: list[str] = []
    foreign: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        if not request.url.startswith((readable_server, "data:")):
            foreign.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.set_viewport_size(DESKTOP)
    sign_in(page, readable_server, world)
    page.goto(f"{readable_server}/app/bots/{bot.pk}/")

    playground = page.locator("[data-playground]")
    playground.get_by_label("Question for Concierge").fill("How do I return an item?")
    playground.get_by_role("button", name="Ask").click()
    answer = playground.locator("[data-pg-answer]").first
    expect(answer).to_have_attribute("data-outcome", "answered", timeout=ANSWER_TIMEOUT_MS)
    text = answer.locator("[data-pg-text]")
    # Rendered by the widget's renderer: a heading as a bold line, strong, a numbered list, a citation
    # badge, code; the one https link opens in a new tab; the rest stays text.
    expect(text.locator(".gw-h")).to_have_text("Returns")
    expect(text.locator("strong")).to_have_text("within 30 days")
    expect(text.locator("ol > li")).to_have_count(2)
    expect(text.locator(".gw-ref")).to_have_text("1")
    expect(text.locator("pre code")).to_have_text("RMA-2024-001")
    links = text.get_by_role("link")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://shop.example.com/returns")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    expect(links).to_have_attribute("target", "_blank")
    expect(text).to_contain_text("[click](javascript:alert(1))")
    expect(text).to_contain_text("[Image: tracker]")
    expect(text).to_contain_text('<img src=x onerror="window.__pwned=1">')
    assert text.locator("img, script, iframe").count() == 0
    answer.scroll_into_view_if_needed()
    page.locator("[data-playground]").screenshot(path=str(ARTIFACTS / "readable-playground-markdown.png"))
    page.set_viewport_size(PHONE)
    answer.scroll_into_view_if_needed()
    answer.screenshot(path=str(ARTIFACTS / "readable-playground-markdown-phone.png"))
    page.set_viewport_size(DESKTOP)

    # The conversation page renders the stored answer on the server, by the same rules.
    answer.locator("[data-pg-open]").click()
    bubble = page.locator(".gw-msg-bot [data-markdown]").first
    expect(bubble.locator(".gw-h")).to_have_text("Returns")
    expect(bubble.locator("strong")).to_have_text("within 30 days")
    expect(bubble.get_by_role("link")).to_have_attribute("href", "https://shop.example.com/returns")
    expect(bubble).to_contain_text("[click](javascript:alert(1))")
    assert bubble.locator("img, script, iframe").count() == 0
    expect(page.locator(".gw-msg-facts")).not_to_contain_text(re.compile(r"\$0\.00(?!\d)"))
    screenshot(page, "readable-conversation")
    page.set_viewport_size(PHONE)
    screenshot(page, "readable-conversation-phone")
    page.go_back()
    page.wait_for_timeout(300)  # time for an onerror to fire, had an <img> been made
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert foreign == [], f"requests to other hosts: {foreign}"


def test_a_cut_off_turn_restored_after_a_reload_says_so_and_asks_again(
    page: Page, readable_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    bot = bot_factories.published_bot(world, "Northwind", allowed_origins=[site.origin])  # built-in model
    site.page("/", shop_page(widget_src=f"{readable_server}/widget.js", bot_key=bot.publishable_key))
    page.goto(f"{site.origin}/")
    page.locator("groundwork-chat .gw-launcher").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(re.compile("^Message")).fill("Can I return a gift?")
    dialog.get_by_role("button", name="Send").click()
    first = dialog.locator("[data-gw-role=assistant]").first
    expect(first).to_have_attribute("data-gw-state", "done", timeout=ANSWER_TIMEOUT_MS)

    # What the server keeps when the page closed mid-answer: the words so far, cancelled.
    message_id = cut_off_last_answer(world, bot, "Gifts can be returned")
    page.reload()
    page.locator("groundwork-chat .gw-launcher").click()
    restored = page.get_by_role("dialog").locator("[data-gw-restored]")
    expect(restored).to_contain_text("Gifts can be returned")
    expect(restored).to_contain_text("This answer was interrupted before it was complete.")
    expect(restored).to_have_attribute("data-gw-state", "error")
    page.get_by_role("dialog").screenshot(path=str(ARTIFACTS / "readable-widget-restored-turn.png"))

    restored.get_by_role("button", name="Try again").click()
    again = page.get_by_role("dialog").locator("[data-gw-role=assistant][data-gw-state=done]")
    expect(again).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_role("dialog").locator("[data-gw-role=user]").last).to_have_text(
        "Can I return a gift?"
    )
    with tenant_context(world.tenant.pk):
        questions = Message.objects.filter(conversation__bot=bot, role=MessageRole.USER).count()
        assert Message.objects.get(pk=message_id).outcome == MessageOutcome.CANCELLED
    assert questions == 2  # the question was asked again


def cut_off_last_answer(world: World, bot: Bot, words: str) -> uuid.UUID:
    with tenant_context(world.tenant.pk):
        message = Message.objects.filter(conversation__bot=bot, role=MessageRole.ASSISTANT).latest(
            "created_at"
        )
        message.content, message.outcome = words, MessageOutcome.CANCELLED
        message.save(update_fields=["content", "outcome"])
        return message.pk


def test_the_owner_preview_says_why_the_model_cannot_answer_and_visitors_never_see_it(
    page: Page, readable_server: str, site: WidgetSite
) -> None:
    world = make_world("Northwind")
    enable_models(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2")  # no OpenAI key
    bot = bot_factories.published_bot(
        world, "Northwind", allowed_origins=[site.origin], chat_model="openai:gpt-4o-mini"
    )
    page.set_viewport_size(DESKTOP)
    sign_in(page, readable_server, world)
    install = f"/app/bots/{bot.pk}/install/"
    page.goto(readable_server + install)
    page.locator("groundwork-chat .gw-launcher").click()
    problem = page.locator("groundwork-chat [data-model-problem]")
    expect(problem).to_contain_text("OpenAI")
    fix = problem.locator("a[data-model-fix]")
    expect(fix).to_have_text("Add your OpenAI key")
    href = fix.get_attribute("href") or ""
    assert href.startswith(f"{readable_server}/app/models/?add=openai&next=")
    assert f"next={install.replace('/', '%2F')}" in href and href.endswith("#providers"), href
    page.locator("#preview").screenshot(path=str(ARTIFACTS / "readable-widget-owner-preview.png"))
    fix.click()
    expect(page).to_have_url(re.compile(r"/app/models/\?add=openai&next="))

    # A visitor of the tenant's site: the same bot, no owner's note.
    site.page("/", shop_page(widget_src=f"{readable_server}/widget.js", bot_key=bot.publishable_key))
    visitor = page.context.browser.new_page() if page.context.browser else page
    visitor.goto(f"{site.origin}/")
    visitor.locator("groundwork-chat .gw-launcher").click()
    expect(visitor.get_by_role("dialog")).to_be_visible()
    expect(visitor.get_by_role("dialog").locator(".gw-log")).to_be_visible()
    assert visitor.locator("groundwork-chat [data-model-problem]").count() == 0
    visitor.close()


def test_test_search_ranks_and_a_regression_report_read_well_at_both_sizes(
    page: Page, readable_server: str, celery_worker: str
) -> None:
    world = make_world("Northwind")
    base = ingested(world, POLICY + "\n\nGift wrapping costs 3 euros per parcel; choose it at checkout.")
    bot = bot_factories.make_bot(world, "Concierge", knowledge_base_ids=[base.pk])
    suite = make_suite(world, bot, "Returns")
    make_case(world, suite, "How long do I have to return an item?")
    with enqueue_to(None):  # recorded by hand, as a worker would: nothing to queue
        run = recorded_run(
            world,
            suite,
            passes={0: [True]},
            answers={0: ["You have **30 days** [1]:\n\n- pack it\n- ship it"]},
        )
    with tenant_context(world.tenant.pk):  # as the runner records what it ran with
        RunConfiguration.objects.filter(run=run).update(settings_used={"chat_model": "local:no-llm"})
    sign_in(page, readable_server, world)

    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page.set_viewport_size(size)
        search = f"{readable_server}/app/knowledge/{base.pk}/?query=return+an+item&mode=hybrid#test-search"
        # The web process loads the built-in embedding model for its first question.
        page.goto(search, timeout=SEARCH_TIMEOUT_MS)
        first = page.locator("#test-search .gw-result").first
        expect(first.locator("[data-result-rank]")).to_have_text("Rank #1", timeout=ANSWER_TIMEOUT_MS)
        expect(first.locator(".gw-relevance")).to_contain_text("best match")
        page.locator("#test-search").screenshot(path=str(ARTIFACTS / f"readable-test-search{suffix}.png"))

        page.goto(f"{readable_server}/app/runs/{run.pk}/")
        cell = page.locator(".gw-rg-answer[data-markdown]").first
        expect(cell.locator("strong")).to_have_text("30 days")
        expect(cell.locator("li")).to_have_count(2)
        expect(page.locator("main")).to_contain_text("free (built-in model)")
        screenshot(page, f"readable-regression-run{suffix}")
