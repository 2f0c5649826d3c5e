"""Whether a bot's model can answer, said where models are chosen (builder, bots list, Models page), the
one-click fix that brings the tenant back (``next``, same-site paths only), and publishing a bot that
cannot write answers only after confirming it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from lxml import html as lxml_html

from bots.models import Bot
from tests.bots.factories import make_bot
from tests.bots.helpers import reload
from tests.clients import text_of
from tests.providers.factories import enable_models, use_openai
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db

MODELS = ("local:no-llm", "local:all-MiniLM-L6-v2", "openai:gpt-4o-mini")


def page(response: Any) -> Any:
    assert response.status_code == 200, response.status_code
    return lxml_html.fromstring(response.content.decode())


def text(element: Any) -> str:
    return " ".join(element.text_content().split())


def problems(tree: Any) -> list[Any]:
    return tree.xpath(".//*[@data-model-problem]")


def builder_post(bot: Bot, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": bot.name,
        "avatar": bot.avatar,
        "greeting": bot.greeting,
        "answer_policy": bot.answer_policy,
        "handoff_message": bot.handoff_message,
        "chat_model": bot.chat_model,
        "temperature": bot.temperature,
        "max_output_tokens": bot.max_output_tokens,
        "retrieval_top_k": bot.retrieval_top_k,
        "retrieval_score_threshold": bot.retrieval_score_threshold,
        "retrieval_mode": bot.retrieval_mode,
        "status": bot.status,
        "daily_budget_usd": str(bot.daily_budget_usd),
        "show_citations": "on",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


# --- the builder --------------------------------------------------------------------------------------


def test_the_builder_says_an_unconnected_model_cannot_answer_with_the_fix_that_comes_back(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *MODELS)  # offered, but no OpenAI key
    bot = make_bot(world, "Helper", chat_model="openai:gpt-4o-mini")

    tree = page(owner_client.get(f"/app/bots/{bot.pk}/"))

    [problem] = problems(tree)
    assert text(problem).startswith("GPT-4o mini cannot answer yet: no OpenAI key is connected.")
    [fix] = problem.xpath(".//a[@data-model-fix]")
    assert text(fix) == "Add your OpenAI key"
    assert fix.get("href") == f"/app/models/?add=openai&next=/app/bots/{bot.pk}/%23model#providers"
    # Every model of the picker carries its own problem, for bots.js to show as soon as it is picked.
    [radio] = tree.xpath("//input[@name='chat_model'][@value='openai:gpt-4o-mini']")
    assert radio.get("data-problem") == text(problem.xpath(".//*[@data-model-problem-text]")[0])
    assert radio.get("data-fix-href") == fix.get("href")
    [no_llm] = tree.xpath("//input[@name='chat_model'][@value='local:no-llm']")
    assert "never writes an answer" in no_llm.get("data-problem")
    assert "No key connected" in text(radio.getparent())
    assert "Cannot answer yet" in text(tree.xpath("//*[contains(@class, 'gw-answer-state')]")[0])


def test_the_builder_says_what_the_built_in_models_do_and_turns_off_what_does_not_apply(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Helper")
    assert bot.chat_model == "local:no-llm"

    response = owner_client.get(f"/app/bots/{bot.pk}/")
    tree = page(response)

    [problem] = problems(tree)
    assert "No language model: it never writes an answer" in text(problem)
    for name in ("temperature", "max_output_tokens"):
        [field] = tree.xpath(f"//input[@name='{name}']")
        assert field.get("disabled") is not None
        assert "writing-settings-off" in field.get("aria-describedby")
    [reason] = tree.xpath("//*[@id='writing-settings-off']")
    assert reason.get("hidden") is None and "writes nothing" in text(reason)
    words = text(tree.xpath("//*[contains(@class, 'gw-builtin-models')]")[0])
    assert "never writes an answer" in words and "cannot chat" in words
    [option] = tree.xpath("//input[@value='local:no-llm']/ancestor::label[1]")
    assert "context" not in text(option) and "Quotes passages, writes nothing" in text(option)
    assert "1M context" not in text_of(response)


def test_saving_a_no_llm_bot_keeps_its_writing_settings_whatever_is_posted(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Helper")
    response = owner_client.post(
        f"/app/bots/{bot.pk}/settings/", builder_post(bot, name="Concierge", temperature="1.5")
    )
    assert response.status_code == 302
    saved = reload(world, bot)
    assert (saved.name, saved.temperature) == ("Concierge", bot.temperature)


def test_a_connected_model_shows_no_problem(world: World, owner_client: Client) -> None:
    use_openai(world, *MODELS)
    bot = make_bot(world, "Helper", chat_model="openai:gpt-4o-mini")
    tree = page(owner_client.get(f"/app/bots/{bot.pk}/"))
    assert problems(tree) == []
    [field] = tree.xpath("//input[@name='temperature']")
    assert field.get("disabled") is None


# --- the bots list ------------------------------------------------------------------------------------


def test_bot_cards_say_which_bots_cannot_answer_and_link_to_the_fix(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *MODELS)
    unconnected = make_bot(world, "Sales", chat_model="openai:gpt-4o-mini")
    make_bot(world, "Helper")

    tree = page(owner_client.get("/app/bots/"))

    cards = {
        text(card.xpath(".//h2")[0]): card
        for card in tree.xpath("//article[contains(@class, 'gw-bot-card')]")
    }
    [sales_problem] = problems(cards["Sales"])
    assert "no OpenAI key is connected" in text(sales_problem)
    [fix] = sales_problem.xpath(".//a[@data-model-fix]")
    assert fix.get("href") == "/app/models/?add=openai&next=/app/bots/#providers"
    [helper_problem] = problems(cards["Helper"])
    assert "never writes an answer" in text(helper_problem)
    assert cards["Sales"].xpath(".//h2/a/@href") == [f"/app/bots/{unconnected.pk}/"]


# --- the Models page ------------------------------------------------------------------------------------


def test_the_models_page_flags_enabled_and_default_models_without_a_key(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *MODELS)
    tree = page(owner_client.get("/app/models/"))

    rows = {
        row.xpath(".//code[contains(@class, 'gw-model-ref')]")[0].text: row
        for row in tree.xpath("//table[contains(@class, 'gw-table-catalog')]/tbody/tr")
    }
    [problem] = problems(rows["openai:gpt-4o-mini"])
    assert "no OpenAI key is connected" in text(problem)
    assert problem.xpath(".//a[@data-model-fix]/@href") == [
        "/app/models/?add=openai&next=/app/models/%23catalog#providers"
    ]
    assert problems(rows["local:no-llm"]) == []  # connected: it needs no key
    assert problems(rows["openai:gpt-4.1-mini"]) == []  # not enabled: nothing is chosen yet
    # Ticking it shows the same (models.js), from the tick box's own data.
    [box] = rows["openai:gpt-4.1-mini"].xpath(".//input[@name='enabled_models']")
    assert "no OpenAI key is connected" in box.get("data-problem")
    # The default chat model's options carry theirs, shown as soon as one is chosen.
    [option] = tree.xpath("//select[@name='default_chat_model']/option[@value='openai:gpt-4o-mini']")
    assert option.get("data-fix-label") == "Add your OpenAI key"


def test_add_opens_the_providers_form_for_that_provider_and_keeps_next(
    world: World, owner_client: Client
) -> None:
    tree = page(owner_client.get("/app/models/?add=anthropic&next=/app/bots/"))
    [details] = tree.xpath("//section[@id='providers']//details[contains(@class, 'gw-add')]")
    assert details.get("open") is not None
    assert details.xpath(".//select[@name='provider']/option[@selected]/@value") == ["anthropic"]
    assert tree.xpath("//section[@id='providers']//input[@name='next']/@value") == ["/app/bots/"]
    assert tree.xpath("//nav[@data-tabs]/@data-tab-default") == ["providers"]


@pytest.mark.parametrize(
    "unsafe", ["https://evil.example/", "//evil.example/app/", "/\\evil.example/", "javascript:alert(1)"]
)
def test_an_off_site_next_is_never_followed_nor_kept(world: World, owner_client: Client, unsafe: str) -> None:
    tree = page(owner_client.get("/app/models/", {"add": "openai", "next": unsafe}))
    assert tree.xpath("//input[@name='next']") == []
    response = owner_client.post(
        "/app/models/providers/", {"provider": "openai", "api_key": "sk-test-1234567890", "next": unsafe}
    )
    assert response.status_code == 302 and response["Location"] == "/app/models/#providers"


def test_saving_a_key_returns_to_the_bot(world: World, owner_client: Client) -> None:
    enable_models(world, *MODELS)
    bot = make_bot(world, "Helper", chat_model="openai:gpt-4o-mini")
    back = f"/app/bots/{bot.pk}/#model"

    response = owner_client.post(
        "/app/models/providers/", {"provider": "openai", "api_key": "sk-test-1234567890", "next": back}
    )

    assert response.status_code == 302 and response["Location"] == back
    landed = owner_client.get(back)
    assert "Added OpenAI." in text_of(landed)
    assert problems(page(landed)) == []  # connected now: nothing left to fix


# --- publishing -------------------------------------------------------------------------------------


def test_publishing_a_bot_without_a_language_model_asks_first_and_says_what_visitors_get(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Helper")
    url = f"/app/bots/{bot.pk}/settings/"

    asked = owner_client.post(url, builder_post(bot, status="published", name="Concierge"))

    tree = page(asked)
    [confirm] = tree.xpath("//*[@data-publish-confirm]")
    assert "never writes an answer" in text(confirm)
    # What visitors get instead, said once (by the problem) and tied to the website.
    assert "visitors get the most relevant passages with their sources" in text(confirm)
    assert text(confirm).count("most relevant passages") == 1
    assert "what visitors of your website will see" in text(confirm)
    [button] = confirm.xpath(".//button[normalize-space()='Publish anyway']")
    assert button.get("type") == "submit" and button.get("name") == "publish_anyway"
    # The posted settings come back, and nothing is saved yet.
    assert tree.xpath("//input[@name='name']/@value") == ["Concierge"]
    assert (reload(world, bot).status, reload(world, bot).name) == ("draft", "Helper")

    published = owner_client.post(
        url, builder_post(bot, status="published", name="Concierge", publish_anyway="1")
    )
    assert published.status_code == 302
    assert (reload(world, bot).status, reload(world, bot).name) == ("published", "Concierge")


def test_the_other_answer_saves_the_settings_as_a_draft(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Helper")
    response = owner_client.post(
        f"/app/bots/{bot.pk}/settings/",
        builder_post(bot, status="published", name="Concierge", save_as_draft="1"),
    )
    assert response.status_code == 302
    assert (reload(world, bot).status, reload(world, bot).name) == ("draft", "Concierge")


def test_publishing_on_an_unconnected_model_asks_first_and_links_the_fix(
    world: World, owner_client: Client
) -> None:
    enable_models(world, *MODELS)
    bot = make_bot(world, "Helper", chat_model="openai:gpt-4o-mini")
    tree = page(owner_client.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, status="published")))
    [confirm] = tree.xpath("//*[@data-publish-confirm]")
    assert "no OpenAI key is connected" in text(confirm)
    assert "can't answer right now" in text(confirm)
    assert confirm.xpath(".//a[normalize-space()='Add your OpenAI key']/@href") == [
        f"/app/models/?add=openai&next=/app/bots/{bot.pk}/#providers"
    ]
    assert reload(world, bot).status == "draft"


def test_publishing_a_bot_that_can_answer_needs_no_confirmation(world: World, owner_client: Client) -> None:
    use_openai(world, *MODELS)
    bot = make_bot(world, "Helper", chat_model="openai:gpt-4o-mini")
    response = owner_client.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, status="published"))
    assert response.status_code == 302
    assert reload(world, bot).status == "published"


def test_saving_other_settings_of_a_published_bot_asks_nothing_again(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Helper")
    owner_client.post(
        f"/app/bots/{bot.pk}/settings/", builder_post(bot, status="published", publish_anyway="1")
    )
    bot = reload(world, bot)
    assert bot.status == "published"
    response = owner_client.post(f"/app/bots/{bot.pk}/settings/", builder_post(bot, name="Concierge"))
    assert response.status_code == 302 and reload(world, bot).name == "Concierge"
