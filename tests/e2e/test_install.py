"""A bot's Install page in a real browser, on the real server: from the builder to the snippet (copied to
the clipboard), the allowed websites, the appearance restyling the real widget in the live preview as
it changes (read from the widget's open shadow root), saved and still there after a reload; a secret for
identity verification shown once; and the test page, where the widget waits in its corner as visitors
meet it, answering even while the bot is a draft.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.pages import screenshot, sign_up
from tests.e2e.widget_site import WidgetSite
from tests.processes import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDGET_TIMEOUT_MS = 15_000
INDIGO = "rgb(79, 70, 229)"  # a new bot's colour, #4f46e5
ROSE = "rgb(225, 29, 72)"  # the Rose preset, #e11d48
TEAL = "rgb(13, 148, 136)"  # #0d9488
HEADSET = "M4 15v-3a8 8 0 0 1 16 0v3"  # the beginning of the loader's headset icon

# The real widget's launcher, read through its open shadow root.
LAUNCHER = """(scope) => {
    const host = (scope || document).querySelector("groundwork-chat");
    const launcher = host && host.shadowRoot && host.shadowRoot.querySelector(".gw-launcher");
    if (!launcher) return null;
    const style = getComputedStyle(launcher);
    const box = launcher.getBoundingClientRect();
    const path = launcher.querySelector("svg path");
    return {
        background: style.backgroundColor,
        opacity: style.opacity,
        label: launcher.getAttribute("aria-label"),
        icon: path ? path.getAttribute("d") : "",
        left: box.left,
        right: box.right,
        inStage: Boolean(host.closest("[data-preview-stage]")),
    };
}"""


def launcher(page: Page) -> dict[str, Any]:
    found = page.evaluate(LAUNCHER)
    assert found is not None, "the widget's launcher is not on the page"
    return dict(found)


def wait_for_launcher(page: Page, condition: str = "true", **expected: str | bool) -> None:
    """Until the launcher shows (its look is loaded) with the ``expected`` properties and ``condition``
    (JavaScript about ``found``) holds."""
    checks = "".join(f" && found.{name} === {json.dumps(value)}" for name, value in expected.items())
    page.wait_for_function(
        f"""() => {{
            const found = ({LAUNCHER})(document);
            return Boolean(found && found.opacity === "1"{checks} && ({condition}));
        }}""",
        timeout=WIDGET_TIMEOUT_MS,
    )


def origin_inputs(page: Page) -> Locator:
    return page.locator("#websites input[name=allowed_origins]")


def test_install_the_widget_with_a_live_preview(page: Page, server_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    sign_up(page, server_url, "Northwind Support")
    page.get_by_role("link", name="Bots", exact=True).first.click()
    page.get_by_role("link", name="Create your first bot").click()
    page.get_by_label("Name").fill("Concierge")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Concierge", level=1)).to_be_visible()

    # The builder's Publishing section leads to the Install page.
    publishing = page.locator("#publishing")
    expect(publishing).to_contain_text("No website allowed yet")
    publishing.scroll_into_view_if_needed()
    publishing.screenshot(path=str(ARTIFACTS / "widget-builder-publishing.png"))
    publishing.get_by_role("link", name="Install on your website").click()
    expect(page.get_by_role("heading", name="Put Concierge on your website", level=1)).to_be_visible()
    expect(page.locator("#snippet")).to_contain_text("Concierge is a draft")

    # The real widget, moved into the preview's mock browser window, in the bot's saved colour.
    wait_for_launcher(page, inStage=True, background=INDIGO)
    stage = page.locator("[data-preview-stage]").bounding_box()
    assert stage is not None
    at_rest = launcher(page)
    assert stage["x"] < float(at_rest["left"]) and float(at_rest["right"]) <= stage["x"] + stage["width"]
    assert at_rest["label"] == "Open chat: Concierge"

    # The snippet, copied.
    snippet = page.locator("#widget-snippet").inner_text().strip()
    assert re.fullmatch(
        rf'<script src="{re.escape(server_url)}/widget\.js" data-bot="gw_pk_[\w-]+" async></script>', snippet
    )
    page.locator("#snippet").get_by_role("button", name="Copy").first.click()
    expect(page.locator("#snippet .gw-code-copy")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet

    # Where it answers: a website typed without its scheme gets https://, another row is added.
    origin_inputs(page).first.fill("shop.example.com/help")
    origin_inputs(page).first.press("Tab")
    expect(origin_inputs(page).first).to_have_value("https://shop.example.com")
    page.get_by_role("button", name="Add a website").click()
    origin_inputs(page).nth(1).fill("https://help.example.com/")
    origin_inputs(page).nth(1).press("Enter")  # Enter starts the next row rather than saving
    expect(origin_inputs(page)).to_have_count(3)
    expect(origin_inputs(page).nth(1)).to_have_value("https://help.example.com")
    expect(page.locator("[data-savebar]")).to_contain_text("Unsaved changes")

    # The look: every change restyles the real widget at once, before anything is saved.
    appearance = page.locator("#appearance")
    appearance.get_by_role("button", name="Rose").click()
    expect(page.get_by_label("Colour", exact=True)).to_have_value("#e11d48")
    wait_for_launcher(page, background=ROSE)
    page.get_by_label("Colour", exact=True).fill("#0d9488")
    wait_for_launcher(page, background=TEAL)
    expect(page.locator("[data-color-picker]")).to_have_value("#0d9488")
    page.get_by_label("Title", exact=True).fill("Ask Northwind")
    wait_for_launcher(page, label="Open chat: Ask Northwind")
    appearance.get_by_text("Bottom left").click()
    appearance.get_by_text("Headset").click()
    wait_for_launcher(page, f"found.icon.startsWith({json.dumps(HEADSET)})")
    moved = launcher(page)
    assert float(moved["left"]) < stage["x"] + stage["width"] / 2, "the launcher did not move to the left"

    # The panel opens inside the preview too; a draft answers here through the preview token.
    page.evaluate("window.Groundwork.open()")
    panel = page.locator("[data-preview-stage] .gw-panel")
    expect(panel).to_be_visible(timeout=WIDGET_TIMEOUT_MS)
    expect(panel).to_contain_text("Ask Northwind")
    panel_box = panel.bounding_box()
    stage = page.locator("[data-preview-stage]").bounding_box()  # sticky: where it is now
    assert panel_box is not None and stage is not None
    assert (
        stage["y"] <= panel_box["y"] and panel_box["y"] + panel_box["height"] <= stage["y"] + stage["height"]
    ), "the panel overflows the preview"
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#preview").screenshot(path=str(ARTIFACTS / "widget-install-preview.png"))
    page.evaluate("window.Groundwork.close()")

    # Saved, and still there after a reload; the widget now loads the saved look.
    page.get_by_role("button", name="Save changes").click()
    expect(
        page.get_by_text("Saved. Pages with the snippet use the new settings on their next load.")
    ).to_be_visible()
    page.reload()
    expect(origin_inputs(page)).to_have_count(2)
    expect(origin_inputs(page).nth(0)).to_have_value("https://shop.example.com")
    expect(origin_inputs(page).nth(1)).to_have_value("https://help.example.com")
    expect(page.get_by_label("Colour", exact=True)).to_have_value("#0d9488")
    expect(page.get_by_label("Title", exact=True)).to_have_value("Ask Northwind")
    expect(appearance.get_by_role("radio", name="Bottom left")).to_be_checked()
    expect(appearance.get_by_role("radio", name="Headset")).to_be_checked()
    expect(page.locator(".gw-page-subtitle")).to_contain_text("2 allowed websites")
    wait_for_launcher(page, background=TEAL, label="Open chat: Ask Northwind")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "widget-install")

    # A wrong website is marked on its row as soon as it is left, and a save refused: the reason at the
    # top of the form and at the field, nothing saved.
    origin_inputs(page).nth(1).fill("help")
    origin_inputs(page).nth(1).press("Tab")
    expect(origin_inputs(page).nth(1)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[data-origin-live-error]")).to_contain_text("“help” is not a website address.")
    page.get_by_role("button", name="Save changes").click()
    summary = page.locator("[data-form-errors]")
    expect(summary).to_contain_text("Nothing was saved: check the fields marked below.")
    expect(summary).to_contain_text("Allowed websites: “help” is not a website address.")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(origin_inputs(page).nth(1)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#websites .gw-field-error").first).to_contain_text("“help” is not a website address")
    # (The window's view: a full-page capture would draw the sticky save bar where the window ended.)
    page.screenshot(path=str(ARTIFACTS / "widget-install-error.png"))

    # Identity verification: the secret once, then never again.
    page.goto(page.url.split("#")[0])
    page.get_by_role("button", name="Generate secret").click()
    secret = page.locator("#identity-secret").inner_text().strip()
    assert secret.startswith("gw_ivs_")
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    page.reload()  # the history entry was replaced: a reload asks with GET, making no new secret
    expect(page.locator("#identity")).to_contain_text("On")
    assert secret not in page.content()

    # At phone width the preview follows the settings, the widget still inside it.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    wait_for_launcher(page, inStage=True, background=TEAL)
    page.locator("#preview").scroll_into_view_if_needed()
    page.locator("#preview").screenshot(path=str(ARTIFACTS / "widget-install-phone-preview.png"))
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "widget-install-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    # The test page: the real widget in its corner, as visitors meet it, answering while a draft. A
    # visitor's browser has no copy of the bot's look from before the save (the public config may be
    # cached for a minute), so it is opened as one: a new browser context, signed in as the tenant.
    link = page.get_by_role("link", name="Open test page")
    expect(link).to_have_attribute("target", "_blank")
    browser = page.context.browser
    assert browser is not None
    visitor = browser.new_context(
        storage_state=page.context.storage_state(), viewport={"width": 1280, "height": 860}
    )
    try:
        test_page = visitor.new_page()
        errors: list[str] = []
        test_page.on("pageerror", lambda error: errors.append(str(error)))
        test_page.goto(server_url + str(link.get_attribute("href")))
        expect(test_page.get_by_role("heading", name="Try Concierge as your visitors will")).to_be_visible()
        wait_for_launcher(test_page, background=TEAL, inStage=False, label="Open chat: Ask Northwind")
        corner = launcher(test_page)
        assert float(corner["left"]) < 100, "the launcher is not in the bottom left corner"
        screenshot(test_page, "widget-test-page")
        test_page.locator("groundwork-chat .gw-launcher").click()
        expect(test_page.locator(".gw-panel")).to_be_visible(timeout=WIDGET_TIMEOUT_MS)
        expect(test_page.locator(".gw-panel")).to_contain_text("Ask Northwind")
        screenshot(test_page, "widget-test-page-open")
        assert errors == []
    finally:
        visitor.close()


def test_the_snippet_pasted_on_another_website_is_detected(page: Page, server_url: str) -> None:
    """The snippet exactly as the Install page shows it, pasted into a page on another origin: the widget
    loads there, and the Install page (left open) turns to "Installation detected" by itself."""
    site = WidgetSite().start()
    try:
        sign_up(page, server_url, "Northwind Outfitters")
        page.get_by_role("link", name="Bots", exact=True).first.click()
        page.get_by_role("link", name="Create your first bot").click()
        page.get_by_label("Name").fill("Concierge")
        page.get_by_role("button", name="Create bot").click()
        page.locator("#publishing").get_by_role("link", name="Install on your website").click()

        status = page.locator("[data-installation-status]")
        expect(status).to_have_attribute("data-detected", "false")
        expect(status).to_contain_text("Not detected yet — paste the snippet on a website you allow below")

        # The shop's address as someone copies it from the address bar, path and all.
        origin_inputs(page).first.fill(site.origin.removeprefix("http://") + "/shop/boots?size=42")
        origin_inputs(page).first.press("Tab")
        expect(origin_inputs(page).first).to_have_value(site.origin)
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        page.locator("#snippet").get_by_role("button", name="Publish").click()
        expect(page.locator("#snippet")).to_contain_text("Live: Concierge answers visitors on 1 website.")
        expect(status).to_contain_text(
            f"Not detected yet — paste the snippet on {site.origin} and open the page."
        )

        snippet = page.locator("#widget-snippet").inner_text().strip()
        assert snippet.startswith(f'<script src="{server_url}/widget.js"') and snippet.endswith(
            " async></script>"
        )
        site.page(
            "/",
            (
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>Northwind</title></head>"
                f"<body><h1>Built for the trail.</h1>{snippet}</body></html>"
            ).encode(),
        )
        # Pasted into the <head> too (it may run before the body exists), and as older snippets said it.
        for path, pasted in (("/head", snippet), ("/head-defer", snippet.replace(" async>", " defer>"))):
            site.page(
                path,
                (
                    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Help</title>"
                    f"{pasted}</head>"
                    "<body><h1>Help centre</h1></body></html>"
                ).encode(),
            )
        visitor = page.context.browser.new_context()  # type: ignore[union-attr]
        try:
            shop = visitor.new_page()
            for path in ("/", "/head", "/head-defer"):
                shop.goto(site.origin + path)
                expect(shop.locator("groundwork-chat .gw-launcher")).to_be_visible(timeout=WIDGET_TIMEOUT_MS)
        finally:
            visitor.close()

        # The Install page, never reloaded, asks again by itself (every 10 s while not detected).
        expect(status).to_have_attribute("data-detected", "true", timeout=25_000)
        expect(status).to_contain_text("Installation detected")
        expect(status).to_contain_text(f"on {site.origin}")
        expect(status).to_contain_text(re.compile(r"(now|seconds? ago)"))
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "widget-install-detected")
        page.locator("#snippet").screenshot(path=str(ARTIFACTS / "widget-install-detected-snippet.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(status).to_have_attribute("data-detected", "true")
        page.locator("#snippet").screenshot(path=str(ARTIFACTS / "widget-install-detected-snippet-phone.png"))
        snippet_box = page.locator("#widget-snippet").bounding_box()
        block_box = page.locator("#snippet .gw-code-block").bounding_box()
        assert snippet_box is not None and block_box is not None
        assert snippet_box["x"] + snippet_box["width"] <= block_box["x"] + block_box["width"] + 1, (
            "the snippet overflows its block on a phone"
        )
        assert page.locator("#widget-snippet").inner_text().replace("\n", " ").strip() == snippet
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "widget-install-detected-phone")
    finally:
        site.stop()
