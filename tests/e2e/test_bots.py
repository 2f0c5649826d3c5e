"""Bots in a real browser, served by the real server (uvicorn), with a real Celery worker ingesting the
knowledge: paste a text into a new knowledge base and wait until it is ready, create a bot, attach the
knowledge base in the builder, ask in the playground and watch the answer stream in with its citation,
rate it, continue and restart the conversation, find it under Conversations and correct an answer into
the knowledge base, set a monthly budget; then the same pages at phone width.

The default chat model of a new organisation is the built-in "cited passages" answerer, so no provider
is needed: it streams one event per paragraph, as any model streams its text.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import shot, sign_up
from tests.processes import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INGEST_TIMEOUT_MS = 120_000  # the first document also waits for the worker to load the embedding model
ANSWER_TIMEOUT_MS = 60_000  # the web process loads the embedding model for its first question
FINISHED = re.compile(r"answered|no_answer")

RETURNS = """# Returns and refunds

You can return any unused item within 30 days of delivery. Start a return from your account page.

## Refunds

Refunds go back to the card you paid with, within 5 working days of the item reaching our warehouse.
"""

# Records every text the answer element shows, as the page sets it: each token event re-renders the
# answer (as Markdown, like the widget), so its text after each change is a successive partial answer.
WATCH_PARTIAL_ANSWERS = """() => {
    window.__partials = [];
    const log = document.querySelector("[data-pg-log]");
    new MutationObserver((records) => {
        for (const record of records) {
            if (record.target instanceof Element && record.target.matches("[data-pg-text]")
                && record.addedNodes.length) {
                // The nodes one render added (they keep their text once replaced by the next).
                window.__partials.push(Array.from(record.addedNodes, (node) => node.textContent).join(""));
            }
        }
    }).observe(log, { childList: true, subtree: true });
}"""


def test_build_a_bot_and_talk_to_it(page: Page, server_url: str, celery_worker: str) -> None:
    sign_up(page, server_url, "Northwind Support")

    # Knowledge to answer from: a pasted text, processed by the worker.
    page.get_by_role("link", name="Knowledge").first.click()
    page.get_by_role("link", name="Create your first knowledge base").click()
    page.get_by_label("Name").fill("Help centre")
    page.get_by_role("button", name="Create knowledge base").click()
    page.get_by_role("tab", name="Paste text").click()
    page.get_by_label("Title").filter(visible=True).fill("Returns policy")
    page.get_by_label("Text", exact=True).fill(RETURNS)
    page.get_by_role("button", name="Add text").click()
    document = page.locator("#document-rows tr").filter(has=page.get_by_role("link", name="Returns policy"))
    expect(document).to_have_attribute("data-document-status", "ready", timeout=INGEST_TIMEOUT_MS)

    # Bots: an empty page with one clear thing to do.
    page.get_by_role("link", name="Bots", exact=True).first.click()
    expect(page.get_by_role("heading", name="No bots yet")).to_be_visible()
    shot(page, "bots-empty")
    page.get_by_role("link", name="Create your first bot").click()
    page.get_by_label("Name").fill("Concierge")
    knowledge_box = page.get_by_role("checkbox", name=re.compile("Help centre"))
    expect(knowledge_box).to_be_checked()  # the only knowledge base is ticked for you
    knowledge_box.uncheck()  # attached in the builder below instead
    shot(page, "bots-new")
    page.get_by_role("button", name="Create bot").click()

    # The builder: attach the knowledge base and save.
    expect(page.get_by_role("heading", name="Concierge", level=1)).to_be_visible()
    expect(page.get_by_text("Created Concierge. Ask it something in the playground.")).to_be_visible()
    builder_url = page.url
    model = page.locator("#model")
    expect(model.get_by_role("radio", name=re.compile("Cited passages"))).to_be_checked()
    # The built-in answerer says what it does; a context window means nothing for it (issue 14).
    expect(model).to_contain_text("Quotes passages, writes nothing")
    expect(model).not_to_contain_text("1M context")
    knowledge = page.locator("#knowledge")
    knowledge.get_by_role("checkbox", name=re.compile("Help centre")).check()
    page.get_by_label("Greeting").fill("Hi! I'm the Northwind concierge. Ask me about returns.")
    page.get_by_label("Suggested questions").fill("How long do refunds take?")
    expect(page.locator("[data-savebar]")).to_contain_text("Unsaved changes")
    page.locator("#publishing").scroll_into_view_if_needed()
    page.locator("#publishing").screenshot(path=str(ARTIFACTS / "bots-publishing.png"))
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved Concierge. The playground uses the new settings now.")).to_be_visible()
    expect(page.locator("#knowledge").get_by_role("checkbox", name=re.compile("Help centre"))).to_be_checked()
    shot(page, "bots-builder")

    # The playground: the answer streams in, then its citation and the retrieved passages.
    playground = page.locator("[data-playground]")
    expect(playground).to_contain_text("Ask me about returns.")
    page.evaluate(WATCH_PARTIAL_ANSWERS)
    playground.get_by_label("Question for Concierge").fill("How many days do I have to return an item?")
    playground.get_by_role("button", name="Ask").click()
    answer = playground.locator("[data-pg-answer]").first
    expect(answer).to_have_attribute("data-outcome", "answered", timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator("[data-pg-text]")).to_contain_text("within 30 days of delivery")
    assert int(answer.get_attribute("data-token-events") or 0) > 1, "the answer arrived in one piece"
    partials = page.evaluate("window.__partials")
    assert len(set(partials)) >= 2, f"the answer did not appear progressively: {partials}"
    # Rendered as Markdown as it grows (a half-written "[1" becomes a badge once closed), so the partials
    # are not plain prefixes of the answer; they grow all the same.
    assert len(partials[0]) < len(partials[-1]), partials
    citation = answer.locator("[data-pg-citations] li").first
    expect(citation).to_contain_text("Returns policy")
    expect(citation.get_by_role("link", name="Returns policy")).to_have_attribute(
        "href", re.compile(r"^/app/knowledge/documents/[0-9a-f-]{36}/$")
    )
    expect(answer.locator("[data-pg-meta]")).to_contain_text("no-llm")
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute("aria-pressed", "true")
    # The kept artifact: the question, the streamed answer and its sources, from the top of the turn.
    page.locator("[data-pg-log]").evaluate("(log) => { log.scrollTop = 0; }")
    page.locator("#playground").screenshot(path=str(ARTIFACTS / "bots-playground.png"))
    answer.get_by_text("Retrieved passages").click()
    passage = answer.locator("[data-pg-passages] li").first
    expect(passage).to_contain_text(re.compile(r"fused rank \d\.\d{3}"))  # the bot searches hybrid
    passage.scroll_into_view_if_needed()
    page.locator("#playground").screenshot(path=str(ARTIFACTS / "bots-playground-retrieved.png"))
    shot(page, "bots-builder-playground")

    # The conversation continues, and starts over on request.
    playground.locator("[data-pg-input]").fill("And the refund?")
    playground.locator("[data-pg-input]").press("Enter")
    second = playground.locator("[data-pg-answer]").nth(1)
    expect(second).to_have_attribute("data-outcome", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    conversation_id = playground.locator("[data-pg-conversation]").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", conversation_id)
    playground.get_by_role("button", name="New conversation").click()
    expect(playground.locator("[data-pg-answer]")).to_have_count(0)
    expect(playground.locator("[data-pg-conversation]")).to_have_value("")
    expect(playground.get_by_role("button", name="How long do refunds take?")).to_be_visible()

    # A suggested question asks with one click, in the new conversation.
    playground.get_by_role("button", name="How long do refunds take?").click()
    third = playground.locator("[data-pg-answer]").first
    expect(third).to_have_attribute("data-outcome", FINISHED, timeout=ANSWER_TIMEOUT_MS)

    # Conversations: both playground conversations, newest first; open the first one.
    page.get_by_role("link", name="Conversations", exact=True).first.click()
    rows = page.locator(".gw-table-conversations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text("How many days do I have to return an item?")
    expect(rows.last).to_contain_text("Playground")
    shot(page, "bots-conversations")
    page.get_by_role("link", name="How many days do I have to return an item?").click()
    expect(page.get_by_role("heading", name="How many days do I have to return an item?")).to_be_visible()
    expect(page.locator(".gw-msg-bot").first).to_contain_text("within 30 days of delivery")
    expect(page.locator(".gw-msg-bot").first).to_contain_text("Helpful")
    expect(page.locator(".gw-msg-bot").first).to_contain_text("no-llm")
    expect(page.locator(".gw-msg")).to_have_count(4)
    page.locator(".gw-msg-sources").first.locator("summary").click()
    expect(page.locator(".gw-cite").first).to_contain_text("Returns policy")
    detail_url = page.url
    shot(page, "bots-conversation")

    # Correct an answer into the knowledge base.
    page.get_by_role("link", name="Correct this answer").first.click()
    expect(page.get_by_label("Question")).to_have_value("How many days do I have to return an item?")
    page.get_by_label("Correct answer").fill("30 days from delivery, for unused items with their tags.")
    shot(page, "bots-correct")
    page.get_by_role("button", name="Add to knowledge base").click()
    expect(page.get_by_text("Correction added to Help centre.")).to_be_visible()
    page.get_by_role("link", name=re.compile("^Open “Correction:")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Correction: How many days")

    # The bot in the list, and a monthly budget on the Usage page.
    page.get_by_role("link", name="Bots", exact=True).first.click()
    card = page.locator(".gw-bot-card")
    expect(card).to_contain_text("Help centre")
    expect(card).to_contain_text("2 conversations")
    shot(page, "bots-list")
    page.get_by_role("link", name="Usage", exact=True).first.click()
    page.get_by_label("Monthly budget (USD)").fill("25")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Monthly budget set to $25.00.")).to_be_visible()
    expect(page.locator("#budget")).to_contain_text("of $25.00")
    page.locator("#budget").screenshot(path=str(ARTIFACTS / "usage-budget.png"))

    # At phone width nothing scrolls the page sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    for url, name in (
        (f"{server_url}/app/bots/", "bots-list-phone"),
        (builder_url, "bots-builder-phone"),
        (f"{server_url}/app/conversations/", "bots-conversations-phone"),
        (detail_url, "bots-conversation-phone"),
    ):
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{url} scrolls sideways at phone width ({width}px)"
        shot(page, name)
    page.goto(builder_url + "#playground")
    page.locator("[data-pg-input]").fill("Can I return an opened item?")
    page.locator("[data-pg-input]").press("Enter")
    expect(page.locator("[data-pg-answer]").first).to_have_attribute(
        "data-outcome", FINISHED, timeout=ANSWER_TIMEOUT_MS
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.locator("#playground").screenshot(path=str(ARTIFACTS / "bots-playground-phone.png"))
