"""Knowledge bases in a real browser, served by the real server, ingested by a real Celery worker:
create a knowledge base, drop two files on it and watch them become ready without reloading, paste
text, add questions and answers, test search (and compare the modes), read a document's passages,
delete a document; then the same pages at phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.pages import shot, sign_up
from tests.processes import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The first document also waits for the worker to load the built-in embedding model.
INGEST_TIMEOUT_MS = 120_000
SEARCH_TIMEOUT_MS = 60_000

RETURNS_MD = """# Returns and refunds

You can return any unused item within 30 days of delivery. Start a return from your account page.

## Refunds

Refunds go back to the card you paid with, within 5 working days of the item reaching our warehouse.

## Damaged items

If an item arrives damaged, photograph it and write to support: we send a courier at no cost.
"""

PRICES_CSV = """sku,product,price_eur,warranty_years
KT-100,Electric kettle,39,2
TS-200,Two-slice toaster,49,2
BL-300,Countertop blender,89,3
"""


def drop_files(page: Page, selector: str, files: list[tuple[str, str, str]]) -> None:
    """Drag files over the drop zone and drop them, as a person dragging from their desktop does."""
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, type, text] of files) transfer.items.add(new File([text], name, { type }));
            return transfer;
        }""",
        files,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    expect(page.locator(selector)).to_have_class(re.compile(r"\bis-dragging\b"))
    page.locator("#add-sources").screenshot(path=str(ARTIFACTS / "knowledge-dragging.png"))
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def row(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("#document-rows tr").filter(has=page.get_by_role("link", name=title, exact=True))


def test_build_a_knowledge_base_and_search_it(page: Page, server_url: str, celery_worker: str) -> None:
    sign_up(page, server_url, "Northwind Support")

    # The list starts empty, with one clear thing to do.
    page.get_by_role("link", name="Knowledge").first.click()
    expect(page.get_by_role("heading", name="No knowledge bases yet")).to_be_visible()
    shot(page, "knowledge-empty")
    page.get_by_role("link", name="Create your first knowledge base").click()

    page.get_by_label("Name").fill("Help centre")
    page.get_by_label("Description").fill("Returns, refunds, shipping and the product range.")
    expect(page.get_by_label("Embedding model")).to_have_value("local:all-MiniLM-L6-v2")
    page.get_by_text("Advanced: passages and retrieval").click()
    expect(page.get_by_label("Passage size (tokens)")).to_have_value("400")
    shot(page, "knowledge-new")
    page.get_by_role("button", name="Create knowledge base").click()
    expect(page.get_by_role("heading", name="Help centre", level=1)).to_be_visible()
    expect(page.get_by_text("No documents yet")).to_be_visible()

    # Two files dropped at once: each uploads with its own bar, then its row appears and polls itself.
    page.evaluate("window.__sameDocument = true")
    drop_files(
        page,
        "[data-dropzone]",
        [("returns.md", "text/markdown", RETURNS_MD), ("prices.csv", "text/csv", PRICES_CSV)],
    )
    uploads = page.locator("[data-upload-list] li")
    expect(uploads).to_have_count(2)
    expect(row(page, "returns")).to_have_count(1)
    expect(row(page, "prices")).to_have_count(1)
    expect(page.get_by_text("No documents yet")).to_be_hidden()
    shot(page, "knowledge-uploading")
    try:  # the first document waits while the worker loads its model: long enough to show its stages
        page.locator("#document-rows tr[data-document-status=processing]").first.wait_for(timeout=30_000)
        page.locator("#documents").screenshot(path=str(ARTIFACTS / "knowledge-processing.png"))
    except PlaywrightTimeoutError:
        pass  # both finished between two polls: nothing in between to look at
    for title in ("returns", "prices"):
        expect(row(page, title)).to_have_attribute("data-document-status", "ready", timeout=INGEST_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded while documents were processed"
    expect(row(page, "returns").get_by_text("Ready")).to_be_visible()
    expect(page.locator("#kb-stats")).to_contain_text("2 ready")
    shot(page, "knowledge-ready")

    # Pasted text.
    page.get_by_role("tab", name="Paste text").click()
    page.get_by_label("Title").filter(visible=True).fill("Shipping")
    page.get_by_label("Text", exact=True).fill(
        "# Shipping\n\nWe ship to every country in the EU. Orders placed before 2 pm leave the same day."
    )
    page.get_by_role("button", name="Add text").click()
    expect(page.get_by_text("Added “Shipping”. It is being processed now.")).to_be_visible()
    expect(row(page, "Shipping")).to_have_attribute(
        "data-document-status", "ready", timeout=INGEST_TIMEOUT_MS
    )

    # Questions and answers: add a second pair, remove a third, save.
    page.get_by_role("tab", name="Q&A pairs").click()
    page.get_by_label("Question 1").fill("Do you offer gift wrapping?")
    page.get_by_label("Answer 1").fill("Yes, for 3 euros per parcel; choose it at checkout.")
    page.get_by_role("button", name="Add a pair").click()
    page.get_by_label("Question 2").fill("Can I change my delivery address?")
    page.get_by_label("Answer 2").fill("Until the parcel ships, from the order page.")
    page.get_by_role("button", name="Add a pair").click()
    expect(page.get_by_label("Question 3")).to_be_visible()
    page.locator("#source-qa").screenshot(path=str(ARTIFACTS / "knowledge-qa.png"))
    page.get_by_role("button", name="Remove pair 3").click()
    expect(page.get_by_label("Question 3")).to_have_count(0)
    page.get_by_role("button", name="Save Q&A").click()
    expect(row(page, "2 questions and answers")).to_have_attribute(
        "data-document-status", "ready", timeout=INGEST_TIMEOUT_MS
    )

    # A web page that cannot be fetched fails with a reason the row shows, and offers a re-sync.
    page.get_by_role("tab", name="Web page").click()
    page.get_by_label("Page address").fill("https://docs.example.invalid/returns")
    page.get_by_role("button", name="Add page").click()
    unreachable = row(page, "docs.example.invalid/returns")
    expect(unreachable).to_have_attribute("data-document-status", "failed", timeout=INGEST_TIMEOUT_MS)
    expect(unreachable).to_contain_text("docs.example.invalid could not be resolved")
    expect(unreachable.get_by_role("button", name=re.compile(r"^Re-sync"))).to_be_enabled()
    page.locator("#documents").screenshot(path=str(ARTIFACTS / "knowledge-failed.png"))
    unreachable.get_by_role("link", name="docs.example.invalid/returns").click()
    expect(page.locator("#document-status")).to_contain_text("Why it failed: The host docs.example.invalid")
    expect(page.locator("#document-status")).to_contain_text("Stopped here")
    shot(page, "knowledge-document-failed")
    page.go_back()

    # Test search: the passage, its score, its document and source.
    search = page.locator("#test-search")
    search.get_by_label("Question").fill("How many days do I have to send something back?")
    search.get_by_label("Search mode").select_option("hybrid")
    search.get_by_role("button", name="Search").click()
    first = search.locator(".gw-result").first
    # The web process loads the built-in embedding model for its first question.
    expect(first).to_contain_text("within 30 days of delivery", timeout=SEARCH_TIMEOUT_MS)
    expect(first.locator(".gw-result-source")).to_contain_text("returns.md")
    expect(search.locator(".gw-result-source").filter(has_text="Pasted text")).to_have_count(1)
    # A rank and a relevance bar with its words, not the fused reciprocal-rank number.
    expect(first.locator("[data-result-rank]")).to_have_text("Rank #1")
    expect(first.locator(".gw-relevance")).to_have_text(re.compile(r"Relevance:\s*best match"))
    expect(first.locator(".gw-relevance progress")).to_have_attribute("value", "100")
    expect(search.locator(".gw-result").nth(1).locator(".gw-relevance")).to_contain_text("of the best match")
    search.scroll_into_view_if_needed()
    search.screenshot(path=str(ARTIFACTS / "knowledge-search.png"))

    search.get_by_label("Compare all three modes side by side").check()
    expect(search.get_by_label("Search mode")).to_be_disabled()
    search.get_by_label("Question").fill("gift wrapping price")
    search.get_by_role("button", name="Search").click()
    expect(search.locator(".gw-results-column")).to_have_count(3)
    for label in ("Vector (meaning)", "Full text (words)", "Hybrid (both, fused)"):
        expect(search.get_by_role("region", name=f"{label} results")).to_be_visible()
    expect(search.locator(".gw-results-column").nth(1)).to_contain_text("3 euros per parcel")
    search.screenshot(path=str(ARTIFACTS / "knowledge-search-compare.png"))

    # A document's page: status by stage, and its passages.
    row(page, "returns").get_by_role("link", name="returns").click()
    expect(page.get_by_role("heading", name="returns", level=1)).to_be_visible()
    expect(page.locator("#document-status")).to_contain_text("Ready since")
    passages = page.locator(".gw-chunk")
    expect(passages.first).to_contain_text("#1")
    expect(page.locator("#chunks")).to_contain_text("Returns and refunds > Damaged items")
    shot(page, "knowledge-document")

    # Delete a document, through the confirmation dialog.
    page.get_by_role("link", name="Help centre").first.click()
    row(page, "prices").get_by_role("button", name="Delete prices").click()
    dialog = page.locator("#delete-document-modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete “prices”?")
    dialog.screenshot(path=str(ARTIFACTS / "knowledge-delete-dialog.png"))
    dialog.get_by_role("button", name="Delete document").click()
    expect(page.get_by_text("Deleted “prices”; search no longer finds it.")).to_be_visible()
    expect(row(page, "prices")).to_have_count(0)
    expect(page.locator("#document-rows tr")).to_have_count(4)
    shot(page, "knowledge-detail")

    page.get_by_role("link", name="Knowledge", exact=True).first.click()
    expect(page.locator(".gw-kb-card")).to_contain_text("3 ready")
    expect(page.locator(".gw-kb-card")).to_contain_text("1 failed")
    shot(page, "knowledge-list")

    # At phone width nothing scrolls the page sideways.
    detail_url = page.locator(".gw-kb-card").first.get_attribute("href")
    page.set_viewport_size({"width": 375, "height": 812})
    for path, name in (
        ("/app/knowledge/", "knowledge-list-phone"),
        (detail_url, "knowledge-detail-phone"),
    ):
        page.goto(server_url + str(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
        shot(page, name)
    row(page, "returns").get_by_role("link", name="returns").click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the document page scrolls sideways at phone width ({width}px)"
    shot(page, "knowledge-document-phone")
