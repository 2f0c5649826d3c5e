"""The builder and the Models page in a real browser (issue 14): a bot without a key says plainly what it
can and cannot do; choosing a model whose provider is not connected shows the problem at once, before
saving; publishing it asks first; "Add your OpenAI key" opens the Models page's providers tab with the
form ready, and saving the key comes back to the bot. The section nav and the tabs work with the keyboard.
Screenshots of the builder and the Models page at desktop and phone sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.pages import shot, sign_up
from tests.processes import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_warnings_where_the_model_is_chosen_and_the_add_key_round_trip(page: Page, server_url: str) -> None:
    sign_up(page, server_url, "Harbour Support")

    # Offer GPT-4o mini without connecting OpenAI: the Models page says so as soon as it is ticked.
    page.get_by_role("link", name="Models").first.click()
    expect(page.get_by_role("tab", name=re.compile("Catalog"))).to_have_attribute("aria-selected", "true")
    expect(page.locator("#providers")).to_be_hidden()
    page.get_by_label("Enable GPT-4o mini", exact=True).check()
    row = page.locator("#catalog tbody tr").filter(has=page.get_by_label("Enable GPT-4o mini", exact=True))
    expect(row.locator("[data-model-problem]")).to_contain_text("no OpenAI key is connected")
    row.screenshot(path=str(ARTIFACTS / "models-row-unconnected.png"))
    page.get_by_role("button", name="Save model settings").last.click()
    expect(page.get_by_text("Model settings saved.")).to_be_visible()
    # Tabs follow the keyboard: arrows move between them and show their panel.
    page.get_by_role("tab", name="Defaults").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name=re.compile("Providers"))).to_be_focused()
    expect(page.locator("#providers")).to_be_visible()
    expect(page.locator("#model-settings")).to_be_hidden()

    # A new bot starts on the built-in answerer, which writes nothing: the builder says so in words.
    page.get_by_role("link", name="Bots", exact=True).first.click()
    page.get_by_role("link", name="Create your first bot").click()
    page.get_by_label("Name").fill("Deckhand")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Deckhand", level=1)).to_be_visible()
    builder_path = re.sub(r"^https?://[^/]+", "", page.url).split("#")[0]
    model = page.locator("#model")
    expect(page.locator("[data-model-problem]")).to_contain_text(
        "No language model: it never writes an answer"
    )
    expect(model).to_contain_text("never writes an answer")
    expect(page.get_by_label("Temperature")).to_be_disabled()
    expect(page.get_by_label("Longest answer (tokens)")).to_be_disabled()
    expect(page.locator("#writing-settings-off")).to_be_visible()
    expect(page.get_by_label(re.compile("Question for Deckhand"))).to_be_in_viewport()  # the playground's box
    shot(page, "builder-no-llm")
    page.screenshot(path=str(ARTIFACTS / "builder-no-llm-viewport.png"))

    # The section nav: a link per section, kept in reach, marking the section in view.
    nav = page.get_by_role("navigation", name="Sections of the builder")
    nav.get_by_role("link", name="Limits").click()
    expect(page.locator("#limits")).to_be_in_viewport()
    expect(nav).to_be_in_viewport()
    expect(nav.get_by_role("link", name="Limits")).to_have_attribute("aria-current", "true")

    # Choosing GPT-4o mini: the problem and its fix appear at once, before saving; writing settings come on.
    model.get_by_role("radio", name=re.compile("GPT-4o mini")).check()
    problem = page.locator("[data-model-problem]")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("GPT-4o mini cannot answer yet: no OpenAI key is connected.")
    expect(problem.locator("a[data-model-fix]")).to_have_text("Add your OpenAI key")
    expect(page.get_by_label("Temperature")).to_be_enabled()
    expect(page.locator("#writing-settings-off")).to_be_hidden()
    model.scroll_into_view_if_needed()
    model.screenshot(path=str(ARTIFACTS / "builder-model-unconnected.png"))

    # Publishing it asks first, and says what visitors would get.
    page.locator("#publishing").get_by_role("radio", name=re.compile("Published")).check()
    page.get_by_role("button", name="Save changes").click()
    confirm = page.locator("[data-publish-confirm]")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("no OpenAI key is connected")
    expect(confirm).to_contain_text("can't answer right now")
    shot(page, "builder-publish-confirm")
    confirm.get_by_role("button", name="Save as a draft").click()
    expect(page.get_by_text("Saved Deckhand.")).to_be_visible()
    expect(page.locator("[data-model-problem]")).to_contain_text("no OpenAI key is connected")
    # The bots list says it too, on the bot's card, with the same fix.
    page.goto(server_url + "/app/bots/")
    card = page.locator(".gw-bot-card").filter(has_text="Deckhand")
    expect(card.locator("[data-model-problem]")).to_contain_text("no OpenAI key is connected")
    expect(card.locator("a[data-model-fix]")).to_have_attribute(
        "href", re.compile(r"next=/app/bots/#providers$")
    )
    shot(page, "bots-list-unconnected")
    card.get_by_role("link", name="Deckhand").click()
    expect(page.get_by_role("heading", name="Deckhand", level=1)).to_be_visible()

    # One click to the key form, ready for OpenAI; saving the key comes back to the bot.
    page.locator("[data-model-problem] a[data-model-fix]").click()
    expect(page).to_have_url(re.compile(r"/app/models/\?add=openai&next=.+#providers$"))
    expect(page.get_by_role("tab", name=re.compile("Providers"))).to_have_attribute("aria-selected", "true")
    form = page.locator("#providers form").filter(has=page.get_by_role("button", name="Add provider"))
    expect(form.get_by_label("Provider")).to_have_value("openai")
    expect(form.get_by_label("API key")).to_be_focused()  # the one thing to type
    expect(form.get_by_label("API key")).to_be_in_viewport()
    expect(form).to_contain_text("you go back to where you were")
    shot(page, "models-add-key")
    form.get_by_label("API key").fill("sk-harbour-test-key-0000")
    form.get_by_role("button", name="Add provider").click()
    expect(page).to_have_url(re.compile(re.escape(builder_path) + r"#model$"))
    expect(page.get_by_text("Added OpenAI.")).to_be_visible()
    expect(page.locator("[data-model-problem]")).to_have_count(0)

    # Now it can answer: publishing needs no confirmation.
    page.locator("#publishing").get_by_role("radio", name=re.compile("Published")).check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved Deckhand.")).to_be_visible()
    expect(page.locator("[data-publish-confirm]")).to_have_count(0)
    shot(page, "builder-desktop")

    # Phones: the playground comes before the danger zone, and nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    page.goto(server_url + builder_path)
    order = page.evaluate(
        """() => {
            const playground = document.getElementById("playground");
            const danger = document.getElementById("danger-heading");
            return playground.getBoundingClientRect().top < danger.getBoundingClientRect().top;
        }"""
    )
    assert order, "the danger zone comes before the playground on phones"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "builder-phone")
    page.get_by_role("link", name="Try it").click()
    expect(page.get_by_label(re.compile("Question for Deckhand"))).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "builder-phone-playground.png"))
    page.goto(server_url + "/app/models/#providers")
    expect(page.locator("#providers")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "models-phone-providers")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(server_url + "/app/models/")
    shot(page, "models-desktop")
